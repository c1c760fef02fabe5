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
  const int n = static_cast<int>(graph_.nodes.size());
  if (n == 0) throw Error("program: the graph has no nodes");
  params_.resize(n);
  for (int i = 0; i < n; ++i) {
    GraphNode& node = graph_.nodes[i];
    if (node.name.empty()) throw Error("program: node " + str(i) + " has no name");
    if (!index_.emplace(node.name, i).second) throw Error("program: node name '" + node.name + "' is used twice");
    switch (node.kind) {
      case GraphNode::Kind::Input:
        input_nodes_.push_back(i);
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
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
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
  saved_plan_.reset();
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
  // A miss in a last backward: the pooled buffers too small for this request
  // go back first, as many as this one takes (the largest first), so that
  // freed buffers which cannot serve it (a VGG backward reaching the large
  // early layers with the later layers' small ones pooled) do not add to the peak.
  for (int64_t freed = 0; trim_on_miss_ && freed < n;) {
    auto small = pool_.lower_bound(n);
    if (small == pool_.begin()) break;
    --small;
    freed += small->first;
    pool_.erase(small);
  }
  return backend_.alloc(shape);
}

void Program::give_buffer(Tensor t) {
  if (t.empty() || t.storage().use_count() > 1) return;  // still referenced elsewhere
  pool_.emplace(t.storage()->numel, t);
}

// At most this many lent buffers are remembered; older ones are simply left
// to their holders.
constexpr size_t kMaxLent = 64;

void Program::lend(const Tensor& given, const Tensor& ours) {
  if (given.empty() || given.storage() != ours.storage()) return;  // a copy: nothing of ours went out
  for (const auto& s : lent_)
    if (s == given.storage()) return;
  if (lent_.size() >= kMaxLent) lent_.erase(lent_.begin());
  lent_.push_back(given.storage());
}

void Program::reclaim_lent() {
  // use_count 1: only this list holds it, so no one else can reach it any more.
  for (auto it = lent_.begin(); it != lent_.end();) {
    if (it->use_count() == 1) {
      const int64_t numel = (*it)->numel;
      pool_.emplace(numel, Tensor({numel}, std::move(*it)));
      it = lent_.erase(it);
    } else {
      ++it;
    }
  }
}

// The forward plan for one (input shapes, taps, keep): which nodes run, when
// each value dies, what backward keeps, and which convs take their activation
// as an epilogue. Computed on the first call with that key, then reused.
std::shared_ptr<const Program::ForwardPlan> Program::plan_for(const std::map<std::string, Tensor>& feeds,
                                                              const std::vector<std::string>& taps, bool keep) {
  const int n = static_cast<int>(graph_.nodes.size());
  PlanKey key;
  key.keep = keep;
  for (const auto& t : taps) key.taps.push_back(index_of(t, "forward"));
  if (key.taps.empty()) key.taps.push_back(n - 1);
  for (int i : input_nodes_) {
    auto it = feeds.find(graph_.nodes[i].name);
    key.shapes.push_back(it == feeds.end() ? Shape{-1} : it->second.shape());  // -1: not given
  }
  auto hit = plans_.find(key);
  if (hit != plans_.end()) return hit->second;

  auto p = std::make_shared<ForwardPlan>();
  ForwardPlan& plan = *p;
  plan.taps = key.taps;
  // Truncate: only the ancestors of the taps run.
  plan.needed.assign(n, false);
  plan.is_tap.assign(n, false);
  for (int t : plan.taps) plan.needed[t] = plan.is_tap[t] = true;
  for (int i = n - 1; i >= 0; --i)
    if (plan.needed[i])
      for (int k : graph_.nodes[i].inputs) plan.needed[k] = true;

  plan.shapes = shapes_for(feeds, plan.needed, "forward");

  // Liveness: the last needed consumer of each node; with keep, also whether
  // some derivative will read it.
  std::vector<int> last_use(n, -1);
  plan.retain.assign(n, false);
  for (int i = 0; i < n; ++i) {
    if (!plan.needed[i] || graph_.nodes[i].kind != GraphNode::Kind::Op) continue;
    const OpInfo& info = op_info(graph_.nodes[i].call.op);
    for (int k : graph_.nodes[i].inputs) {
      last_use[k] = i;
      if (keep && info.backward_needs_inputs) plan.retain[k] = true;
    }
    if (keep && info.backward_needs_output) plan.retain[i] = true;
  }

  // Fusion: a conv whose only reader is a relu or clip (and which is not
  // itself tapped) writes the activation's output directly. When keeping for
  // backward, only relu, whose derivative reads its output alone: the conv's
  // own output is then never needed.
  std::vector<int> fused_into(n, -1);
  std::vector<Epilogue> epilogue(n);
  std::vector<bool> skip(n, false);
  if (backend_.fuses_activation()) {
    std::vector<int> readers(n, 0), reader(n, -1);
    for (int j = 0; j < n; ++j)
      if (plan.needed[j] && graph_.nodes[j].kind == GraphNode::Kind::Op)
        for (int k : graph_.nodes[j].inputs) ++readers[k], reader[k] = j;
    for (int i = 0; i < n; ++i) {
      const GraphNode& node = graph_.nodes[i];
      if (!plan.needed[i] || plan.is_tap[i] || node.kind != GraphNode::Kind::Op || node.call.op != Op::Conv2d ||
          readers[i] != 1)
        continue;
      const OpCall& act = graph_.nodes[reader[i]].call;
      if (keep && (act.op != Op::Relu || plan.retain[i])) continue;
      if (act.op == Op::Relu) {
        epilogue[i].kind = Epilogue::Kind::Relu;
      } else if (act.op == Op::Clip) {
        epilogue[i] = {Epilogue::Kind::Clip, act.get<ClipAttrs>().lo, act.get<ClipAttrs>().hi};
      } else {
        continue;
      }
      fused_into[i] = reader[i], skip[reader[i]] = true;
    }
  }

  // The steps in order; after each op, the inputs whose last use it was go
  // back to the buffer pool.
  for (int i = 0; i < n; ++i) {
    if (!plan.needed[i] || skip[i]) continue;
    Step s;
    s.node = i;
    s.dest = fused_into[i] < 0 ? i : fused_into[i];
    s.epilogue = epilogue[i];
    const GraphNode& node = graph_.nodes[i];
    if (node.kind == GraphNode::Kind::Op)
      for (int k : node.inputs)
        if (last_use[k] == i && !plan.is_tap[k] && !plan.retain[k] && graph_.nodes[k].kind == GraphNode::Kind::Op &&
            std::find(s.frees.begin(), s.frees.end(), k) == s.frees.end())
          s.frees.push_back(k);
    plan.steps.push_back(std::move(s));
  }
  if (plans_.size() >= kMaxPlans) plans_.clear();  // shapes that keep changing: start over
  plans_.emplace(std::move(key), p);
  return p;
}

void Program::check_feeds(const std::map<std::string, Tensor>& feeds) {
  for (const auto& [name, t] : feeds) {
    const int i = index_of(name, "forward");
    if (graph_.nodes[i].kind != GraphNode::Kind::Input)
      throw Error("forward: '" + name + "' is not an input of the network");
    if (t.empty()) throw Error("forward: input '" + name + "' has no data");
    check_memory(t, "forward: input '" + name + "'");
  }
}

std::vector<Tensor> Program::run_plan(const ForwardPlan& plan, const std::map<std::string, Tensor>& feeds) {
  std::vector<Tensor> values(graph_.nodes.size());
  for (const Step& s : plan.steps) {
    const GraphNode& node = graph_.nodes[s.node];
    if (node.kind == GraphNode::Kind::Input) {
      values[s.node] = backend_.from_host(feeds.at(node.name));
      continue;
    }
    if (node.kind == GraphNode::Kind::Param) {
      values[s.node] = params_[s.node];
      continue;
    }
    Inputs in;
    for (int k : node.inputs) in.push_back(&values[k]);
    Tensor out = take_buffer(plan.shapes[s.node]);
    try {
      if (s.epilogue.kind == Epilogue::Kind::None) backend_.forward(node.call, in, out);
      else backend_.conv2d_fused(node.call, in, out, s.epilogue);
    } catch (const Error& e) {
      throw Error(where(s.node) + ": " + e.what());
    }
    values[s.dest] = out;
    for (int k : s.frees) give_buffer(std::move(values[k]));
  }
  backend_.synchronize();
  return values;
}

std::map<std::string, Tensor> Program::forward(const std::map<std::string, Tensor>& feeds,
                                               const std::vector<std::string>& taps, bool keep,
                                               bool device_results) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("forward");
  QueueScope scope(backend_, queue_.get());
  check_feeds(feeds);
  const std::shared_ptr<const ForwardPlan> plan = plan_for(feeds, taps, keep);
  reclaim_lent();
  // The last pass's kept activations serve this one's buffers (no fresh pages per call).
  for (size_t i = 0; i < saved_.size(); ++i)
    if (graph_.nodes[i].kind == GraphNode::Kind::Op) give_buffer(std::move(saved_[i]));
  saved_.clear();
  have_saved_ = false;
  std::vector<Tensor> values = run_plan(*plan, feeds);

  std::map<std::string, Tensor> result;
  for (int t : plan->taps) {
    // A tap handed to the caller must not alias a buffer the Program reuses
    // (taps never go back to the pool; parameters are copied).
    const bool param = graph_.nodes[t].kind == GraphNode::Kind::Param;
    Tensor out = device_results ? (param ? backend_.clone(values[t]) : values[t])
                                : (param ? backend_.to_host(values[t]).clone() : backend_.to_host(values[t]));
    if (graph_.nodes[t].kind == GraphNode::Kind::Op) lend(out, values[t]);
    result[graph_.nodes[t].name] = out;
  }
  const int n = static_cast<int>(graph_.nodes.size());
  if (keep) {
    saved_.assign(n, Tensor());
    for (int i = 0; i < n; ++i)  // parameters are read from params_ directly
      if (plan->retain[i] && graph_.nodes[i].kind != GraphNode::Kind::Param) saved_[i] = values[i];
    saved_plan_ = plan;
    have_saved_ = true;
  }
  for (int i = 0; i < n; ++i)
    if (!plan->retain[i] && !plan->is_tap[i] && graph_.nodes[i].kind == GraphNode::Kind::Op)
      give_buffer(std::move(values[i]));
  if (keep) {
    // Large buffers a keeping forward left unused wait in the pool for the
    // backward to reach layers of their size, beside every kept activation;
    // by then the later layers' buffers are free (and trimmed on a miss), so
    // they go back now. Small ones (an input gradient) stay: no fresh pages
    // per call for them.
    constexpr int64_t kIdleTrimFloats = (int64_t{16} << 20) / 4;
    for (auto it = pool_.begin(); it != pool_.end();) it = it->first >= kIdleTrimFloats ? pool_.erase(it) : std::next(it);
  }
  return result;
}

