#include <cmath>
#include <cstring>

#include "binding.h"

namespace ec::node {

namespace {

// Per-environment state (the main thread and each worker_thread load the
// addon separately, so nothing may live in a plain static).
struct AddonData {
  Napi::FunctionReference tensor_ctor;
};

// Passed by Wrap() to the constructor so that only native code can make a
// tensor without data; a JS call with no arguments is refused.
int wrap_token;

}  // namespace

Napi::Function NativeTensor::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "NativeTensor",
                                 {InstanceMethod("shape", &NativeTensor::Shape),
                                  InstanceMethod("data", &NativeTensor::Data),
                                  InstanceMethod("dispose", &NativeTensor::Dispose),
                                  InstanceMethod("reshape", &NativeTensor::Reshape),
                                  InstanceMethod("clone", &NativeTensor::Clone),
                                  InstanceMethod("device", &NativeTensor::DeviceName),
                                  InstanceMethod("toBackend", &NativeTensor::ToBackend),
                                  InstanceMethod("disposed", &NativeTensor::Disposed)});
  auto* data = new AddonData{Napi::Persistent(f)};
  env.SetInstanceData<AddonData>(data);
  return f;
}

Shape shape_from_js(const Napi::Value& v, const std::string& who) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), who + ": expected an array of dimensions");
  Napi::Array a = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || x != std::floor(x) || x < -1)
      throw Napi::TypeError::New(v.Env(), who + ": dimension " + std::to_string(i) +
                                              " must be an integer >= 0 (or -1 where allowed)");
    s.push_back(static_cast<int64_t>(x));
  }
  return s;
}

Napi::Array shape_to_js(Napi::Env env, const ec::Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}

NativeTensor::NativeTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTensor>(info) {
  Napi::Env env = info.Env();
  if (info.Length() == 1 && info[0].IsExternal() && info[0].As<Napi::External<int>>().Data() == &wrap_token)
    return;  // filled by Wrap()
  if (info.Length() < 2) throw Napi::TypeError::New(env, "tensor: expected (data: Float32Array, shape: number[])");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "tensor: expected a Float32Array for data");
  Napi::Float32Array data = info[0].As<Napi::Float32Array>();
  ec::Shape shape = shape_from_js(info[1], "tensor shape");
  for (int64_t d : shape)
    if (d < 0) throw Napi::Error::New(env, "tensor: shape " + shape_str(shape) + " has a negative dimension");
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  if (numel != static_cast<int64_t>(data.ElementLength()))
    throw Napi::Error::New(env, "tensor: shape " + shape_str(shape) + " holds " + std::to_string(shape_numel(shape)) +
                                    " values but data has " + std::to_string(data.ElementLength()));
  try {
    tensor_ = Tensor(shape);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  if (tensor_.numel()) std::memcpy(tensor_.data(), data.Data(), tensor_.numel() * sizeof(float));
}

Napi::Object NativeTensor::Wrap(Napi::Env env, Tensor t) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->tensor_ctor.New({Napi::External<int>::New(env, &wrap_token)});
  NativeTensor* self = Napi::ObjectWrap<NativeTensor>::Unwrap(obj);
  self->tensor_ = std::move(t);
  return obj;
}

Tensor NativeTensor::Get(const Napi::Value& v, const std::string& who) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->tensor_ctor.Value()))
    throw Napi::TypeError::New(env, who + ": expected a tensor");
  NativeTensor* self = Napi::ObjectWrap<NativeTensor>::Unwrap(v.As<Napi::Object>());
  if (self->disposed_) throw Napi::Error::New(env, who + ": the tensor was disposed");
  if (self->tensor_.empty()) throw Napi::Error::New(env, who + ": the tensor has no data");
  return self->tensor_;
}

Napi::Value NativeTensor::Shape(const Napi::CallbackInfo& info) {
  if (disposed_) throw Napi::Error::New(info.Env(), "tensor: the tensor was disposed");
  return shape_to_js(info.Env(), tensor_.shape());
}

Napi::Value NativeTensor::Data(const Napi::CallbackInfo& info) {
  if (disposed_) throw Napi::Error::New(info.Env(), "tensor: the tensor was disposed");
  if (tensor_.empty()) throw Napi::Error::New(info.Env(), "tensor: the tensor has no data");
  const Tensor host = guard(info.Env(), [&] { return backend_of(tensor_).to_host(tensor_); });
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), host.numel());
  if (host.numel()) std::memcpy(out.Data(), host.data(), host.numel() * sizeof(float));
  return out;
}

// [sync] reshape(shape) -> a tensor sharing this one's storage; throws on a size mismatch.
Napi::Value NativeTensor::Reshape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw Napi::Error::New(env, "reshape: the tensor was disposed");
  ec::Shape shape = shape_from_js(info[0], "reshape shape");
  if (tensor_.empty()) throw Napi::Error::New(env, "reshape: the tensor has no data");
  try {
    return Wrap(env, tensor_.reshaped(shape));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// [sync] clone() -> a deep copy.
Napi::Value NativeTensor::Clone(const Napi::CallbackInfo& info) {
  if (disposed_) throw Napi::Error::New(info.Env(), "clone: the tensor was disposed");
  if (tensor_.empty()) throw Napi::Error::New(info.Env(), "clone: the tensor has no data");
  try {
    return Wrap(info.Env(), backend_of(tensor_).clone(tensor_));
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "clone: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// [sync] device() -> "cpu" (host memory) or "cuda".
Napi::Value NativeTensor::DeviceName(const Napi::CallbackInfo& info) {
  if (disposed_) throw Napi::Error::New(info.Env(), "device: the tensor was disposed");
  return Napi::String::New(info.Env(), tensor_.device() == Device::Cuda ? "cuda" : "cpu");
}

// [sync] toBackend(name) -> a copy in the memory of backend `name` ('cpu':
// host memory); a host tensor asked for 'cpu' comes back sharing its data.
// (Tensor.to() in TS returns the tensor itself when it is there already.)
Napi::Value NativeTensor::ToBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw Napi::Error::New(env, "toBackend: the tensor was disposed");
  if (tensor_.empty()) throw Napi::Error::New(env, "toBackend: the tensor has no data");
  const std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  return guard(env, [&] {
    Backend& to = backend_by_name(name);
    std::string why;
    if (!to.available(&why)) throw Error(std::string(to.name()) + " backend: " + why);
    const Tensor host = backend_of(tensor_).to_host(tensor_);
    return Wrap(env, to.from_host(host));
  });
}

Napi::Value NativeTensor::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  tensor_ = Tensor();  // storage freed once no Program run still holds it
  return info.Env().Undefined();
}

Napi::Value NativeTensor::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

}  // namespace ec::node
