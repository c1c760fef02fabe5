// Program: a network graph compiled for one backend, run forward and backward.
//
// A Graph is a list of nodes in topological order (a node's inputs are earlier
// nodes): named inputs (placeholders fed at each run), named parameters
// (tensors owned by the Program, e.g. filters or a style target) and op nodes.
//
// forward(feeds, taps, keep) computes only what the taps depend on (the
// Program is truncated after the deepest tap). Intermediate buffers are freed
// after their last use and reused from a pool. What runs, when each value
// dies, what is kept and which ops are fused is a ForwardPlan, made once per
// (input shapes, taps, keep) and cached. With keep=true forward also retains
// exactly what the derivatives need, so backward(seeds) can then propagate
// gradients given at the taps back to the inputs and to the parameters asked for.
//
// Thread-safety: calls on one Program are serialized by an internal mutex.
// Each Program has its own backend queue (a CUDA stream), so Programs called
// from different threads run concurrently on one device.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace ec {

struct GraphNode {
  enum class Kind { Input, Param, Op };
  Kind kind = Kind::Op;
  std::string name;
  OpCall call{Op::COUNT, NoAttrs{}};  // Kind::Op only
  std::vector<int> inputs;              // indices of earlier nodes (Kind::Op only)
  Shape shape;                          // Input: expected shape, -1 = any size
  Tensor value;                         // Param: its value (host memory)
};

struct Graph {
  std::vector<GraphNode> nodes;
};

struct BackwardResult {
  std::map<std::string, Tensor> inputs;  // gradient for each input that reaches a seeded tap
  std::map<std::string, Tensor> params;  // gradient for each requested parameter
};

class Program {
 public:
  // Validates the graph (names, references, arity, backend support) and
  // moves parameters to the backend. Throws ec::Error.
  Program(Graph graph, Backend& backend, const QueueOptions& options = {});

  // Feeds are tensors by input name, in host memory or the backend's; taps are
  // node names. Returns host tensors, or with device_results tensors left in
  // the backend's memory (for optimizers that run on the device).
  std::map<std::string, Tensor> forward(const std::map<std::string, Tensor>& feeds,
                                        const std::vector<std::string>& taps, bool keep,
                                        bool device_results = false);
  // Seeds: gradient of the objective at each tap (same shape as the tap's value).
  // Requires a previous forward with keep=true; params lists the parameters
  // whose gradient is wanted (none: input gradients only). With last, this is
  // the last backward of that forward: each kept activation goes back to the
  // buffer pool as soon as the last backward step that reads it has run (so
  // the gradients of earlier layers reuse it), a max pool over a relu that
  // nothing else reads writes its gradient over the relu's kept output, pooled
  // buffers too small for a request are released before a new one is made,
  // and a further backward throws. Each node's backward runs just before its
  // inputs need their gradient, so a branch's gradient is made only then.
  BackwardResult backward(const std::map<std::string, Tensor>& seeds, const std::vector<std::string>& params,
                          bool want_inputs, bool device_results = false, bool last = false);
  // Frees what forward(keep=true) retained and the buffer pool, and gives
  // the backend's cached blocks of this Program's queue back for shared use.
  void release();
  // Frees everything the Program holds on its backend, parameters included;
  // every later call throws.
  void dispose();

  Tensor param(const std::string& name);
  void set_param(const std::string& name, const Tensor& value);
  std::vector<std::string> param_names() const;
  std::vector<std::string> input_names() const;
  std::vector<std::string> node_names() const;
  // Output shape of `name` for the given input shapes (no computation).
  std::map<std::string, Shape> infer_shapes(const std::map<std::string, Shape>& input_shapes);
  Backend& backend() { return backend_; }
  // Bytes held by retained activations and the buffer pool (for tests and benches).
  int64_t retained_bytes() const;
  int64_t pool_bytes() const;
  // Forward plans held (one per input shapes, taps and grad seen; for tests).
  size_t plan_count() const;

 private:
  // One node's work in a forward pass.
  struct Step {
    int node;                  // the node computed
    int dest;                  // where its value goes: the node, or the activation fused into it
    Epilogue epilogue;         // Kind::None unless an activation is fused (conv2d only)
    std::vector<int> frees;    // values whose last reader this is: back to the pool after it
  };
  struct ForwardPlan {
    std::vector<int> taps;                  // node indices
    std::vector<bool> needed, is_tap, retain;  // by node; retain: backward reads it
    std::vector<Shape> shapes;              // by node (needed ones)
    std::vector<Step> steps;                // in order
  };
  struct PlanKey {
    bool keep;
    std::vector<int> taps;
    std::vector<Shape> shapes;  // by input node; {-1}: not fed
    bool operator<(const PlanKey& o) const { return std::tie(keep, taps, shapes) < std::tie(o.keep, o.taps, o.shapes); }
  };
  static constexpr size_t kMaxPlans = 16;

  void check_feeds(const std::map<std::string, Tensor>& feeds);
  std::shared_ptr<const ForwardPlan> plan_for(const std::map<std::string, Tensor>& feeds,
                                              const std::vector<std::string>& taps, bool keep);
  std::vector<Tensor> run_plan(const ForwardPlan& plan, const std::map<std::string, Tensor>& feeds);
  int index_of(const std::string& name, const char* who) const;
  std::vector<Shape> shapes_for(const std::map<std::string, Tensor>& feeds, const std::vector<bool>& needed,
                                const char* who);
  Tensor take_buffer(const Shape& shape);
  void give_buffer(Tensor t);
  // Records a buffer handed to the caller (a tap or a gradient); once the
  // caller has dropped it, reclaim_lent() puts it back in the pool, so
  // repeated calls reuse the same pages.
  void lend(const Tensor& given, const Tensor& ours);
  void reclaim_lent();
  void check_memory(const Tensor& t, const std::string& what) const;
  void check_live(const char* who) const;
  std::string where(int node) const;

  Graph graph_;
  Backend& backend_;
  QueueOptions options_;
  std::unique_ptr<Queue> queue_;  // declared before every tensor member: destroyed after them
  std::vector<Tensor> params_;           // backend-resident parameter values, by node index
  std::multimap<int64_t, Tensor> pool_;  // free buffers by element count
  std::vector<std::shared_ptr<Storage>> lent_;  // pool buffers the caller may still hold
  std::unordered_map<std::string, int> index_;  // node index by name
  std::vector<int> input_nodes_;
  std::map<PlanKey, std::shared_ptr<const ForwardPlan>> plans_;
  // State kept by forward(keep=true) for backward.
  std::vector<Tensor> saved_;
  std::shared_ptr<const ForwardPlan> saved_plan_;
  bool have_saved_ = false;
  bool trim_on_miss_ = false;  // set during a last backward (see take_buffer)
  bool disposed_ = false;
  mutable std::mutex mu_;
};

}  // namespace ec
