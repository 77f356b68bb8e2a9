// The forward binning kernel: a pure affine-map binner with no N-API and no geometry in it.
// TypeScript computes each pixel's lab-frame scattering vector q once (it does not change from
// frame to frame) and, per frame, the affine map u = A·q + b into fractional grid coordinates.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace nexus {

enum class PixelType { Int8, Uint8, Int16, Uint16, Int32, Uint32, Float32, Float64 };

struct BinJob {
  const void* frames = nullptr;  // frameCount × pixelCount values of pixelType, row-major pixels
  PixelType pixelType = PixelType::Float64;
  std::size_t frameCount = 0;
  std::size_t pixelCount = 0;
  const double* q = nullptr;        // 3 × pixelCount, 1/Å
  const double* maps = nullptr;     // 12 × frameCount: A row-major (9), then b (3)
  const double* weights = nullptr;  // frameCount, or nullptr for all 1
  const std::uint8_t* mask = nullptr;  // pixelCount, non-zero = bad pixel; or nullptr
  std::uint32_t dims[3] = {0, 0, 0};   // N0, N1, N2; N0·N1·N2 < 2^32
  double* v = nullptr;  // N0·N1·N2, indexed (k·N1 + j)·N0 + i
  double* n = nullptr;
  unsigned threads = 1;
};

// Accumulates every sample of the job into v and n. Returns false when `cancelled` was seen set
// (checked between blocks of about a million samples per thread); v and n then hold a partial sum.
// `progress(framesDone)` is called from a worker thread with a strictly increasing count that
// ends at frameCount. Throws std::bad_alloc if the per-block sample buffers cannot be allocated.
bool binFrames(const BinJob& job, const std::atomic<bool>& cancelled,
               const std::function<void(std::size_t)>& progress);

}  // namespace nexus
