// N-API binding: JS handles for tensors and programs, and the conversions
// between JS values and core structs. Options were validated in TypeScript
// (src/ts); the checks here only keep a bad call from crashing the process.
#pragma once
#include <napi.h>

#include <memory>

#include "core/program.h"

namespace ec::node {

// Runs f, turning a C++ failure into a JS Error (a non-Napi exception escaping
// a callback would terminate the process).
template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// [sync] new NativeTensor(data: Float32Array, shape: number[]) copies data.
// Throws TypeError for a non-Float32Array, Error for a size/shape mismatch.
class NativeTensor : public Napi::ObjectWrap<NativeTensor> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, Tensor t);
  // The tensor behind a JS value; throws a JS Error naming `who` if it is not
  // a NativeTensor or was disposed.
  static Tensor Get(const Napi::Value& v, const std::string& who);
  explicit NativeTensor(const Napi::CallbackInfo& info);
  ~NativeTensor() override;
  // [sync] allocTensor(shape) -> a zero-filled host tensor (no JS copy of its data).
  static Napi::Value Alloc(const Napi::CallbackInfo& info);

 private:
  // Sets tensor_ and reports its storage to the JS engine as external memory
  // (once per storage, however many handles share it), so that forgotten
  // handles are collected as their native size demands.
  void Hold(Napi::Env env, Tensor t);
  void Drop();
  Napi::Value Write(const Napi::CallbackInfo& info);   // [sync] decodes bytes into a slice of a host tensor
  Napi::Value Shape(const Napi::CallbackInfo& info);   // [sync]
  Napi::Value Data(const Napi::CallbackInfo& info);    // [sync] copies into a new Float32Array (from any memory)
  Napi::Value Dispose(const Napi::CallbackInfo& info); // [sync]
  Napi::Value Reshape(const Napi::CallbackInfo& info); // [sync] shares storage
  Napi::Value Clone(const Napi::CallbackInfo& info);   // [sync] deep copy, same memory
  Napi::Value DeviceName(const Napi::CallbackInfo& info); // [sync]
  Napi::Value ToBackend(const Napi::CallbackInfo& info);  // [sync] copy to another backend's memory
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Tensor tensor_;
  bool disposed_ = false;
  napi_env env_ = nullptr;  // where the storage was reported (null: not reported)
};

// [sync] memoryStats() -> {cpu: {bytes, tensors, peak}, cuda: {...}} for the process.
Napi::Value MemoryStats(const Napi::CallbackInfo& info);
// [sync] resetMemoryPeak(): each device's peak restarts at its live bytes.
Napi::Value ResetMemoryPeak(const Napi::CallbackInfo& info);

// [sync] new NativeProgram(graph, backend, {tf32}?) compiles; forward/backward are [async].
class NativeProgram : public Napi::ObjectWrap<NativeProgram> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeProgram(const Napi::CallbackInfo& info);
  ~NativeProgram() override;

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);     // [async] rejects with ec::Error text
  Napi::Value ForwardSync(const Napi::CallbackInfo& info); // [sync] forward on the calling thread
  Napi::Value Backward(const Napi::CallbackInfo& info);    // [async]
  Napi::Value Param(const Napi::CallbackInfo& info);       // [sync]
  Napi::Value SetParam(const Napi::CallbackInfo& info);    // [sync]
  Napi::Value ParamNames(const Napi::CallbackInfo& info);  // [sync]
  Napi::Value InferShapes(const Napi::CallbackInfo& info); // [sync]
  Napi::Value Release(const Napi::CallbackInfo& info);     // [sync]
  Napi::Value Dispose(const Napi::CallbackInfo& info);     // [sync]
  Napi::Value Memory(const Napi::CallbackInfo& info);      // [sync] {weights, retained, pool} bytes
  Napi::Value BackendName(const Napi::CallbackInfo& info);
  std::shared_ptr<Program> program_;
  int64_t weight_bytes_ = 0;  // the parameters' storage at compile time (shared storages once)
  // What the Program holds beyond its weights (kept activations, buffer pool), as last reported
  // to the JS engine as external memory; updated on the JS thread after each call that changes it.
  struct Reported {
    napi_env env = nullptr;
    int64_t bytes = 0;
    bool dead = false;
  };
  std::shared_ptr<Reported> reported_ = std::make_shared<Reported>();
  static void Report(const std::shared_ptr<Program>& program, Reported& r);
};

Graph graph_from_js(const Napi::Object& desc);
// Adds the vector routines (vecDot, vecAxpy, ..., symEig) to the exports.
Napi::Object InitVec(Napi::Env env, Napi::Object exports);
Shape shape_from_js(const Napi::Value& v, const std::string& who);
Napi::Array shape_to_js(Napi::Env env, const Shape& s);

}  // namespace ec::node