BackwardResult Program::backward(const std::map<std::string, Tensor>& seeds, const std::vector<std::string>& params,
                                 bool want_inputs, bool device_results, bool last) {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("backward");
  QueueScope scope(backend_, queue_.get());
  if (!have_saved_)
    throw Error("backward: no retained forward pass; call forward with keep (grad) enabled first");
  if (seeds.empty()) throw Error("backward: no gradient was given at any tap");
  reclaim_lent();
  const int n = static_cast<int>(graph_.nodes.size());
  const std::vector<bool>& needed = saved_plan_->needed;
  const std::vector<Shape>& shapes = saved_plan_->shapes;

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
    if (!needed[i]) continue;
    requires_grad[i] = wants[i];
    for (int k : graph_.nodes[i].inputs) requires_grad[i] = requires_grad[i] || requires_grad[k];
  }

  std::vector<Tensor> grads(n);
  for (const auto& [name, g] : seeds) {
    const int i = index_of(name, "backward");
    if (!needed[i]) throw Error("backward: tap '" + name + "' was not computed by the last forward");
    if (g.shape() != shapes[i])
      throw Error("backward: gradient for '" + name + "' has shape " + shape_str(g.shape()) + " but the tap has " +
                  shape_str(shapes[i]));
    check_memory(g, "backward: gradient for '" + name + "'");
    grads[i] = backend_.from_host(g);  // read-only as dy; sums make new tensors
  }

  // The order of the steps: each node's backward runs as late as it can, just
  // before the backward of the latest of its inputs that takes a gradient
  // (ties: the earlier node first). Every consumer of a node comes before it,
  // and in a chain this is simply from the last node down; but a branch off
  // the chain (a style Gram, a content loss) makes its input gradient only
  // when the chain reaches that input, instead of holding it from the start.
  std::vector<int> due(n, -1);
  for (int i = 0; i < n; ++i)
    if (needed[i] && graph_.nodes[i].kind == GraphNode::Kind::Op)
      for (int k : graph_.nodes[i].inputs)
        if (requires_grad[k]) due[i] = std::max(due[i], k);
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return due[a] != due[b] ? due[a] > due[b] : a < b; });

  // With last: the step after which each kept activation has no reader left.
  std::vector<std::vector<int>> free_after(n);
  if (last) {
    std::vector<int> pos(n), reader(n, -1);
    for (int p = 0; p < n; ++p) pos[order[p]] = p;
    auto read_by = [&](int k, int i) {
      if (reader[k] < 0 || pos[i] > pos[reader[k]]) reader[k] = i;
    };
    for (int i = 0; i < n; ++i) {
      const GraphNode& node = graph_.nodes[i];
      if (node.kind != GraphNode::Kind::Op || !needed[i]) continue;
      const OpInfo& info = op_info(node.call.op);
      if (info.backward_needs_inputs)
        for (int k : node.inputs) read_by(k, i);
      if (info.backward_needs_output) read_by(i, i);
    }
    for (int k = 0; k < n; ++k)
      if (graph_.nodes[k].kind == GraphNode::Kind::Op && !saved_[k].empty())
        free_after[reader[k] >= 0 ? reader[k] : order[0]].push_back(k);
  }

  // With last, a max pool whose input is a relu output that nothing else
  // reads writes its gradient over that kept output, the relu's backward
  // fused in (where the backend can), instead of into a new buffer of the
  // input's size; the relu's own step then just passes that gradient on.
  std::vector<bool> pool_over_relu(n, false), relu_done(n, false);
  if (last) {
    std::vector<int> readers(n, 0);
    for (int j = 0; j < n; ++j)
      if (needed[j] && graph_.nodes[j].kind == GraphNode::Kind::Op)
        for (int k : graph_.nodes[j].inputs) ++readers[k];
    for (int i = 0; i < n; ++i) {
      const GraphNode& node = graph_.nodes[i];
      if (!needed[i] || node.kind != GraphNode::Kind::Op || node.call.op != Op::MaxPool) continue;
      const int k = node.inputs[0];
      const GraphNode& in = graph_.nodes[k];
      pool_over_relu[i] = in.kind == GraphNode::Kind::Op && in.call.op == Op::Relu && readers[k] == 1 &&
                          !saved_plan_->is_tap[k] && requires_grad[k] && !saved_[k].empty();
    }
  }

  const OpCall add_call{Op::Add, NoAttrs{}};
  struct TrimOnMiss {
    bool& on;
    ~TrimOnMiss() { on = false; }
  } trim{trim_on_miss_};
  trim_on_miss_ = last;
  for (const int i : order) {
    GraphNode& node = graph_.nodes[i];
    struct FreeKept {  // runs when this step ends, whether it ran or was skipped
      Program* p;
      const std::vector<int>& ks;
      ~FreeKept() {
        for (int k : ks) p->give_buffer(std::move(p->saved_[k]));
      }
    } free_kept{this, free_after[i]};
    if (node.kind != GraphNode::Kind::Op || grads[i].empty() || !requires_grad[i]) continue;
    const OpInfo& info = op_info(node.call.op);
    if (pool_over_relu[i]) {
      const int k = node.inputs[0];
      if (saved_[k].storage().use_count() == 1 && grads[k].empty() &&
          backend_.max_pool_relu_backward_in_place(node.call, saved_[k], grads[i])) {
        grads[k] = std::move(saved_[k]);  // now the gradient at the relu's input
        saved_[k] = Tensor();
        relu_done[k] = true;
        give_buffer(std::move(grads[i]));
        grads[i] = Tensor();
        continue;
      }
    }
    Inputs in;
    Grads din;
    std::vector<Tensor> din_store(node.inputs.size());
    // A pointwise op's input gradient may overwrite its output gradient in
    // place (each element reads dy[i] before writing dx[i]) when no one else
    // holds dy: a caller's seed is still referenced and is never written.
    const bool in_place = relu_done[i] || ((info.flags & kPointwise) && node.inputs.size() == 1 && grads[i].storage().use_count() == 1 &&
                          shapes[node.inputs[0]] == shapes[i]);
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int k = node.inputs[j];
      const Tensor& v = graph_.nodes[k].kind == GraphNode::Kind::Param ? params_[k] : saved_[k];
      in.push_back(info.backward_needs_inputs ? &v : nullptr);
      if (requires_grad[k]) din_store[j] = in_place ? grads[i] : take_buffer(shapes[k]);  // kernels overwrite it
    }
    for (auto& t : din_store) din.push_back(t.empty() ? nullptr : &t);
    const Tensor empty;
    try {
      // A relu whose gradient its max pool already made: in_place holds (the
      // pool handed over a buffer of its own), so din is that gradient as is.
      if (!relu_done[i]) backend_.backward(node.call, in, info.backward_needs_output ? saved_[i] : empty, grads[i], din);
    } catch (const Error& e) {
      throw Error(where(i) + " backward: " + e.what());
    }
    give_buffer(std::move(grads[i]));  // a caller's seed is still referenced and stays out
    grads[i] = Tensor();
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      if (din_store[j].empty()) continue;
      const int k = node.inputs[j];
      if (grads[k].empty()) {
        grads[k] = din_store[j];
      } else if (grads[k].storage().use_count() == 1) {
        // Ours alone (not a caller's seed): sum in place, no third buffer.
        backend_.forward(add_call, {&grads[k], &din_store[j]}, grads[k]);
        give_buffer(std::move(din_store[j]));
      } else {
        Tensor sum = take_buffer(shapes[k]);
        backend_.forward(add_call, {&grads[k], &din_store[j]}, sum);
        give_buffer(std::move(grads[k]));
        give_buffer(std::move(din_store[j]));
        grads[k] = sum;
      }
    }
  }
  backend_.synchronize();

  BackwardResult result;
  for (int i = 0; i < n; ++i) {
    const GraphNode& node = graph_.nodes[i];
    if (!wants[i]) continue;
    Tensor g = grads[i].empty() ? Tensor(node.kind == GraphNode::Kind::Param ? params_[i].shape() : shapes[i])
                                : device_results ? grads[i] : backend_.to_host(grads[i]);
    if (grads[i].empty() && device_results) g = backend_.from_host(g);
    if (!needed[i] && node.kind == GraphNode::Kind::Input) continue;  // input unused by this pass
    if (!grads[i].empty()) lend(g, grads[i]);
    (node.kind == GraphNode::Kind::Param ? result.params : result.inputs)[node.name] = g;
  }
  if (last) {  // what is left of the kept pass (e.g. activations no step read) serves the next call
    for (int k = 0; k < n; ++k)
      if (graph_.nodes[k].kind == GraphNode::Kind::Op) give_buffer(std::move(saved_[k]));
    saved_.clear();
    saved_plan_.reset();
    have_saved_ = false;
  }
  return result;
}

void Program::release() {
  std::lock_guard<std::mutex> lk(mu_);
  check_live("release");
  saved_.clear();
  have_saved_ = false;
  pool_.clear();
  lent_.clear();
  // A fresh queue: the old one finishes its work and hands its cached device
  // blocks to the shared cache now, not when the Program is finally destroyed.
  if (queue_) queue_ = backend_.make_queue(options_);
}

void Program::dispose() {
  std::lock_guard<std::mutex> lk(mu_);
  saved_.clear();
  saved_plan_.reset();
  plans_.clear();
  have_saved_ = false;
  pool_.clear();
  lent_.clear();
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

size_t Program::plan_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return plans_.size();
}

int64_t Program::pool_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  int64_t b = 0;
  for (const auto& [k, t] : pool_) b += k * 4;
  for (const auto& st : lent_)  // handed out and since dropped: the next call's pool
    if (st.use_count() == 1) b += st->numel * 4;
  return b;
}

}  // namespace ec
