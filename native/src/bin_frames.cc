#include "bin_frames.h"

#include <immintrin.h>

#include <algorithm>
#include <barrier>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace nexus {
namespace {

// Accumulation order. Samples are added in groups of kGroup consecutive frames, pixel by pixel
// within a group and frame by frame within a pixel: q_p (24 bytes, the largest input stream) is
// read once per group, and the samples of one pixel in neighbouring frames mostly hit the same
// voxel, which RunAccumulator keeps in registers. Measured ×1.8 over frame-by-frame order on
// the 400³ benchmark (single thread).
//
// Threading (numbers for the 400³ grid of the benchmark, Pilatus 2M frames, 2 cores; see
// native/README.md). A private v+n grid per thread would cost 1 GB each plus a merge pass;
// atomic adds on doubles (std::atomic_ref<double>::fetch_add is a lock cmpxchg loop on x86)
// make the result depend on thread timing. Instead every voxel has exactly one owning thread
// (interleaved runs of 4096 voxels, so owners balance even when a frame lights up one corner
// of the grid):
//   fill:  each thread maps a contiguous pixel range of a block and appends the hits to one
//          bucket per owner;
//   drain: each owner adds the buckets addressed to it, taking the sources in order.
// Every voxel therefore receives its samples in the sequential order above, so the result is
// bit-identical for any thread count. Buckets are double-buffered: in one step a thread drains
// block b-1 and fills block b, so one barrier per block suffices. They cost 2 × 16 B × 32K
// samples per thread, independent of the grid size.
constexpr std::size_t kGroup = 4;
constexpr std::size_t kSequentialBlockSamples = std::size_t{1} << 20;
// Small enough that a thread's buckets of both parities (2 × 16 B × 32K) stay in its L2 cache:
// with 1M-sample blocks the buckets went through memory and cost 4 ns per sample.
constexpr std::size_t kParallelSamplesPerThread = std::size_t{1} << 15;
constexpr unsigned kOwnerShift = 12;
// Hits are handed from the mapping to the accumulation in L1-resident chunks (8 KiB).
constexpr std::size_t kChunk = 512;

struct Sample {
  std::uint32_t voxel;
  std::uint32_t frame;
  double value;
};

// Adds samples one at a time and in order, but keeps the running sums of the current voxel in
// registers while consecutive samples hit it (neighbouring pixels mostly do): the roundings of
// v[x] += a; v[x] += b, without a store-to-load round trip per sample.
class RunAccumulator {
 public:
  RunAccumulator(double* v, double* n) : v_(v), n_(n) {}

  void add(std::uint32_t voxel, double value, double weight) {
    if (voxel != voxel_) {
      flush();
      voxel_ = voxel;
      sumV_ = v_[voxel];
      sumN_ = n_[voxel];
    }
    sumV_ += value;
    sumN_ += weight;
  }

  void flush() {
    if (voxel_ == kNone) return;
    v_[voxel_] = sumV_;
    n_[voxel_] = sumN_;
    voxel_ = kNone;
  }

 private:
  // Never a voxel: grids have fewer than 2^32 voxels, so the last index is at most 2^32 - 2.
  static constexpr std::uint32_t kNone = 0xFFFFFFFF;
  double* v_;
  double* n_;
  std::uint32_t voxel_ = kNone;
  double sumV_ = 0;
  double sumN_ = 0;
};

// Calls the progress callback only when the number of frames done grows.
class FrameProgress {
 public:
  explicit FrameProgress(const std::function<void(std::size_t)>& callback) : callback_(callback) {}

  void framesDone(std::size_t frames) {
    if (frames > reported_ && callback_) {
      reported_ = frames;
      callback_(frames);
    }
  }

