// libFuzzer target: a graph built from the fuzzer's bytes (input shapes, ops,
// every attribute field, parameter shapes, which nodes feed which) is
// compiled into a Program on the CPU backend, its shapes inferred, and, when
// small, run forward and backward. Bad graphs must end in ec::Error (a clean
// message); anything else (a crash, a sanitizer report, another exception)
// is a finding. Build: -DEYECANDY_FUZZ=ON with clang (see RELIABILITY.md).
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/ops.h"
#include "core/program.h"
#include "core/tensor.h"

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  // Small integers mostly, sometimes edge values.
  int small_int() {
    const uint8_t k = u8();
    switch (k >> 5) {
      case 0: return 0;
      case 1: return -static_cast<int>(k & 3);
      case 7: {
        static const int edge[] = {1 << 20, -(1 << 30), 2147483647, -2147483647 - 1, 65536, 4096, 1023, 1025};
        return edge[k & 7];
      }
      default: return k & 15;
    }
  }
  float number() {
    const uint8_t k = u8();
    static const float special[] = {0.f, -1.f, 1e30f, -1e-30f, 1e-7f, 255.f, 0.5f, 2.f};
    return k < 8 ? special[k] : static_cast<float>(static_cast<int>(k) - 128) / 16.f;
  }
};

// Fills every attribute field from the bytes.
struct FuzzVisitor {
  Reader& r;
  void integer(const char*, int& v) { v = r.small_int(); }
  void number(const char*, float& v) { v = r.number(); }
  void boolean(const char*, bool& v) { v = r.u8() & 1; }
  void pair(const char*, int& a, int& b) { a = r.small_int(), b = r.small_int(); }
  void quad(const char*, int& a, int& b, int& c, int& d) {
    a = r.small_int(), b = r.small_int(), c = r.small_int(), d = r.small_int();
  }
  template <class T> void ints(const char*, std::vector<T>& v) {
    v.resize(r.u8() % 6);
    for (auto& x : v) x = r.small_int();
  }
  template <class E, size_t N> void choice(const char*, const char*, E& e, const ec::EnumName (&names)[N]) {
    const uint8_t k = r.u8();
    e = static_cast<E>(k < 250 ? names[k % N].value : static_cast<int>(k));  // now and then out of range
  }
};

ec::Shape shape_from(Reader& r) {
  ec::Shape s(r.u8() % 5);
  for (auto& d : s) d = r.u8() % 9;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  ec::Graph g;
  std::map<std::string, ec::Tensor> feeds;
  std::map<std::string, ec::Shape> feed_shapes;
  const int inputs = 1 + r.u8() % 2;
  for (int i = 0; i < inputs; ++i) {
    ec::GraphNode n;
    n.kind = ec::GraphNode::Kind::Input;
    n.name = "x" + std::to_string(i);
    const ec::Shape s = shape_from(r);
    n.shape = s;
    if (r.u8() & 1) n.shape.assign(s.size(), -1);
    ec::Tensor t(s);
    for (int64_t k = 0; k < t.numel(); ++k) t.data()[k] = static_cast<float>(k % 7) - 3.f;
    feeds[n.name] = t;
    feed_shapes[n.name] = s;
    g.nodes.push_back(std::move(n));
  }
  const int params = r.u8() % 3;
  for (int i = 0; i < params; ++i) {
    ec::GraphNode n;
    n.kind = ec::GraphNode::Kind::Param;
    n.name = "w" + std::to_string(i);
    n.value = ec::Tensor(shape_from(r));
    for (int64_t k = 0; k < n.value.numel(); ++k) n.value.data()[k] = 0.25f * static_cast<float>(k % 5);
    g.nodes.push_back(std::move(n));
  }
  const int ops = 1 + r.u8() % 4;
  for (int i = 0; i < ops; ++i) {
    ec::GraphNode n;
    n.name = "op" + std::to_string(i);
    const ec::Op op = static_cast<ec::Op>(r.u8() % ec::kOpCount);
    n.call = ec::OpCall{op, ec::default_attrs(op)};
    FuzzVisitor v{r};
    ec::visit_fields(n.call.attrs, v);
    const int arity = r.u8() % 4;
    for (int k = 0; k < arity; ++k) n.inputs.push_back(static_cast<int>(r.u8() % (g.nodes.size() + 1)) - (r.u8() == 255 ? 3 : 0));
    g.nodes.push_back(std::move(n));
  }
  const std::string last = g.nodes.back().name;
  try {
    ec::Program p(g, ec::backend_by_name("cpu"));
    const auto shapes = p.infer_shapes(feed_shapes);
    int64_t total = 0;
    for (const auto& [name, s] : shapes) total += ec::shape_numel(s);
    if (total > (1 << 16)) return 0;
    auto out = p.forward(feeds, {last}, true);
    ec::Tensor seed(out.at(last).shape());
    for (int64_t k = 0; k < seed.numel(); ++k) seed.data()[k] = 1.f;
    p.backward({{last, seed}}, p.param_names(), true);
  } catch (const ec::Error&) {
    // a clean refusal
  }
  return 0;
}
