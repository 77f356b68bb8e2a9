#include "bin_frames.h"

#include <algorithm>
#include <barrier>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace nexus {
namespace {

// Threading scheme (numbers for a 400³ grid, Pilatus 2M frames, 2 cores; see native/README.md).
// A private v+n grid per thread would cost 1 GB each and a merge pass per call; atomic adds on
// doubles (std::atomic_ref<double>::fetch_add is a lock cmpxchg loop on x86) make the sum order
// depend on thread timing. Instead every voxel has exactly one owning thread (interleaved blocks
// of 4096 voxels, so owners balance even when a frame lights up one corner of the grid):
//   fill:  each thread maps a contiguous share of the (frame, pixel) samples of a block and
//          appends the hits to one bucket per owner;
//   drain: each owner adds the buckets addressed to it, taking the sources in order.
// Every voxel therefore receives its samples in exactly the sequential (frame, pixel) order, so
// the result is bit-identical for any thread count and to a plain sequential loop. Buckets are
// double-buffered: in one step a thread drains block b-1 and fills block b, so one barrier per
// block suffices and the scatter overlaps the mapping. Buffers cost 2 × 16 B × samples per block
// (about 128 MB), independent of the grid size.
constexpr std::size_t kSequentialBlockSamples = std::size_t{1} << 20;
constexpr std::size_t kParallelBlockSamples = std::size_t{1} << 22;
constexpr std::size_t kMinSamplesPerThread = std::size_t{1} << 16;
constexpr unsigned kOwnerShift = 12;

struct Sample {
  std::uint32_t voxel;
  std::uint32_t frame;
  double value;
};

// Calls the progress callback with whole frames done, only when that number grows.
class FrameProgress {
 public:
  FrameProgress(std::size_t pixelCount, const std::function<void(std::size_t)>& callback)
      : pixelCount_(pixelCount), callback_(callback) {}

  void samplesDone(std::size_t samples) {
    const std::size_t frames = samples / pixelCount_;
    if (frames > reported_ && callback_) {
      reported_ = frames;
      callback_(frames);
    }
  }

 private:
  std::size_t pixelCount_;
  const std::function<void(std::size_t)>& callback_;
  std::size_t reported_ = 0;
};

template <typename Pixel>
class SampleMapper {
 public:
  explicit SampleMapper(const BinJob& job)
      : job_(job),
        frames_(static_cast<const Pixel*>(job.frames)),
        limit0_(job.dims[0]),
        limit1_(job.dims[1]),
        limit2_(job.dims[2]) {}

  double weight(std::size_t frame) const {
    return job_.weights != nullptr ? job_.weights[frame] : 1.0;
  }

  // Calls sink(voxel, frame, value) for every contributing sample whose position in the flat
  // (frame, pixel) sequence lies in [begin, end), in that order.
  template <typename Sink>
  void map(std::size_t begin, std::size_t end, Sink&& sink) const {
    const std::size_t pixelCount = job_.pixelCount;
    while (begin < end) {
      const std::size_t frame = begin / pixelCount;
      const std::size_t frameStart = frame * pixelCount;
      const std::size_t last = std::min(end - frameStart, pixelCount);
      // CCTW skips frames whose weight is not positive; !(w > 0) also catches NaN.
      if (weight(frame) > 0) mapFrame(frame, begin - frameStart, last, sink);
      begin = frameStart + last;
    }
  }

 private:
  template <typename Sink>
  void mapFrame(std::size_t frame, std::size_t first, std::size_t last, Sink& sink) const {
    const double* m = job_.maps + 12 * frame;
    const double a00 = m[0], a01 = m[1], a02 = m[2];
    const double a10 = m[3], a11 = m[4], a12 = m[5];
    const double a20 = m[6], a21 = m[7], a22 = m[8];
    const double b0 = m[9], b1 = m[10], b2 = m[11];
    const Pixel* pixels = frames_ + frame * job_.pixelCount;
    const std::uint8_t* mask = job_.mask;
    const double* q = job_.q;
    const std::uint32_t n0 = job_.dims[0], n1 = job_.dims[1];
    const auto frameIndex = static_cast<std::uint32_t>(frame);
    for (std::size_t p = first; p < last; ++p) {
      if (mask != nullptr && mask[p] != 0) continue;
      const double value = static_cast<double>(pixels[p]);
      // Negative values are detector gaps (Pilatus writes -1 and -2 there), NaN is "no data".
      if (!(value >= 0)) continue;
      const double qx = q[3 * p], qy = q[3 * p + 1], qz = q[3 * p + 2];
      // Same operation order as the JS reference; -ffp-contract=off keeps it free of FMA.
      const double u0 = a00 * qx + a01 * qy + a02 * qz + b0;
      const double u1 = a10 * qx + a11 * qy + a12 * qz + b1;
      const double u2 = a20 * qx + a21 * qy + a22 * qz + b2;
      // Testing the doubles before the cast drops NaN and far-away values; for u >= 0 the
      // truncating cast is the floor.
      if (!(u0 >= 0 && u0 < limit0_ && u1 >= 0 && u1 < limit1_ && u2 >= 0 && u2 < limit2_)) {
        continue;
      }
      const std::uint32_t voxel = (static_cast<std::uint32_t>(u2) * n1 +
                                   static_cast<std::uint32_t>(u1)) * n0 +
                                  static_cast<std::uint32_t>(u0);
      sink(voxel, frameIndex, value);
    }
  }

