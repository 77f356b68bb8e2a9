// N-API surface of the transform kernel: validates the JS arguments, keeps the typed arrays
// alive and runs the kernel on a libuv worker thread (which spawns the binning threads).
#include <napi.h>
#include <sys/mman.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bin_frames.h"

namespace {

constexpr unsigned kMaxThreads = 1024;

[[noreturn]] void fail(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, "binFrames: " + message);
}

double requireNumber(const Napi::Object& opts, const char* name) {
  const Napi::Value value = opts.Get(name);
  if (!value.IsNumber()) fail(opts.Env(), std::string(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

std::size_t requireCount(const Napi::Object& opts, const char* name, double min, double max) {
  const double value = requireNumber(opts, name);
  if (!(value >= min && value <= max) || value != static_cast<double>(static_cast<std::size_t>(value))) {
    fail(opts.Env(), std::string(name) + " must be an integer in [" + std::to_string(static_cast<std::size_t>(min)) +
                         ", " + std::to_string(static_cast<std::size_t>(max)) + "], got " +
                         opts.Get(name).ToString().Utf8Value());
  }
  return static_cast<std::size_t>(value);
}

// Returns the typed array `name` of the expected type and length; records a reference so that
// the garbage collector keeps its memory while the worker runs.
Napi::TypedArray requireArray(const Napi::Object& opts, const char* name, napi_typedarray_type type,
                              const char* typeName, std::size_t length,
                              std::vector<Napi::ObjectReference>& keepAlive) {
  const Napi::Value value = opts.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    fail(opts.Env(), std::string(name) + " must be a " + typeName);
  }
  const auto array = value.As<Napi::TypedArray>();
  if (array.ElementLength() != length) {
    fail(opts.Env(), std::string(name) + " must have " + std::to_string(length) + " elements, got " +
                         std::to_string(array.ElementLength()));
  }
  keepAlive.push_back(Napi::Persistent(array.As<Napi::Object>()));
  return array;
}

// The element data of a typed array, also when it views a SharedArrayBuffer.
void* dataOf(const Napi::TypedArray& array) {
  void* data = nullptr;
  const napi_status status =
      napi_get_typedarray_info(array.Env(), array, nullptr, nullptr, &data, nullptr, nullptr);
  NAPI_THROW_IF_FAILED(array.Env(), status, nullptr);
  return data;
}

nexus::PixelType pixelTypeOf(Napi::Env env, napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return nexus::PixelType::Int8;
    case napi_uint8_array: return nexus::PixelType::Uint8;
    case napi_int16_array: return nexus::PixelType::Int16;
    case napi_uint16_array: return nexus::PixelType::Uint16;
    case napi_int32_array: return nexus::PixelType::Int32;
    case napi_uint32_array: return nexus::PixelType::Uint32;
    case napi_float32_array: return nexus::PixelType::Float32;
    case napi_float64_array: return nexus::PixelType::Float64;
    default:
      fail(env, "frames must be an Int8/Uint8/Int16/Uint16/Int32/Uint32/Float32/Float64Array");
  }
}

// Asks Linux for transparent huge pages under a grid array. A 400³ grid is 512 MB per array, and
// the hits of one detector row touch about 600 different 4 KiB pages, so TLB misses cost more
// than the arithmetic: 2 MiB pages measured +20 % single-thread throughput on the benchmark.
// Advice only, and effective for pages not yet touched (the arrays of a fresh transform).
void adviseHugePages(double* array, std::size_t length) {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  const auto begin = (reinterpret_cast<std::uintptr_t>(array) + kHugePage - 1) & ~(kHugePage - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(array + length) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

class BinWorker : public Napi::AsyncProgressQueueWorker<std::size_t> {
 public:
  BinWorker(Napi::Env env, const nexus::BinJob& job, std::vector<Napi::ObjectReference> keepAlive,
            Napi::Function onProgress, std::shared_ptr<std::atomic<bool>> cancelled)
      : Napi::AsyncProgressQueueWorker<std::size_t>(env, "nexus.binFrames"),
        job_(job),
        keepAlive_(std::move(keepAlive)),
        cancelled_(std::move(cancelled)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    if (!onProgress.IsEmpty()) onProgress_ = Napi::Persistent(onProgress);
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      aborted_ = !nexus::binFrames(job_, *cancelled_, [&progress](std::size_t framesDone) {
        progress.Send(&framesDone, 1);
      });
    } catch (const std::exception& e) {
      SetError(std::string("binFrames failed: ") + e.what());
    }
  }

  void OnProgress(const std::size_t* framesDone, std::size_t count) override {
    if (onProgress_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(Env());
    onProgress_.Call({Napi::Number::New(Env(), static_cast<double>(framesDone[count - 1]))});
  }

  void OnOK() override {
    if (!aborted_) {
      deferred_.Resolve(Env().Undefined());
      return;
    }
    Napi::Error error = Napi::Error::New(Env(), "binFrames was aborted");
    error.Set("name", "AbortError");
    error.Set("code", "ABORT_ERR");
    deferred_.Reject(error.Value());
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  nexus::BinJob job_;
  std::vector<Napi::ObjectReference> keepAlive_;
  Napi::FunctionReference onProgress_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  Napi::Promise::Deferred deferred_;
  bool aborted_ = false;
};

// startBinning(opts, onProgress?) → { done: Promise<void>, cancel(): void }
Napi::Value StartBinning(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) fail(env, "expected an options object");
  const Napi::Object opts = info[0].As<Napi::Object>();
  Napi::Function onProgress;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsFunction()) fail(env, "onProgress must be a function");
    onProgress = info[1].As<Napi::Function>();
  }

  nexus::BinJob job;
  std::vector<Napi::ObjectReference> keepAlive;
  job.frameCount = requireCount(opts, "frameCount", 0, 4294967295.0);
  job.pixelCount = requireCount(opts, "pixelCount", 1, 4294967295.0);
  job.threads = static_cast<unsigned>(requireCount(opts, "threads", 1, kMaxThreads));

  const Napi::Value dims = opts.Get("dims");
  if (!dims.IsArray() || dims.As<Napi::Array>().Length() != 3) {
    fail(env, "dims must be an array [N0, N1, N2]");
  }
  double voxels = 1;
  for (std::uint32_t axis = 0; axis < 3; ++axis) {
    const Napi::Value d = dims.As<Napi::Array>().Get(axis);
    const double value = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    // below 2^31: the vector path converts voxel coordinates to signed 32-bit integers
    if (!(value >= 1 && value <= 2147483647.0) || value != static_cast<double>(static_cast<std::uint32_t>(value))) {
      fail(env, "dims must hold three positive integers below 2^31, got " + dims.ToString().Utf8Value());
    }
    job.dims[axis] = static_cast<std::uint32_t>(value);
    voxels *= value;
  }
  // Voxel indices are 32-bit; 2^32 voxels would need 32 GiB for v alone.
  if (voxels >= 4294967296.0) fail(env, "the grid must have fewer than 2^32 voxels, got " + std::to_string(voxels));

  const Napi::Value frames = opts.Get("frames");
  if (!frames.IsTypedArray()) fail(env, "frames must be a typed array");
  job.pixelType = pixelTypeOf(env, frames.As<Napi::TypedArray>().TypedArrayType());
  job.frames = dataOf(requireArray(opts, "frames", frames.As<Napi::TypedArray>().TypedArrayType(), "typed array",
                                   job.frameCount * job.pixelCount, keepAlive));
  job.q = static_cast<const double*>(
      dataOf(requireArray(opts, "q", napi_float64_array, "Float64Array", 3 * job.pixelCount, keepAlive)));
  job.maps = static_cast<const double*>(
      dataOf(requireArray(opts, "maps", napi_float64_array, "Float64Array", 12 * job.frameCount, keepAlive)));
  if (!opts.Get("weights").IsUndefined()) {
    job.weights = static_cast<const double*>(
        dataOf(requireArray(opts, "weights", napi_float64_array, "Float64Array", job.frameCount, keepAlive)));
  }
  if (!opts.Get("mask").IsUndefined()) {
    job.mask = static_cast<const std::uint8_t*>(
        dataOf(requireArray(opts, "mask", napi_uint8_array, "Uint8Array", job.pixelCount, keepAlive)));
  }
  const auto gridSize = static_cast<std::size_t>(voxels);
  job.v = static_cast<double*>(dataOf(requireArray(opts, "v", napi_float64_array, "Float64Array", gridSize, keepAlive)));
  job.n = static_cast<double*>(dataOf(requireArray(opts, "n", napi_float64_array, "Float64Array", gridSize, keepAlive)));
  if (job.v == job.n) fail(env, "v and n must be different arrays");
  adviseHugePages(job.v, gridSize);
  adviseHugePages(job.n, gridSize);

  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto* worker = new BinWorker(env, job, std::move(keepAlive), onProgress, cancelled);
  const Napi::Promise done = worker->promise();
  worker->Queue();

  Napi::Object handle = Napi::Object::New(env);
  handle.Set("done", done);
  handle.Set("cancel", Napi::Function::New(env, [cancelled](const Napi::CallbackInfo&) {
               cancelled->store(true, std::memory_order_relaxed);
             }));
  return handle;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("startBinning", Napi::Function::New(env, StartBinning, "startBinning"));
  return exports;
}

}  // namespace

NODE_API_MODULE(nexus_transform, Init)
