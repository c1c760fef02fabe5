// The op table: every op in ec::Op with a few tiny cases, as plain data.
//
// A case names an OpCall, the input shapes and how to draw each input's
// values. The CPU tests (op_table_test.cc) check gradients, full writes and
// determinism from it; another backend can run the same cases with inputs
// from make_inputs(case, seed) and compare its results against the CPU's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/ops.h"

namespace ec::test {

// How an input's values are drawn; all kinds are reproducible from a seed.
enum class Gen {
  Uniform,        // uniform in [lo, hi]
  Distinct,       // a shuffled even grid over [lo, hi]: max pools see no ties
  AwayFromKinks,  // uniform in [lo, hi] but never within kink_margin() of OpCase::kinks
  Positive,       // uniform in [lo, hi] with lo > 0 (variances, post-relu activations)
};

struct InputSpec {
  Shape shape;
  Gen gen = Gen::Uniform;
  float lo = -1.f, hi = 1.f;
  bool differentiable = true;  // the gradient check covers this input
};

struct OpCase {
  std::string name;  // "<op_name>.<variant>", unique
  OpCall call;
  std::vector<InputSpec> inputs;
  std::vector<float> kinks;  // where the op is not differentiable (relu 0, clip lo/hi)
  double eps_rel = 1e-2;     // finite-difference step relative to the input's scale
  // A gradient element passes when |analytic - numeric| <= atol + rtol * max|grad of that input|.
  double rtol = 2e-2;
  double atol = 1e-3;

  std::vector<Shape> shapes() const;
};

// Every case; op_table_test.cc fails if some op has none.
std::vector<OpCase> op_cases();

// A small, portable generator (splitmix64), so inputs match across compilers
// and backends for the same seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  float uniform(float lo, float hi);  // [lo, hi)
  int64_t below(int64_t n);           // [0, n)

 private:
  uint64_t state_;
};

// A stable 64-bit hash of a case name: its seed does not shift when cases are added.
uint64_t name_seed(const std::string& name);

// The central-difference step for input `i`: eps_rel * max(|lo|,|hi|), kept
// under a quarter of the Distinct grid spacing so a step never reorders values.
double fd_step(const OpCase& c, int i);
// How far AwayFromKinks values stay from each kink (always more than a step).
double kink_margin(const OpCase& c, int i);

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);
Tensor make_input(const OpCase& c, int i, uint64_t seed);
std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed);

}  // namespace ec::test
