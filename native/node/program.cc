#include "core/program.h"

#include <set>

#include "binding.h"

namespace ec::node {

namespace {

using TensorMap = std::map<std::string, Tensor>;

TensorMap tensors_from_js(const Napi::Value& v, const std::string& who) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), who + ": expected an object of tensors by name");
  Napi::Object o = v.As<Napi::Object>();
  TensorMap out;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    out[k] = NativeTensor::Get(o.Get(k), who + " '" + k + "'");
  }
  return out;
}

std::vector<std::string> strings_from_js(const Napi::Value& v, const std::string& who) {
  std::vector<std::string> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), who + ": expected an array of names");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString()) throw Napi::TypeError::New(v.Env(), who + ": expected names (strings)");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Object tensors_to_js(Napi::Env env, const TensorMap& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [k, t] : m) o.Set(k, NativeTensor::Wrap(env, t));
  return o;
}

// Runs Program work on the libuv pool; Execute() touches no JS value. Errors
// leave as text and the TS layer rethrows them with the caller's stack.
class ProgramWorker : public Napi::AsyncWorker {
 public:
  using Job = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  ProgramWorker(Napi::Env env, Job job, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)),
        done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      job_();
    } catch (const std::bad_alloc&) {
      SetError("out of memory");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(done_(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  Done done_;
};


}  // namespace

Napi::Function NativeProgram::Init(Napi::Env env) {
  return DefineClass(env, "NativeProgram",
                     {InstanceMethod("forward", &NativeProgram::Forward),
                      InstanceMethod("forwardSync", &NativeProgram::ForwardSync),
                      InstanceMethod("backward", &NativeProgram::Backward),
                      InstanceMethod("param", &NativeProgram::Param),
                      InstanceMethod("setParam", &NativeProgram::SetParam),
                      InstanceMethod("paramNames", &NativeProgram::ParamNames),
                      InstanceMethod("inferShapes", &NativeProgram::InferShapes),
                      InstanceMethod("release", &NativeProgram::Release),
                      InstanceMethod("dispose", &NativeProgram::Dispose),
                      InstanceMethod("memory", &NativeProgram::Memory),
                      InstanceMethod("backendName", &NativeProgram::BackendName)});
}

NativeProgram::NativeProgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProgram>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "program: expected a graph description");
  const std::string backend = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu";
  QueueOptions options;
  if (info.Length() > 2 && info[2].IsObject()) options.tf32 = info[2].As<Napi::Object>().Get("tf32").ToBoolean().Value();
  Graph g = graph_from_js(info[0].As<Napi::Object>());
  {
    std::set<const Storage*> seen;  // a weight shared by two params counts once
    for (const GraphNode& n : g.nodes)
      if (n.kind == GraphNode::Kind::Param && n.value.storage() && seen.insert(n.value.storage().get()).second)
        weight_bytes_ += n.value.storage()->numel * static_cast<int64_t>(sizeof(float));
  }
  guard(env, [&] {
    program_ = std::make_shared<Program>(std::move(g), backend_by_name(backend), options);
    return 0;
  });
  reported_->env = env;
}

NativeProgram::~NativeProgram() {
  if (reported_->bytes && reported_->env) {
    int64_t total = 0;
    napi_adjust_external_memory(reported_->env, -reported_->bytes, &total);
  }
  reported_->bytes = 0;
  reported_->dead = true;  // a call still finishing reports nothing more
}

void NativeProgram::Report(const std::shared_ptr<Program>& program, Reported& r) {
  if (r.dead || !r.env) return;
  const int64_t now = program->retained_bytes() + program->pool_bytes();
  if (now == r.bytes) return;
  int64_t total = 0;
  napi_adjust_external_memory(r.env, now - r.bytes, &total);
  r.bytes = now;
}