 private:
  const std::function<void(std::size_t)>& callback_;
  std::size_t reported_ = 0;
};

// The samples of frames [firstFrame, endFrame) (at most kGroup of them) and pixels
// [firstPixel, endPixel): the unit of work between two cancellation checks.
struct Block {
  std::size_t firstFrame, endFrame, firstPixel, endPixel;
};

// Blocks of about `samples` samples in accumulation order: groups of kGroup consecutive frames,
// each cut into pixel ranges.
std::vector<Block> blocksOf(const BinJob& job, std::size_t samples) {
  std::vector<Block> blocks;
  for (std::size_t first = 0; first < job.frameCount; first += kGroup) {
    const std::size_t end = std::min(job.frameCount, first + kGroup);
    const std::size_t pixels = std::max<std::size_t>(1, samples / (end - first));
    for (std::size_t p = 0; p < job.pixelCount; p += pixels) {
      blocks.push_back({first, end, p, std::min(job.pixelCount, p + pixels)});
    }
  }
  return blocks;
}

template <typename Pixel>
struct FrameGroup {
  double maps[kGroup][12];
  const Pixel* pixels[kGroup];
  std::uint32_t frameIndex[kGroup];
  std::size_t frames = 0;
};

// The prebuild targets x86-64-v2; machines with AVX2 map a whole group of 4 frames per pixel
// in one vector. IEEE multiplies and adds give the same bits in a vector lane as in a scalar
// register (no FMA here either), so both paths land every sample in the same voxel. Measured
// +17 % single-thread throughput on the benchmark; the tests cover both paths (groups of fewer
// than 4 frames take the scalar one).
// (__builtin_cpu_init first: this initialiser may run before libgcc's own.)
const bool kHasAvx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));

