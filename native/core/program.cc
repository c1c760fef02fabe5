#include "program.h"

#include <algorithm>
#include <set>

namespace ec {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

bool shape_matches(const Shape& want, const Shape& got) {
  if (want.empty()) return true;  // no constraint declared
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] >= 0 && want[i] != got[i]) return false;
  return true;
}

}  // namespace

Program::Program(Graph graph, Backend& backend, const QueueOptions& options)
    : graph_(std::move(graph)), backend_(backend), options_(options) {
  std::string why;
  if (!backend_.available(&why)) throw Error(std::string(backend_.name()) + " backend: " + why);
  queue_ = backend_.make_queue(options_);
  QueueScope scope(backend_, queue_.get());
  std::set<std::string> names;
  const int n = static_cast<int>(graph_.nodes.size());
  if (n == 0) throw Error("program: the graph has no nodes");
  params_.resize(n);
  for (int i = 0; i < n; ++i) {
    GraphNode& node = graph_.nodes[i];
    if (node.name.empty()) throw Error("program: node " + str(i) + " has no name");
    if (!names.insert(node.name).second) throw Error("program: node name '" + node.name + "' is used twice");
    switch (node.kind) {
      case GraphNode::Kind::Input:
        break;
      case GraphNode::Kind::Param:
        if (node.value.empty()) throw Error("program: parameter '" + node.name + "' has no value");
        params_[i] = backend_.from_host(node.value);
        break;
      case GraphNode::Kind::Op: {
        if (node.call.op == Op::COUNT) throw Error("program: node '" + node.name + "' has no op");
        const OpInfo& info = op_info(node.call.op);
        const int k = static_cast<int>(node.inputs.size());
        if (k < info.min_inputs || (info.max_inputs >= 0 && k > info.max_inputs))
          throw Error(where(i) + ": expected " + str(info.min_inputs) +
                      (info.max_inputs == info.min_inputs ? "" : info.max_inputs < 0 ? " or more" : " to " + str(info.max_inputs)) +
                      " inputs but received " + str(k));
        for (int in : node.inputs)
          if (in < 0 || in >= i)
            throw Error(where(i) + ": input index " + str(in) + " does not refer to an earlier node");
        if (!backend_.supports(node.call))
          throw Error(std::string(backend_.name()) + " backend: op '" + info.name + "' is not implemented");
        break;
      }
    }
  }
  backend_.synchronize();
}

// A caller's tensor must be in host memory or in this backend's.
void Program::check_memory(const Tensor& t, const std::string& what) const {
  if (t.device() == Device::Host || backend_.name() != std::string("cpu")) return;
  throw Error(what + " is in CUDA device memory but the network runs on the cpu backend; copy it to the host first");
}

std::string Program::where(int node) const {
  const GraphNode& g = graph_.nodes[node];
  return "node '" + g.name + "' (" + (g.kind == GraphNode::Kind::Op ? op_name(g.call.op) : "value") + ")";
}

int Program::index_of(const std::string& name, const char* who) const {
  for (size_t i = 0; i < graph_.nodes.size(); ++i)
    if (graph_.nodes[i].name == name) return static_cast<int>(i);
  throw Error(std::string(who) + ": no node named '" + name + "'");
}

std::vector<std::string> Program::param_names() const {
  std::vector<std::string> out;
  for (const auto& n : graph_.nodes)
    if (n.kind == GraphNode::Kind::Param) out.push_back(n.name);
  return out;
}

std::vector<std::string> Program::input_names() const {
  std::vector<std::string> out;
  for (const auto& n : graph_.nodes)
    if (n.kind == GraphNode::Kind::Input) out.push_back(n.name);
  return out;
}

std::vector<std::string> Program::node_names() const {
  std::vector<std::string> out;
  for (const auto& n : graph_.nodes) out.push_back(n.name);
  return out;
}

Tensor Program::param(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("param");
  const int i = index_of(name, "param");
  if (graph_.nodes[i].kind != GraphNode::Kind::Param) throw Error("param: node '" + name + "' is not a parameter");
  QueueScope scope(backend_, queue_.get());
  return backend_.to_host(params_[i]).clone();
}

void Program::set_param(const std::string& name, const Tensor& value) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("setParam");
  const int i = index_of(name, "setParam");
  GraphNode& node = graph_.nodes[i];
  if (node.kind != GraphNode::Kind::Param) throw Error("setParam: node '" + name + "' is not a parameter");
  if (value.shape() != node.value.shape())
    throw Error("setParam: parameter '" + name + "' has shape " + shape_str(node.value.shape()) +
                " but the new value has " + shape_str(value.shape()));
  QueueScope scope(backend_, queue_.get());
  node.value = value.device() == Device::Host ? value.clone() : backend_of(value).to_host(value);
  params_[i] = backend_.from_host(node.value);
  backend_.synchronize();
  have_saved_ = false;  // retained activations no longer match the parameters
  saved_.clear();
}

