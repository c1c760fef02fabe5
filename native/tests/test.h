// A small test registry for the native tests (no Node, no external framework).
//
//   TEST(conv2d_hand_case) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-5); }
//
// The runner (test_main.cc) runs every registered test, or those selected by
// its arguments (a name part selects, -part excludes; a filter that selects
// nothing is an error), and ends with the line "N passed, M failed, K skipped".
#pragma once
#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ec::test {

struct Case {
  std::string name, file;
  std::function<void()> fn;
};
std::vector<Case>& registry();
struct Registrar {
  Registrar(const char* name, const char* file, std::function<void()> fn) {
    registry().push_back({name, file, std::move(fn)});
  }
};
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown by SKIP(reason): the test could not run here (no GPU, ...). Counted
// as skipped, never as passed; a run where nothing passed and something was
// skipped exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
struct Skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
constexpr int kSkipExitCode = 77;

}  // namespace ec::test

#define TEST(name)                                                               \
  static void test_##name();                                                    \
  static ::ec::test::Registrar registrar_##name(#name, __FILE__, test_##name);  \
  static void test_##name()

#define EC_FAIL(msg)                                                                              \
  do {                                                                                           \
    std::ostringstream ec_os_;                                                                   \
    ec_os_ << __FILE__ << ":" << __LINE__ << ": " << msg;                                        \
    throw ::ec::test::Failure(ec_os_.str());                                                     \
  } while (0)

#define SKIP(reason)                                                                              \
  do {                                                                                           \
    std::ostringstream ec_os_;                                                                   \
    ec_os_ << reason;                                                                            \
    throw ::ec::test::Skipped(ec_os_.str());                                                     \
  } while (0)

#define CHECK(cond) \
  do {              \
    if (!(cond)) EC_FAIL("CHECK(" #cond ") failed"); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                     \
  do {                                                                                           \
    const double ec_a_ = (a), ec_b_ = (b);                                                       \
    if (!(std::fabs(ec_a_ - ec_b_) <= (tol)))                                                    \
      EC_FAIL("CHECK_NEAR(" #a ", " #b ") failed: " << ec_a_ << " vs " << ec_b_ << " (tol " << (tol) << ")"); \
  } while (0)

// Runs `stmt`, expecting an ec::Error whose text contains `needle`.
#define CHECK_THROWS(stmt, needle)                                                                \
  do {                                                                                           \
    bool ec_threw_ = false;                                                                      \
    try {                                                                                        \
      stmt;                                                                                      \
    } catch (const ::ec::Error& e) {                                                             \
      ec_threw_ = true;                                                                          \
      if (std::string(e.what()).find(needle) == std::string::npos)                               \
        EC_FAIL("error text '" << e.what() << "' lacks '" << needle << "'");                     \
    }                                                                                            \
    if (!ec_threw_) EC_FAIL(#stmt " did not throw");                                             \
  } while (0)