// mapGroup for a group of kGroup frames, one frame per AVX2 lane.
template <typename Pixel, typename Sink>
__attribute__((target("avx2"))) void mapFullGroupAvx2(const BinJob& job,
                                                      const FrameGroup<Pixel>& group,
                                                      std::size_t firstPixel,
                                                      std::size_t endPixel, Sink& sink) {
  static_assert(kGroup == 4, "one frame per lane of a 4-double vector");
  __m256d coefficient[12];
  for (int c = 0; c < 12; ++c) {
    coefficient[c] = _mm256_setr_pd(group.maps[0][c], group.maps[1][c], group.maps[2][c],
                                    group.maps[3][c]);
  }
  const __m256d zero = _mm256_setzero_pd();
  const __m256d limit0 = _mm256_set1_pd(job.dims[0]);
  const __m256d limit1 = _mm256_set1_pd(job.dims[1]);
  const __m256d limit2 = _mm256_set1_pd(job.dims[2]);
  const __m128i n0 = _mm_set1_epi32(static_cast<int>(job.dims[0]));
  const __m128i n1 = _mm_set1_epi32(static_cast<int>(job.dims[1]));
  const std::uint8_t* mask = job.mask;
  const double* q = job.q;

  Sample hits[kChunk + kGroup];
  std::size_t count = 0;
  alignas(32) double values[kGroup];
  alignas(16) std::uint32_t voxels[kGroup];
  for (std::size_t p = firstPixel; p < endPixel; ++p) {
    if (mask != nullptr && mask[p] != 0) continue;
    const __m256d qx = _mm256_set1_pd(q[3 * p]);
    const __m256d qy = _mm256_set1_pd(q[3 * p + 1]);
    const __m256d qz = _mm256_set1_pd(q[3 * p + 2]);
    const __m256d value = _mm256_setr_pd(
        static_cast<double>(group.pixels[0][p]), static_cast<double>(group.pixels[1][p]),
        static_cast<double>(group.pixels[2][p]), static_cast<double>(group.pixels[3][p]));
    // u_r = ((a_r0·qx + a_r1·qy) + a_r2·qz) + b_r, the scalar order
    __m256d u[3];
    for (int r = 0; r < 3; ++r) {
      const __m256d sum = _mm256_add_pd(_mm256_mul_pd(coefficient[3 * r], qx),
                                        _mm256_mul_pd(coefficient[3 * r + 1], qy));
      u[r] = _mm256_add_pd(_mm256_add_pd(sum, _mm256_mul_pd(coefficient[3 * r + 2], qz)),
                           coefficient[9 + r]);
    }
    const __m256d u0 = u[0], u1 = u[1], u2 = u[2];
    // ordered comparisons: false for NaN, as in the scalar path
    __m256d ok = _mm256_cmp_pd(value, zero, _CMP_GE_OQ);
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u0, zero, _CMP_GE_OQ));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u0, limit0, _CMP_LT_OQ));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u1, zero, _CMP_GE_OQ));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u1, limit1, _CMP_LT_OQ));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u2, zero, _CMP_GE_OQ));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(u2, limit2, _CMP_LT_OQ));
    const int lanes = _mm256_movemask_pd(ok);
    if (lanes == 0) continue;
    // lanes outside the grid convert to garbage, never used
    const __m128i i = _mm256_cvttpd_epi32(u0);
    const __m128i j = _mm256_cvttpd_epi32(u1);
    const __m128i k = _mm256_cvttpd_epi32(u2);
    const __m128i voxel =
        _mm_add_epi32(_mm_mullo_epi32(_mm_add_epi32(_mm_mullo_epi32(k, n1), j), n0), i);
    _mm_store_si128(reinterpret_cast<__m128i*>(voxels), voxel);
    _mm256_store_pd(values, value);
    for (std::size_t g = 0; g < kGroup; ++g) {
      if (lanes & (1 << g)) hits[count++] = {voxels[g], group.frameIndex[g], values[g]};
    }
    if (count >= kChunk) {
      sink(static_cast<const Sample*>(hits), count);
      count = 0;
    }
  }
  if (count > 0) sink(static_cast<const Sample*>(hits), count);
}

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

  // Calls sink(hits, count) with every contributing sample of the block's frames and of pixels
  // [firstPixel, endPixel), pixel by pixel and, within a pixel, frame by frame, in chunks.
  template <typename Sink>
  void map(const Block& block, std::size_t firstPixel, std::size_t endPixel, Sink&& sink) const {
    FrameGroup<Pixel> group;
    for (std::size_t f = block.firstFrame; f < block.endFrame; ++f) {
      // CCTW skips frames whose weight is not positive; !(w > 0) also catches NaN.
      if (!(weight(f) > 0)) continue;
      std::copy_n(job_.maps + 12 * f, 12, group.maps[group.frames]);
      group.pixels[group.frames] = frames_ + f * job_.pixelCount;
      group.frameIndex[group.frames] = static_cast<std::uint32_t>(f);
      ++group.frames;
    }
    if (group.frames == 0) return;
    if (group.frames == kGroup && kHasAvx2) {
      mapFullGroupAvx2(job_, group, firstPixel, endPixel, sink);
    } else {
      mapGroup(group, firstPixel, endPixel, sink);
    }
  }

 private:
  template <typename Sink>
  void mapGroup(const FrameGroup<Pixel>& group, std::size_t firstPixel, std::size_t endPixel,
                Sink& sink) const {
    Sample hits[kChunk + kGroup];
    std::size_t count = 0;
    const std::uint8_t* mask = job_.mask;
    const double* q = job_.q;
    const std::uint32_t n0 = job_.dims[0], n1 = job_.dims[1];
    for (std::size_t p = firstPixel; p < endPixel; ++p) {
      if (mask != nullptr && mask[p] != 0) continue;
      const double qx = q[3 * p], qy = q[3 * p + 1], qz = q[3 * p + 2];
      for (std::size_t g = 0; g < group.frames; ++g) {
        const double value = static_cast<double>(group.pixels[g][p]);
        // Negative values are detector gaps (Pilatus writes -1 and -2 there), NaN is "no data".
        if (!(value >= 0)) continue;
        const double* m = group.maps[g];
        // Same operation order as the JS reference; -ffp-contract=off keeps it free of FMA.
        const double u0 = m[0] * qx + m[1] * qy + m[2] * qz + m[9];
        const double u1 = m[3] * qx + m[4] * qy + m[5] * qz + m[10];
        const double u2 = m[6] * qx + m[7] * qy + m[8] * qz + m[11];
        // Testing the doubles before the cast drops NaN and far-away values; for u >= 0 the
        // truncating cast is the floor.
        if (!(u0 >= 0 && u0 < limit0_ && u1 >= 0 && u1 < limit1_ && u2 >= 0 && u2 < limit2_)) {
          continue;
        }
        const std::uint32_t voxel = (static_cast<std::uint32_t>(u2) * n1 +
                                     static_cast<std::uint32_t>(u1)) * n0 +
                                    static_cast<std::uint32_t>(u0);
        hits[count++] = {voxel, group.frameIndex[g], value};
      }
      if (count >= kChunk) {
        sink(static_cast<const Sample*>(hits), count);
        count = 0;
      }
    }
    if (count > 0) sink(static_cast<const Sample*>(hits), count);
  }

 private:
  const BinJob& job_;
  const Pixel* frames_;
  double limit0_, limit1_, limit2_;
};