std::vector<Shape> Program::shapes_for(const std::map<std::string, Tensor>& feeds, const std::vector<bool>& needed,
                                       const char* who) {
  const int n = static_cast<int>(graph_.nodes.size());
  std::vector<Shape> shapes(n);
  for (int i = 0; i < n; ++i) {
    if (!needed[i]) continue;
    const GraphNode& node = graph_.nodes[i];
    switch (node.kind) {
      case GraphNode::Kind::Input: {
        auto it = feeds.find(node.name);
        if (it == feeds.end()) throw Error(std::string(who) + ": input '" + node.name + "' was not given");
        if (!shape_matches(node.shape, it->second.shape()))
          throw Error(std::string(who) + ": input '" + node.name + "' expects shape " + shape_str(node.shape) +
                      " (-1 = any) but received " + shape_str(it->second.shape()));
        shapes[i] = it->second.shape();
        break;
      }
      case GraphNode::Kind::Param:
        shapes[i] = params_[i].shape();
        break;
      case GraphNode::Kind::Op: {
        std::vector<Shape> in;
        for (int k : node.inputs) in.push_back(shapes[k]);
        try {
          shapes[i] = infer_shape(node.call, in);
          shape_numel(shapes[i]);  // throws when the element count overflows
        } catch (const Error& e) {
          throw Error("node '" + node.name + "': " + e.what());
        }
        break;
      }
    }
  }
  return shapes;
}

std::map<std::string, Shape> Program::infer_shapes(const std::map<std::string, Shape>& input_shapes) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("inferShapes");
  std::map<std::string, Tensor> fake;
  for (const auto& [name, shape] : input_shapes) fake[name] = Tensor(shape, nullptr);
  std::vector<bool> all(graph_.nodes.size(), true);
  const auto shapes = shapes_for(fake, all, "inferShapes");
  std::map<std::string, Shape> out;
  for (size_t i = 0; i < shapes.size(); ++i) out[graph_.nodes[i].name] = shapes[i];
  return out;
}

// Buffers are recycled by element count: a freed buffer serves any later
// request of the same or slightly smaller size (up to 2x waste), which is what
// a VGG-style chain of same-sized activations needs.
Tensor Program::take_buffer(const Shape& shape) {
  const int64_t n = std::max<int64_t>(shape_numel(shape), 1);
  auto it = pool_.lower_bound(n);
  if (it != pool_.end() && it->first <= 2 * n) {
    Tensor t(shape, it->second.storage());
    pool_.erase(it);
    return t;
  }
  return backend_.alloc(shape);
}

void Program::give_buffer(Tensor t) {
  if (t.empty() || t.storage().use_count() > 1) return;  // still referenced elsewhere
  pool_.emplace(t.storage()->numel, t);
}