  const BinJob& job_;
  const Pixel* frames_;
  double limit0_, limit1_, limit2_;
};

template <typename Pixel>
bool binSequential(const BinJob& job, const std::atomic<bool>& cancelled,
                   FrameProgress& progress) {
  const SampleMapper<Pixel> mapper(job);
  const std::size_t total = job.frameCount * job.pixelCount;
  for (std::size_t begin = 0; begin < total; begin += kSequentialBlockSamples) {
    if (cancelled.load(std::memory_order_relaxed)) return false;
    const std::size_t end = std::min(total, begin + kSequentialBlockSamples);
    mapper.map(begin, end, [&](std::uint32_t voxel, std::uint32_t frame, double value) {
      job.v[voxel] += value;
      job.n[voxel] += mapper.weight(frame);
    });
    progress.samplesDone(end);
  }
  return true;
}

template <typename Pixel>
bool binParallel(const BinJob& job, const std::atomic<bool>& cancelled, FrameProgress& progress) {
  const unsigned threads = job.threads;
  const SampleMapper<Pixel> mapper(job);
  const std::size_t total = job.frameCount * job.pixelCount;
  const std::size_t blockSamples = std::max(kParallelBlockSamples, kMinSamplesPerThread * threads);
  const std::size_t blocks = (total + blockSamples - 1) / blockSamples;

  const std::size_t voxels = std::size_t{job.dims[0]} * job.dims[1] * job.dims[2];
  std::vector<std::uint16_t> owner((voxels >> kOwnerShift) + 1);
  for (std::size_t i = 0; i < owner.size(); ++i) owner[i] = static_cast<std::uint16_t>(i % threads);

  // buckets[parity][source * threads + owner]
  std::vector<std::vector<Sample>> buckets[2] = {
      std::vector<std::vector<Sample>>(std::size_t{threads} * threads),
      std::vector<std::vector<Sample>>(std::size_t{threads} * threads)};

  std::size_t step = 0;  // step s fills block s and drains block s - 1
  bool stop = false;
  bool completed = false;
  std::exception_ptr failure;
  std::mutex failureMutex;

  auto endOfStep = [&]() noexcept {
    if (step >= 1) progress.samplesDone(std::min(total, step * blockSamples));
    ++step;
    completed = step > blocks;
    stop = completed || failure != nullptr || cancelled.load(std::memory_order_relaxed);
  };
  std::barrier sync(static_cast<std::ptrdiff_t>(threads), endOfStep);

  auto work = [&](unsigned self) {
    while (true) {
      try {
        if (step >= 1) {
          for (unsigned source = 0; source < threads; ++source) {
            for (const Sample& s : buckets[(step - 1) & 1][source * threads + self]) {
              job.v[s.voxel] += s.value;
              job.n[s.voxel] += mapper.weight(s.frame);
            }
          }
        }
        if (step < blocks) {
          std::vector<Sample>* mine = &buckets[step & 1][std::size_t{self} * threads];
          for (unsigned o = 0; o < threads; ++o) mine[o].clear();
          const std::size_t blockBegin = step * blockSamples;
          const std::size_t blockLength = std::min(total, blockBegin + blockSamples) - blockBegin;
          const std::size_t share = (blockLength + threads - 1) / threads;
          const std::size_t begin = blockBegin + std::min(blockLength, share * self);
          const std::size_t end = blockBegin + std::min(blockLength, share * (self + 1));
          mapper.map(begin, end, [&](std::uint32_t voxel, std::uint32_t frame, double value) {
            mine[owner[voxel >> kOwnerShift]].push_back({voxel, frame, value});
          });
        }
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failureMutex);
        if (!failure) failure = std::current_exception();
      }
      sync.arrive_and_wait();
      if (stop) return;
    }
  };

  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  try {
    for (unsigned t = 1; t < threads; ++t) helpers.emplace_back(work, t);
  } catch (...) {
    // Threads that could not start never arrive: release the barrier seats they hold.
    for (std::size_t t = helpers.size() + 1; t < threads; ++t) sync.arrive_and_drop();
    const std::lock_guard<std::mutex> lock(failureMutex);
    if (!failure) failure = std::current_exception();
  }
  work(0);
  for (std::thread& t : helpers) t.join();
  if (failure) std::rethrow_exception(failure);
  return completed;
}

template <typename Pixel>
bool binTyped(const BinJob& job, const std::atomic<bool>& cancelled, FrameProgress& progress) {
  return job.threads <= 1 ? binSequential<Pixel>(job, cancelled, progress)
                          : binParallel<Pixel>(job, cancelled, progress);
}

}  // namespace

bool binFrames(const BinJob& job, const std::atomic<bool>& cancelled,
               const std::function<void(std::size_t)>& progress) {
  FrameProgress frameProgress(job.pixelCount, progress);
  switch (job.pixelType) {
    case PixelType::Int8: return binTyped<std::int8_t>(job, cancelled, frameProgress);
    case PixelType::Uint8: return binTyped<std::uint8_t>(job, cancelled, frameProgress);
    case PixelType::Int16: return binTyped<std::int16_t>(job, cancelled, frameProgress);
    case PixelType::Uint16: return binTyped<std::uint16_t>(job, cancelled, frameProgress);
    case PixelType::Int32: return binTyped<std::int32_t>(job, cancelled, frameProgress);
    case PixelType::Uint32: return binTyped<std::uint32_t>(job, cancelled, frameProgress);
    case PixelType::Float32: return binTyped<float>(job, cancelled, frameProgress);
    case PixelType::Float64: return binTyped<double>(job, cancelled, frameProgress);
  }
  return true;
}

}  // namespace nexus