// forward(feeds: {name: tensor}, taps: string[], keep: boolean, onDevice?: boolean) -> Promise<{name: tensor}>
// onDevice leaves the results in the backend's memory.
Napi::Value NativeProgram::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto feeds = std::make_shared<TensorMap>(tensors_from_js(info[0], "forward input"));
  auto taps = strings_from_js(info[1], "forward taps");
  const bool keep = info[2].ToBoolean().Value();
  const bool on_device = info.Length() > 3 && info[3].ToBoolean().Value();
  auto out = std::make_shared<TensorMap>();
  auto prog = program_;
  auto reported = reported_;
  auto* w = new ProgramWorker(
      env, [=] { *out = prog->forward(*feeds, taps, keep, on_device); },
      [=](Napi::Env e) -> Napi::Value {
        Report(prog, *reported);
        return tensors_to_js(e, *out);
      });
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// forwardSync(feeds, taps, keep, onDevice?) -> {name: tensor}: forward on the
// calling thread, for small networks where the worker round trip (a libuv
// hand-off and a Promise) costs a sizeable part of the call. Throws on error.
Napi::Value NativeProgram::ForwardSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TensorMap feeds = tensors_from_js(info[0], "forwardSync input");
  const auto taps = strings_from_js(info[1], "forwardSync taps");
  const bool keep = info[2].ToBoolean().Value();
  const bool on_device = info.Length() > 3 && info[3].ToBoolean().Value();
  TensorMap out = guard(env, [&] { return program_->forward(feeds, taps, keep, on_device); });
  Report(program_, *reported_);
  return tensors_to_js(env, out);
}

// backward(seeds: {tap: tensor}, params: string[], wantInputs: boolean, onDevice?: boolean, last?: boolean)
//   (last: no further backward of this forward; its kept activations are freed as they are read)
//   -> Promise<{inputs: {name: tensor}, params: {name: tensor}}>
Napi::Value NativeProgram::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto seeds = std::make_shared<TensorMap>(tensors_from_js(info[0], "backward gradient"));
  auto params = strings_from_js(info[1], "backward params");
  const bool want_inputs = info.Length() < 3 || info[2].ToBoolean().Value();
  const bool on_device = info.Length() > 3 && info[3].ToBoolean().Value();
  const bool last = info.Length() > 4 && info[4].ToBoolean().Value();
  auto out = std::make_shared<BackwardResult>();
  auto prog = program_;
  auto reported = reported_;
  auto* w = new ProgramWorker(
      env, [=] { *out = prog->backward(*seeds, params, want_inputs, on_device, last); },
      [=](Napi::Env e) -> Napi::Value {
        Report(prog, *reported);
        Napi::Object o = Napi::Object::New(e);
        o.Set("inputs", tensors_to_js(e, out->inputs));
        o.Set("params", tensors_to_js(e, out->params));
        return o;
      });
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NativeProgram::Param(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[0].ToString().Utf8Value();
  return guard(env, [&] { return NativeTensor::Wrap(env, program_->param(name)); });
}

Napi::Value NativeProgram::SetParam(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[0].ToString().Utf8Value();
  Tensor t = NativeTensor::Get(info[1], "setParam '" + name + "'");
  guard(env, [&] {
    program_->set_param(name, t);
    return 0;
  });
  return env.Undefined();
}

Napi::Value NativeProgram::ParamNames(const Napi::CallbackInfo& info) {
  auto names = program_->param_names();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(i, names[i]);
  return a;
}

// inferShapes({input: shape}) -> {node: shape}
Napi::Value NativeProgram::InferShapes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "inferShapes: expected {input: shape}");
  Napi::Object o = info[0].As<Napi::Object>();
  std::map<std::string, Shape> in;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    in[k] = shape_from_js(o.Get(k), "inferShapes '" + k + "'");
  }
  return guard(env, [&] {
    auto shapes = program_->infer_shapes(in);
    Napi::Object out = Napi::Object::New(env);
    for (const auto& [k, s] : shapes) out.Set(k, shape_to_js(env, s));
    return out;
  });
}

Napi::Value NativeProgram::Release(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    program_->release();
    return 0;
  });
  Report(program_, *reported_);
  return info.Env().Undefined();
}

// Frees the parameters and buffers now (a running call finishes first: the
// Program's mutex orders them); the wrapper may live on until GC.
Napi::Value NativeProgram::Dispose(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    program_->dispose();
    return 0;
  });
  Report(program_, *reported_);
  return info.Env().Undefined();
}

Napi::Value NativeProgram::Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("weights", static_cast<double>(weight_bytes_));
  o.Set("retained", static_cast<double>(program_->retained_bytes()));
  o.Set("pool", static_cast<double>(program_->pool_bytes()));
  return o;
}

Napi::Value NativeProgram::BackendName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), program_->backend().name());
}

}  // namespace ec::node
