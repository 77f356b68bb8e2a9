#include "bin_frames.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
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
// (Partition) and thread t maps the pixels of band t of the detector. Its hits in voxels it
// owns are added at once; the others (0.1 % in the benchmark) go to a bucket for their owner,
// added in the next step, after a barrier. A first version owned voxels in interleaved runs of
// 4096, so that half of all hits crossed between threads: 2 threads did 133 Mpix per
// CPU-second against 188 for one thread (at most 1.4× on two idle cores); with bands they did
// 176 against 220 (at most 1.6×), and 209 against 220 (1.83× measured) once each sample's
// owner was counted in the vector instead of in a scalar loop over the cuts.
// Every voxel receives its samples in an order fixed by the thread count, so results are
// reproducible; between thread counts they differ by float64 rounding only (not at all for
// integer counts and power-of-2 weights, whose sums are exact).
constexpr std::size_t kGroup = 4;
constexpr std::size_t kSequentialBlockSamples = std::size_t{1} << 20;
// Bounds the crossing buckets (16 B per hit, two parities) when a geometry makes bands overlap.
constexpr std::size_t kParallelSamplesPerThread = std::size_t{1} << 20;
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
// [firstPixel, endPixel) of a pixel range (the detector, or each thread's band): the unit of
// work between two cancellation checks.
struct Block {
  std::size_t firstFrame, endFrame, firstPixel, endPixel;
};

// Blocks of about `samples` samples over `pixels` pixels, in accumulation order: groups of
// kGroup consecutive frames, each cut into pixel ranges.
std::vector<Block> blocksOf(const BinJob& job, std::size_t pixels, std::size_t samples) {
  std::vector<Block> blocks;
  for (std::size_t first = 0; first < job.frameCount; first += kGroup) {
    const std::size_t end = std::min(job.frameCount, first + kGroup);
    const std::size_t step = std::max<std::size_t>(1, samples / (end - first));
    for (std::size_t p = 0; p < pixels; p += step) {
      blocks.push_back({first, end, p, std::min(pixels, p + step)});
    }
  }
  return blocks;
}

// Frames are done when the last block of their group is.
std::size_t framesDoneAfter(const Block& block, std::size_t pixels) {
  return block.endPixel == pixels ? block.endFrame : block.firstFrame;
}

// Voxel ownership for the threads of one call. Thread t maps the pixels of band t (a contiguous
// range of pixel indices: a horizontal band of the detector). Within a frame, a band's hits lie
// on one side of a plane through the grid, because a row of pixels scatters into a plane. The
// owner of voxel (i, j, k) is therefore taken from its coordinate s = d·(i, j, k) along the
// direction d joining the bands' centroids (mapped with the call's middle frame), cut halfway
// between neighbouring centroids. Most hits of a band then land in voxels its own thread owns
// and are added right away; only hits near a cut cross to another thread. Any partition is
// correct (every voxel has exactly one owner); this one keeps the crossing traffic small.
class Partition {
 public:
  Partition(const BinJob& job, unsigned threads) {
    const double* m = job.maps + 12 * (job.frameCount / 2);
    std::vector<std::array<double, 3>> centroids(threads, {0, 0, 0});
    for (unsigned t = 0; t < threads; ++t) {
      const std::size_t begin = bandBegin(job, threads, t), end = bandBegin(job, threads, t + 1);
      const std::size_t stride = std::max<std::size_t>(1, (end - begin) / 4096);
      std::size_t used = 0;
      for (std::size_t p = begin; p < end; p += stride) {
        const double* q = job.q + 3 * p;
        std::array<double, 3> u;
        for (int r = 0; r < 3; ++r) u[r] = m[3 * r] * q[0] + m[3 * r + 1] * q[1] + m[3 * r + 2] * q[2] + m[9 + r];
        if (!std::isfinite(u[0] + u[1] + u[2])) continue;
        for (int r = 0; r < 3; ++r) centroids[t][r] += u[r];
        ++used;
      }
      for (int r = 0; r < 3; ++r) centroids[t][r] /= std::max<std::size_t>(1, used);
    }
    for (int r = 0; r < 3; ++r) direction_[r] = centroids[threads - 1][r] - centroids[0][r];
    for (unsigned t = 0; t + 1 < threads; ++t) {
      cuts_.push_back((coordinate(centroids[t]) + coordinate(centroids[t + 1])) / 2);
    }
    // Odd geometries can give unsorted or non-finite cuts: still a partition, just a slower one.
    for (double& cut : cuts_) {
      if (!std::isfinite(cut)) cut = 0;
    }
    std::sort(cuts_.begin(), cuts_.end());
  }

  static std::size_t bandBegin(const BinJob& job, unsigned threads, unsigned band) {
    return job.pixelCount * band / threads;
  }

  const double* direction() const { return direction_; }
  const std::vector<double>& cuts() const { return cuts_; }