template <typename Pixel>
void addInOrder(RunAccumulator& grid, const SampleMapper<Pixel>& mapper, const Sample* hits,
                std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    grid.add(hits[i].voxel, hits[i].value, mapper.weight(hits[i].frame));
  }
}

// Frames are done when the last block of their group is.
std::size_t framesDoneAfter(const BinJob& job, const Block& block) {
  return block.endPixel == job.pixelCount ? block.endFrame : block.firstFrame;
}

template <typename Pixel>
bool binSequential(const BinJob& job, const std::atomic<bool>& cancelled,
                   FrameProgress& progress) {
  const SampleMapper<Pixel> mapper(job);
  RunAccumulator grid(job.v, job.n);
  for (const Block& block : blocksOf(job, kSequentialBlockSamples)) {
    if (cancelled.load(std::memory_order_relaxed)) return false;
    mapper.map(block, block.firstPixel, block.endPixel, [&](const Sample* hits, std::size_t count) {
      addInOrder(grid, mapper, hits, count);
    });
    grid.flush();
    progress.framesDone(framesDoneAfter(job, block));
  }
  return true;
}

template <typename Pixel>
bool binParallel(const BinJob& job, const std::atomic<bool>& cancelled, FrameProgress& progress) {
  const unsigned threads = job.threads;
  const SampleMapper<Pixel> mapper(job);
  const std::vector<Block> blocks =
      blocksOf(job, kParallelSamplesPerThread * threads);

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
    if (step >= 1) progress.framesDone(framesDoneAfter(job, blocks[step - 1]));
    ++step;
    completed = step > blocks.size();
    stop = completed || failure != nullptr || cancelled.load(std::memory_order_relaxed);
  };
  std::barrier sync(static_cast<std::ptrdiff_t>(threads), endOfStep);

  auto work = [&](unsigned self) {
    std::vector<std::vector<Sample>> mine(threads);
    while (true) {
      try {
        if (step >= 1) {
          RunAccumulator grid(job.v, job.n);
          for (unsigned source = 0; source < threads; ++source) {
            const std::vector<Sample>& hits = buckets[(step - 1) & 1][source * threads + self];
            addInOrder(grid, mapper, hits.data(), hits.size());
          }
          grid.flush();
        }
        if (step < blocks.size()) {
          // Filled through vector headers on this thread's stack: pushing through the shared
          // headers would bounce their cache line between threads on every sample.
          std::vector<Sample>* shared = &buckets[step & 1][std::size_t{self} * threads];
          for (unsigned o = 0; o < threads; ++o) {
            std::swap(mine[o], shared[o]);
            mine[o].clear();
          }
          const Block& block = blocks[step];
          const std::size_t share = (block.endPixel - block.firstPixel + threads - 1) / threads;
          const std::size_t begin = std::min(block.endPixel, block.firstPixel + share * self);
          const std::size_t end = std::min(block.endPixel, begin + share);
          mapper.map(block, begin, end, [&](const Sample* hits, std::size_t count) {
            for (std::size_t i = 0; i < count; ++i) {
              mine[owner[hits[i].voxel >> kOwnerShift]].push_back(hits[i]);
            }
          });
          for (unsigned o = 0; o < threads; ++o) std::swap(mine[o], shared[o]);
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
  FrameProgress frameProgress(progress);
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
