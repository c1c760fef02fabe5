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
                                  InstanceMethod("disposed", &NativeTensor::Disposed),
                                  InstanceMethod("write", &NativeTensor::Write)});
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
  Tensor t;
  try {
    t = Tensor::uninitialized(shape);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  if (t.numel()) std::memcpy(t.data(), data.Data(), t.numel() * sizeof(float));
  Hold(env, std::move(t));
}

NativeTensor::~NativeTensor() { Drop(); }

void NativeTensor::Hold(Napi::Env env, Tensor t) {
  Drop();
  tensor_ = std::move(t);
  const auto& st = tensor_.storage();
  if (!st) return;
  if (st->js_holders++ == 0) {
    int64_t adjusted = 0;
    napi_adjust_external_memory(env, st->numel * static_cast<int64_t>(sizeof(float)), &adjusted);
  }
  env_ = env;
}

void NativeTensor::Drop() {
  const auto st = tensor_.storage();
  tensor_ = Tensor();  // storage freed once no Program run still holds it
  if (!st || !env_) return;
  if (--st->js_holders == 0) {
    int64_t adjusted = 0;
    napi_adjust_external_memory(env_, -st->numel * static_cast<int64_t>(sizeof(float)), &adjusted);
  }
  env_ = nullptr;
}

Napi::Object NativeTensor::Wrap(Napi::Env env, Tensor t) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->tensor_ctor.New({Napi::External<int>::New(env, &wrap_token)});
  NativeTensor* self = Napi::ObjectWrap<NativeTensor>::Unwrap(obj);
  self->Hold(env, std::move(t));
  return obj;
}

Napi::Value NativeTensor::Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ec::Shape shape = shape_from_js(info[0], "allocTensor shape");
  for (int64_t d : shape)
    if (d < 0) throw Napi::Error::New(env, "allocTensor: shape " + shape_str(shape) + " has a negative dimension");
  return guard(env, [&] { return Wrap(env, Tensor(shape)); });
}

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  float out;
  if (exp == 0) {
    out = std::ldexp(static_cast<float>(frac), -24);  // zero or subnormal
    return sign ? -out : out;
  }
  uint32_t bits;
  if (exp == 31) bits = sign | 0x7f800000u | (frac << 13);  // inf / nan
  else bits = sign | ((exp + 112) << 23) | (frac << 13);
  std::memcpy(&out, &bits, 4);
  return out;
}

}  // namespace

// [sync] write(offset, bytes, encoding, scale?, min?): decodes the values in
// `bytes` (any typed array or Buffer, little-endian) into this host tensor
// from element `offset` on. encoding: 'float32' | 'int32' | 'float16' (as
// they are) | 'uint8' | 'uint16' (q * scale + min). Returns the number of
// elements written. Loaders use it to fill weights shard by shard, so the
// decoded weights never exist in JS memory as well.
Napi::Value NativeTensor::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw Napi::Error::New(env, "write: the tensor was disposed");
  if (tensor_.empty()) throw Napi::Error::New(env, "write: the tensor has no data");
  if (tensor_.device() != Device::Host) throw Napi::Error::New(env, "write: the tensor is not in host memory");
  const double off = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(off >= 0) || off != std::floor(off))
    throw Napi::TypeError::New(env, "write: offset must be an integer >= 0");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "write: expected a typed array or Buffer of bytes");
  Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  const uint8_t* bytes = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  const size_t len = src.ByteLength();
  const std::string enc = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int width = 0;
  if (enc == "float32" || enc == "int32") width = 4;
  else if (enc == "float16" || enc == "uint16") width = 2;
  else if (enc == "uint8") width = 1;
  else throw Napi::TypeError::New(env, "write: encoding must be 'float32', 'int32', 'float16', 'uint8' or 'uint16'");
  double scale = 1, min = 0;
  if (enc == "uint8" || enc == "uint16") {
    scale = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : NAN;
    min = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(scale) || !std::isfinite(min))
      throw Napi::TypeError::New(env, "write: " + enc + " values need a finite scale and min");
  }
  if (len % width) throw Napi::Error::New(env, "write: " + std::to_string(len) + " bytes is not a whole number of " + enc + " values");
  const int64_t count = static_cast<int64_t>(len / width);
  const int64_t at = static_cast<int64_t>(off);
  if (at > tensor_.numel() || count > tensor_.numel() - at)
    throw Napi::RangeError::New(env, "write: " + std::to_string(count) + " values from offset " + std::to_string(at) +
                                         " do not fit a tensor of " + std::to_string(tensor_.numel()));
  float* dst = tensor_.data() + at;
  if (enc == "float32") {
    if (count) std::memcpy(dst, bytes, count * 4);
  } else if (enc == "int32") {
    for (int64_t i = 0; i < count; ++i) {
      int32_t v;
      std::memcpy(&v, bytes + 4 * i, 4);
      dst[i] = static_cast<float>(v);
    }
  } else if (enc == "float16") {
    for (int64_t i = 0; i < count; ++i) dst[i] = half_to_float(static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
  } else if (enc == "uint16") {
    for (int64_t i = 0; i < count; ++i)
      dst[i] = static_cast<float>(static_cast<double>(bytes[2 * i] | (bytes[2 * i + 1] << 8)) * scale + min);
  } else {
    float table[256];
    for (int q = 0; q < 256; ++q) table[q] = static_cast<float>(q * scale + min);
    for (int64_t i = 0; i < count; ++i) dst[i] = table[bytes[i]];
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (Device d : {Device::Host, Device::Cuda}) {
    const MemoryCounters c = memory_counters(d);
    Napi::Object m = Napi::Object::New(env);
    m.Set("bytes", static_cast<double>(c.bytes));
    m.Set("tensors", static_cast<double>(c.tensors));
    m.Set("peak", static_cast<double>(c.peak));
    o.Set(d == Device::Cuda ? "cuda" : "cpu", m);
  }
  return o;
}

Napi::Value ResetMemoryPeak(const Napi::CallbackInfo& info) {
  memory_reset_peak(Device::Host);
  memory_reset_peak(Device::Cuda);
  return info.Env().Undefined();
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
  Drop();
  return info.Env().Undefined();
}

Napi::Value NativeTensor::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

}  // namespace ec::node