  // Counting the cuts at or below the coordinate, branch-free: one compare for two threads.
  std::uint16_t ownerOf(double coordinate) const {
    std::uint16_t owner = 0;
    for (const double cut : cuts_) owner += coordinate >= cut;
    return owner;
  }

 private:
  double coordinate(const std::array<double, 3>& u) const {
    return direction_[0] * u[0] + direction_[1] * u[1] + direction_[2] * u[2];
  }

  double direction_[3];
  std::vector<double> cuts_;
};

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
                                                      const Partition* partition,
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
  const double* direction = partition != nullptr ? partition->direction() : nullptr;
  const __m256d d0 = _mm256_set1_pd(direction != nullptr ? direction[0] : 0);
  const __m256d d1 = _mm256_set1_pd(direction != nullptr ? direction[1] : 0);
  const __m256d d2 = _mm256_set1_pd(direction != nullptr ? direction[2] : 0);
  const double* cuts = partition != nullptr ? partition->cuts().data() : nullptr;
  const std::size_t cutCount = partition != nullptr ? partition->cuts().size() : 0;

  Sample hits[kChunk + kGroup];
  std::uint16_t owners[kChunk + kGroup];
  std::size_t count = 0;
  alignas(32) double values[kGroup];
  alignas(32) std::int64_t laneOwners[kGroup] = {0, 0, 0, 0};
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
    if (partition != nullptr) {
      // the owner of each lane's voxel: the number of cuts at or below its coordinate, counted
      // in the vector (-1 per true comparison), as Partition::ownerOf does
      const __m256d coordinate =
          _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(i), d0),
                                      _mm256_mul_pd(_mm256_cvtepi32_pd(j), d1)),
                        _mm256_mul_pd(_mm256_cvtepi32_pd(k), d2));
      __m256i owner = _mm256_setzero_si256();
      for (std::size_t c = 0; c < cutCount; ++c) {
        const __m256d atOrAbove = _mm256_cmp_pd(coordinate, _mm256_set1_pd(cuts[c]), _CMP_GE_OQ);
        owner = _mm256_sub_epi64(owner, _mm256_castpd_si256(atOrAbove));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(laneOwners), owner);
    }
    for (std::size_t g = 0; g < kGroup; ++g) {
      if (!(lanes & (1 << g))) continue;
      owners[count] = static_cast<std::uint16_t>(laneOwners[g]);
      hits[count++] = {voxels[g], group.frameIndex[g], values[g]};
    }
    if (count >= kChunk) {
      sink(static_cast<const Sample*>(hits), static_cast<const std::uint16_t*>(owners), count);
      count = 0;
    }
  }
  if (count > 0) {
    sink(static_cast<const Sample*>(hits), static_cast<const std::uint16_t*>(owners), count);
  }
}

template <typename Pixel>
class SampleMapper {
 public:
  SampleMapper(const BinJob& job, const Partition* partition)
      : job_(job),
        partition_(partition),
        frames_(static_cast<const Pixel*>(job.frames)),
        limit0_(job.dims[0]),
        limit1_(job.dims[1]),
        limit2_(job.dims[2]) {}

  double weight(std::size_t frame) const {
    return job_.weights != nullptr ? job_.weights[frame] : 1.0;
  }

  // Calls sink(hits, owners, count) with every contributing sample of the block's frames and of
  // pixels [firstPixel, endPixel), pixel by pixel and, within a pixel, frame by frame, in
  // chunks; owners[i] is the thread owning hits[i].voxel when the mapper has a partition.
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
      mapFullGroupAvx2(job_, group, partition_, firstPixel, endPixel, sink);
    } else {
      mapGroup(group, firstPixel, endPixel, sink);
    }
  }

 private:
  template <typename Sink>
  void mapGroup(const FrameGroup<Pixel>& group, std::size_t firstPixel, std::size_t endPixel,
                Sink& sink) const {
    Sample hits[kChunk + kGroup];
    std::uint16_t owners[kChunk + kGroup];
    std::size_t count = 0;
    const std::uint8_t* mask = job_.mask;
    const double* q = job_.q;
    const std::uint32_t n0 = job_.dims[0], n1 = job_.dims[1];
    const double* direction = partition_ != nullptr ? partition_->direction() : nullptr;
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
        const auto i = static_cast<std::uint32_t>(u0);
        const auto j = static_cast<std::uint32_t>(u1);
        const auto k = static_cast<std::uint32_t>(u2);
        if (direction != nullptr) {
          owners[count] = partition_->ownerOf(direction[0] * i + direction[1] * j + direction[2] * k);
        }
        hits[count++] = {(k * n1 + j) * n0 + i, group.frameIndex[g], value};
      }
      if (count >= kChunk) {
        sink(static_cast<const Sample*>(hits), static_cast<const std::uint16_t*>(owners), count);
        count = 0;
      }
    }
    if (count > 0) {
      sink(static_cast<const Sample*>(hits), static_cast<const std::uint16_t*>(owners), count);
    }
  }

 private:
  const BinJob& job_;
  const Partition* partition_;
  const Pixel* frames_;
  double limit0_, limit1_, limit2_;
};