std::map<std::string, Tensor> Program::forward(const std::map<std::string, Tensor>& feeds,
                                               const std::vector<std::string>& taps, bool keep,
                                               bool device_results) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("forward");
  QueueScope scope(backend_, queue_.get());
  const int n = static_cast<int>(graph_.nodes.size());
  for (const auto& [name, t] : feeds) {
    const int i = index_of(name, "forward");
    if (graph_.nodes[i].kind != GraphNode::Kind::Input)
      throw Error("forward: '" + name + "' is not an input of the network");
    if (t.empty()) throw Error("forward: input '" + name + "' has no data");
    check_memory(t, "forward: input '" + name + "'");
  }
  // Truncate: only the ancestors of the taps run.
  std::vector<int> tap_idx;
  for (const auto& t : taps) tap_idx.push_back(index_of(t, "forward"));
  if (tap_idx.empty()) tap_idx.push_back(n - 1);
  std::vector<bool> needed(n, false), is_tap(n, false);
  for (int t : tap_idx) needed[t] = is_tap[t] = true;
  for (int i = n - 1; i >= 0; --i)
    if (needed[i])
      for (int k : graph_.nodes[i].inputs) needed[k] = true;

  const std::vector<Shape> shapes = shapes_for(feeds, needed, "forward");

  // Liveness: the last needed consumer of each node; with keep, also whether
  // some derivative will read it.
  std::vector<int> last_use(n, -1);
  std::vector<bool> retain(n, false);
  for (int i = 0; i < n; ++i) {
    if (!needed[i] || graph_.nodes[i].kind != GraphNode::Kind::Op) continue;
    const OpInfo& info = op_info(graph_.nodes[i].call.op);
    for (int k : graph_.nodes[i].inputs) {
      last_use[k] = i;
      if (keep && info.backward_needs_inputs) retain[k] = true;
    }
    if (keep && info.backward_needs_output) retain[i] = true;
  }

  // Inference fusion: a conv whose only reader is a relu or clip (and which is
  // not itself tapped) writes the activation's output directly; see Epilogue.
  std::vector<int> fused_into(n, -1);
  std::vector<bool> skip(n, false);
  if (!keep && backend_.fuses_activation()) {
    std::vector<int> readers(n, 0), reader(n, -1);
    for (int j = 0; j < n; ++j)
      if (needed[j] && graph_.nodes[j].kind == GraphNode::Kind::Op)
        for (int k : graph_.nodes[j].inputs) ++readers[k], reader[k] = j;
    for (int i = 0; i < n; ++i) {
      const GraphNode& node = graph_.nodes[i];
      if (!needed[i] || is_tap[i] || node.kind != GraphNode::Kind::Op || node.call.op != Op::Conv2d || readers[i] != 1)
        continue;
      const Op act = graph_.nodes[reader[i]].call.op;
      if (act == Op::Relu || act == Op::Clip) fused_into[i] = reader[i], skip[reader[i]] = true;
    }
  }

  saved_.assign(n, Tensor());
  have_saved_ = false;
  std::vector<Tensor> values(n);
  for (int i = 0; i < n; ++i) {
    if (!needed[i] || skip[i]) continue;
    GraphNode& node = graph_.nodes[i];
    if (node.kind == GraphNode::Kind::Input) {
      values[i] = backend_.from_host(feeds.at(node.name));
    } else if (node.kind == GraphNode::Kind::Param) {
      values[i] = params_[i];
    } else {
      Inputs in;
      for (int k : node.inputs) in.push_back(&values[k]);
      Tensor out = take_buffer(shapes[i]);
      const int j = fused_into[i];
      try {
        if (j < 0) {
          backend_.forward(node.call, in, out);
        } else {
          OpCall fused = node.call;
          Epilogue& ep = std::get<Conv2dAttrs>(fused.attrs).epilogue;
          const OpCall& act = graph_.nodes[j].call;
          if (act.op == Op::Relu) {
            ep.kind = Epilogue::Kind::Relu;
          } else {
            ep.kind = Epilogue::Kind::Clip;
            ep.lo = act.get<ClipAttrs>().lo;
            ep.hi = act.get<ClipAttrs>().hi;
          }
          backend_.forward(fused, in, out);
        }
      } catch (const Error& e) {
        throw Error(where(i) + ": " + e.what());
      }
      values[j < 0 ? i : j] = out;
      for (int k : node.inputs) {
        if (last_use[k] == i && !is_tap[k] && !retain[k] && graph_.nodes[k].kind == GraphNode::Kind::Op) {
          Tensor dead = values[k];
          values[k] = Tensor();
          give_buffer(std::move(dead));
        }
      }
    }
  }
  backend_.synchronize();

  std::map<std::string, Tensor> result;
  for (int t : tap_idx) {
    // A tap handed to the caller must not alias a buffer the Program reuses
    // (taps never go back to the pool; parameters are copied).
    const bool param = graph_.nodes[t].kind == GraphNode::Kind::Param;
    Tensor out = device_results ? (param ? backend_.clone(values[t]) : values[t])
                                : (param ? backend_.to_host(values[t]).clone() : backend_.to_host(values[t]));
    result[graph_.nodes[t].name] = out;
  }
  if (keep) {
    for (int i = 0; i < n; ++i)  // parameters are read from params_ directly
      if (retain[i] && graph_.nodes[i].kind != GraphNode::Kind::Param) saved_[i] = values[i];
    saved_shapes_ = shapes;
    saved_needed_ = needed;
    have_saved_ = true;
  }
  for (int i = 0; i < n; ++i)
    if (!retain[i] && !is_tap[i] && graph_.nodes[i].kind == GraphNode::Kind::Op) give_buffer(std::move(values[i]));
  return result;
}

