// The addon's exports, one short table. See src/ts/native.ts for their types.
#include "binding.h"
#include "cpu/threadpool.h"

#ifndef EC_VERSION
#define EC_VERSION "dev"
#endif

namespace ec::node {

namespace {

// [sync] info() -> {version, backends, cuda: {...}, simd, threads}
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", EC_VERSION);
  auto names = compiled_backends();
  Napi::Array b = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) b.Set(i, names[i]);
  o.Set("backends", b);
  const CudaInfo c = cuda_info();
  Napi::Object cu = Napi::Object::New(env);
  cu.Set("compiled", c.compiled);
  cu.Set("deviceCount", c.device_count);
  cu.Set("deviceName", c.device_name);
  cu.Set("error", c.error);
  cu.Set("totalMemory", static_cast<double>(c.total_memory));
  cu.Set("freeMemory", static_cast<double>(c.free_memory));
  cu.Set("poolBytes", static_cast<double>(c.pool_bytes));
  cu.Set("runtimeVersion", c.runtime_version);
  cu.Set("driverVersion", c.driver_version);
  o.Set("cuda", cu);
  o.Set("simd", cpu::simd_level());
  o.Set("threads", cpu::num_threads());
  return o;
}

// [sync] setThreads(n): resizes the CPU pool; throws for n outside 1..1024.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 1 && n <= 1024)) throw Napi::RangeError::New(info.Env(), "setThreads: expected an integer between 1 and 1024");
  cpu::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

// [sync] opNames() -> string[] in op-set order.
Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), kOpCount);
  for (int i = 0; i < kOpCount; ++i) a.Set(i, op_name(static_cast<Op>(i)));
  return a;
}

// The JS keys an attribute struct reads (its fields() list, in order).
struct KeyLister {
  std::vector<std::string> keys;
  void integer(const char* k, int&) { keys.push_back(k); }
  void number(const char* k, float&) { keys.push_back(k); }
  void boolean(const char* k, bool&) { keys.push_back(k); }
  void pair(const char* k, int&, int&) { keys.push_back(k); }
  void quad(const char* k, int&, int&, int&, int&) { keys.push_back(k); }
  template <class T> void ints(const char* k, std::vector<T>&) { keys.push_back(k); }
  template <class E, size_t N> void choice(const char* k, const char*, E&, const EnumName (&)[N]) { keys.push_back(k); }
};

// [sync] opTable() -> [{name, minInputs, maxInputs, backwardNeedsInputs,
// backwardNeedsOutput, pointwise, spatial, window, attrs}] in op-set order.
Napi::Value OpTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env, kOpCount);
  for (int i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    const OpInfo& oi = op_info(op);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", oi.name);
    o.Set("minInputs", oi.min_inputs);
    o.Set("maxInputs", oi.max_inputs);
    o.Set("backwardNeedsInputs", oi.backward_needs_inputs);
    o.Set("backwardNeedsOutput", oi.backward_needs_output);
    o.Set("pointwise", oi.pointwise());
    o.Set("spatial", oi.spatial());
    o.Set("window", oi.window());
    Attrs attrs = default_attrs(op);
    KeyLister keys;
    visit_fields(attrs, keys);
    Napi::Array k = Napi::Array::New(env, keys.keys.size());
    for (size_t j = 0; j < keys.keys.size(); ++j) k.Set(j, keys.keys[j]);
    o.Set("attrs", k);
    a.Set(i, o);
  }
  return a;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", NativeTensor::Init(env));
  exports.Set("NativeProgram", NativeProgram::Init(env));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("opNames", Napi::Function::New(env, OpNames));
  exports.Set("opTable", Napi::Function::New(env, OpTable));
  exports.Set("allocTensor", Napi::Function::New(env, NativeTensor::Alloc));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats));
  exports.Set("resetMemoryPeak", Napi::Function::New(env, ResetMemoryPeak));
  return InitVec(env, exports);
}

}  // namespace ec::node

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ec::node::Init(env, exports); }

NODE_API_MODULE(eyecandy, InitAddon)