template <typename Pixel>
void addInOrder(RunAccumulator& grid, const SampleMapper<Pixel>& mapper, const Sample* hits,
                std::size_t count) {
  // A local copy whose address never escapes: the compiler keeps its running sums in registers
  // although the loop stores through double pointers (measured +10 % single-thread, +10 % on
  // the parallel path).
  RunAccumulator run = grid;
  for (std::size_t i = 0; i < count; ++i) {
    run.add(hits[i].voxel, hits[i].value, mapper.weight(hits[i].frame));
  }
  grid = run;
}

// Adds the hits that thread `self` owns and hands the others to their owners' buckets. Runs of
// own hits go through the same tight loop as in one thread; the rare crossing hits (0.1 % in
// the benchmark) between them. Kept out of line: inlined into the mapping loop it made the
// parallel path 8 % slower (register pressure).
template <typename Pixel>
__attribute__((noinline)) void addChunk(RunAccumulator& grid, const SampleMapper<Pixel>& mapper,
                                        const Sample* hits, const std::uint16_t* owners,
                                        std::size_t count, unsigned self,
                                        std::vector<std::vector<Sample>>& buckets) {
  unsigned foreign = 0;  // a branch-free, vectorised test of the whole chunk
  for (std::size_t i = 0; i < count; ++i) foreign |= owners[i] ^ self;
  if (foreign == 0) {
    addInOrder(grid, mapper, hits, count);
    return;
  }
  std::size_t run = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (owners[i] == self) continue;
    addInOrder(grid, mapper, hits + run, i - run);
    buckets[owners[i]].push_back(hits[i]);
    run = i + 1;
  }
  addInOrder(grid, mapper, hits + run, count - run);
}

template <typename Pixel>
bool binSequential(const BinJob& job, const std::atomic<bool>& cancelled,
                   FrameProgress& progress) {
  const SampleMapper<Pixel> mapper(job, nullptr);
  RunAccumulator grid(job.v, job.n);
  for (const Block& block : blocksOf(job, job.pixelCount, kSequentialBlockSamples)) {
    if (cancelled.load(std::memory_order_relaxed)) return false;
    mapper.map(block, block.firstPixel, block.endPixel,
               [&](const Sample* hits, const std::uint16_t*, std::size_t count) {
                 addInOrder(grid, mapper, hits, count);
               });
    grid.flush();
    progress.framesDone(framesDoneAfter(block, job.pixelCount));
  }
  return true;
}

template <typename Pixel>
bool binParallel(const BinJob& job, const std::atomic<bool>& cancelled, FrameProgress& progress) {
  const unsigned threads = job.threads;
  const Partition partition(job, threads);
  const SampleMapper<Pixel> mapper(job, &partition);
  // blocks cut every band the same way (bands differ by at most one pixel)
  const std::size_t widestBand = Partition::bandBegin(job, threads, 1) + 1;
  const std::vector<Block> blocks = blocksOf(job, widestBand, kParallelSamplesPerThread);

  // buckets[parity][source * threads + owner]: the hits a thread mapped into another's voxels
  std::vector<std::vector<Sample>> buckets[2] = {
      std::vector<std::vector<Sample>>(std::size_t{threads} * threads),
      std::vector<std::vector<Sample>>(std::size_t{threads} * threads)};

  std::size_t step = 0;  // step s maps block s and adds the crossing hits of block s - 1
  bool stop = false;
  bool completed = false;
  std::exception_ptr failure;
  std::mutex failureMutex;

  auto endOfStep = [&]() noexcept {
    if (step >= 1) progress.framesDone(framesDoneAfter(blocks[step - 1], widestBand));
    ++step;
    completed = step > blocks.size();
    stop = completed || failure != nullptr || cancelled.load(std::memory_order_relaxed);
  };
  std::barrier sync(static_cast<std::ptrdiff_t>(threads), endOfStep);

  auto work = [&](unsigned self) {
    std::vector<std::vector<Sample>> mine(threads);
    const std::size_t bandBegin = Partition::bandBegin(job, threads, self);
    const std::size_t bandEnd = Partition::bandBegin(job, threads, self + 1);
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
          const std::size_t begin = std::min(bandEnd, bandBegin + block.firstPixel);
          const std::size_t end = std::min(bandEnd, bandBegin + block.endPixel);
          RunAccumulator grid(job.v, job.n);
          mapper.map(block, begin, end,
                     [&](const Sample* hits, const std::uint16_t* owners, std::size_t count) {
                       addChunk(grid, mapper, hits, owners, count, self, mine);
                     });
          grid.flush();
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
  if (job.frameCount == 0) return true;
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
