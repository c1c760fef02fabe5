// [sync] vector routines for optimizers and tasks, through the Backend whose
// memory holds the tensors (semantics in native/cpu/vecops.h). They run on
// the calling thread: each is one pass over memory, far cheaper than a round
// trip through the libuv pool. On CUDA they queue on the legacy default
// stream, with which Program streams are ordered; those returning a number wait.
#include "binding.h"
#include "cpu/vecops.h"  // sym_eig: host math on a JS array, no tensor

namespace ec::node {

namespace {

float num(const Napi::CallbackInfo& info, size_t i, const char* who, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(who) + ": expected a number for " + what);
  return info[i].As<Napi::Number>().FloatValue();
}

std::vector<float> floats(const Napi::Value& v, const char* who) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(who) + ": expected an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<float> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).ToNumber().FloatValue());
  return out;
}


// The backend whose memory holds the tensors; throws when they are split
// between host and CUDA memory.
Backend& backend_for(std::initializer_list<const Tensor*> ts, const char* who) {
  size_t n = 0;
  for (const Tensor* t : ts) n += t->device() == Device::Cuda;
  if (n && n != ts.size())
    throw Error(std::string(who) + ": expected every tensor in the same memory but " + std::to_string(n) + " of " +
                std::to_string(ts.size()) + " are in CUDA device memory and the rest in host memory");
  return backend_of(**ts.begin());
}

}  // namespace

Napi::Object InitVec(Napi::Env env, Napi::Object exports) {
  auto def = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  def("vecDot", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor a = NativeTensor::Get(info[0], "dot"), b = NativeTensor::Get(info[1], "dot");
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), backend_for({&a, &b}, "dot").vec().dot(a, b)); });
  });
  def("vecAxpy", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const float alpha = num(info, 0, "axpy", "alpha");
    Tensor x = NativeTensor::Get(info[1], "axpy"), y = NativeTensor::Get(info[2], "axpy");
    return guard(info.Env(), [&]() -> Napi::Value {
      backend_for({&x, &y}, "axpy").vec().axpy(alpha, x, y);
      return info.Env().Undefined();
    });
  });
  def("vecScale", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "scale");
    const float alpha = num(info, 1, "scale", "alpha");
    return guard(info.Env(), [&]() -> Napi::Value {
      backend_for({&x}, "scale").vec().scale(x, alpha);
      return info.Env().Undefined();
    });
  });
  def("vecNorm1", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "norm1");
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), backend_for({&x}, "norm1").vec().norm1(x)); });
  });
  def("vecNorm2", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "norm2");
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), backend_for({&x}, "norm2").vec().norm2(x)); });
  });
  def("vecClampChannels", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "clamp");
    auto lo = floats(info[1], "clamp"), hi = floats(info[2], "clamp");
    return guard(info.Env(), [&]() -> Napi::Value {
      backend_for({&x}, "clamp").vec().clamp_channels(x, lo, hi);
      return info.Env().Undefined();
    });
  });
  def("vecAdamStep", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "adam"), g = NativeTensor::Get(info[1], "adam");
    Tensor m = NativeTensor::Get(info[2], "adam"), v = NativeTensor::Get(info[3], "adam");
    const float lr = num(info, 4, "adam", "lr"), b1 = num(info, 5, "adam", "beta1"), b2 = num(info, 6, "adam", "beta2");
    const float eps = num(info, 7, "adam", "epsilon");
    const int t = static_cast<int>(num(info, 8, "adam", "step"));
    return guard(info.Env(), [&]() -> Napi::Value {
      backend_for({&x, &g, &m, &v}, "adam").vec().adam_step(x, g, m, v, lr, b1, b2, eps, t);
      return info.Env().Undefined();
    });
  });
  def("vecRoll", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Tensor x = NativeTensor::Get(info[0], "roll");
    const int64_t dy = static_cast<int64_t>(num(info, 1, "roll", "dy")), dx = static_cast<int64_t>(num(info, 2, "roll", "dx"));
    return guard(info.Env(), [&]() -> Napi::Value { return NativeTensor::Wrap(info.Env(), backend_for({&x}, "roll").vec().roll(x, dy, dx)); });
  });
  // symEig(Float64Array of n*n, n) -> {values: Float64Array(n), vectors: Float64Array(n*n), rows = eigenvectors}
  def("symEig", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "eig: expected a Float64Array");
    Napi::Float64Array m = info[0].As<Napi::Float64Array>();
    const int n = static_cast<int>(num(info, 1, "eig", "n"));
    std::vector<double> a(m.Data(), m.Data() + m.ElementLength()), values, vectors;
    return guard(env, [&]() -> Napi::Value {
      cpu::sym_eig(a, n, values, vectors);
      Napi::Object o = Napi::Object::New(env);
      Napi::Float64Array vals = Napi::Float64Array::New(env, values.size());
      std::copy(values.begin(), values.end(), vals.Data());
      Napi::Float64Array vecs = Napi::Float64Array::New(env, vectors.size());
      std::copy(vectors.begin(), vectors.end(), vecs.Data());
      o.Set("values", vals);
      o.Set("vectors", vecs);
      return o;
    });
  });
  return exports;
}

}  // namespace ec::node