BackwardResult Program::backward(const std::map<std::string, Tensor>& seeds, const std::vector<std::string>& params,
                                 bool want_inputs, bool device_results) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("backward");
  QueueScope scope(backend_, queue_.get());
  if (!have_saved_)
    throw Error("backward: no retained forward pass; call forward with keep (grad) enabled first");
  if (seeds.empty()) throw Error("backward: no gradient was given at any tap");
  const int n = static_cast<int>(graph_.nodes.size());

  // Which nodes a gradient must flow into.
  std::vector<bool> wants(n, false);
  for (const auto& p : params) {
    const int i = index_of(p, "backward");
    if (graph_.nodes[i].kind != GraphNode::Kind::Param)
      throw Error("backward: '" + p + "' is not a parameter");
    wants[i] = true;
  }
  if (want_inputs)
    for (int i = 0; i < n; ++i)
      if (graph_.nodes[i].kind == GraphNode::Kind::Input) wants[i] = true;
  std::vector<bool> requires_grad(n, false);
  for (int i = 0; i < n; ++i) {
    if (!saved_needed_[i]) continue;
    requires_grad[i] = wants[i];
    for (int k : graph_.nodes[i].inputs) requires_grad[i] = requires_grad[i] || requires_grad[k];
  }

  std::vector<Tensor> grads(n);
  for (const auto& [name, g] : seeds) {
    const int i = index_of(name, "backward");
    if (!saved_needed_[i]) throw Error("backward: tap '" + name + "' was not computed by the last forward");
    if (g.shape() != saved_shapes_[i])
      throw Error("backward: gradient for '" + name + "' has shape " + shape_str(g.shape()) + " but the tap has " +
                  shape_str(saved_shapes_[i]));
    check_memory(g, "backward: gradient for '" + name + "'");
    grads[i] = backend_.from_host(g);  // read-only as dy; sums make new tensors
  }

  const OpCall add_call{Op::Add, NoAttrs{}};
  for (int i = n - 1; i >= 0; --i) {
    GraphNode& node = graph_.nodes[i];
    if (node.kind != GraphNode::Kind::Op || grads[i].empty() || !requires_grad[i]) continue;
    const OpInfo& info = op_info(node.call.op);
    Inputs in;
    Grads din;
    std::vector<Tensor> din_store(node.inputs.size());
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int k = node.inputs[j];
      const Tensor& v = graph_.nodes[k].kind == GraphNode::Kind::Param ? params_[k] : saved_[k];
      in.push_back(info.backward_needs_inputs ? &v : nullptr);
      if (requires_grad[k]) din_store[j] = backend_.alloc(saved_shapes_[k]);
    }
    for (auto& t : din_store) din.push_back(t.empty() ? nullptr : &t);
    const Tensor empty;
    try {
      backend_.backward(node.call, in, info.backward_needs_output ? saved_[i] : empty, grads[i], din);
    } catch (const Error& e) {
      throw Error(where(i) + " backward: " + e.what());
    }
    grads[i] = Tensor();
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      if (din_store[j].empty()) continue;
      const int k = node.inputs[j];
      if (grads[k].empty()) {
        grads[k] = din_store[j];
      } else {
        Tensor sum = backend_.alloc(saved_shapes_[k]);
        backend_.forward(add_call, {&grads[k], &din_store[j]}, sum);
        grads[k] = sum;
      }
    }
  }
  backend_.synchronize();

  BackwardResult result;
  for (int i = 0; i < n; ++i) {
    const GraphNode& node = graph_.nodes[i];
    if (!wants[i]) continue;
    Tensor g = grads[i].empty() ? Tensor(node.kind == GraphNode::Kind::Param ? params_[i].shape() : saved_shapes_[i])
                                : device_results ? grads[i] : backend_.to_host(grads[i]);
    if (grads[i].empty() && device_results) g = backend_.from_host(g);
    if (!saved_needed_[i] && node.kind == GraphNode::Kind::Input) continue;  // input unused by this pass
    (node.kind == GraphNode::Kind::Param ? result.params : result.inputs)[node.name] = g;
  }
  return result;
}

void Program::release() {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("release");
  saved_.clear();
  have_saved_ = false;
  pool_.clear();
  // A fresh queue: the old one finishes its work and hands its cached device
  // blocks to the shared cache now, not when the Program is finally destroyed.
  if (queue_) queue_ = backend_.make_queue(options_);
}

void Program::dispose() {
  std::lock_guard<std::mutex> lk(mu_);
  saved_.clear();
  have_saved_ = false;
  pool_.clear();
  params_.assign(params_.size(), Tensor());
  for (GraphNode& node : graph_.nodes) node.value = Tensor();
  disposed_ = true;
  queue_.reset();
}

void Program::check_live(const char* who) const {
  if (disposed_) throw Error(std::string(who) + ": the network was disposed");
}

int64_t Program::retained_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  int64_t b = 0;
  std::set<const Storage*> seen;
  for (const auto& t : saved_)
    if (!t.empty() && seen.insert(t.storage().get()).second) b += t.storage()->numel * 4;
  return b;
}

int64_t Program::pool_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  int64_t b = 0;
  for (const auto& [k, t] : pool_) b += k * 4;
  return b;
}

}  // namespace ec
