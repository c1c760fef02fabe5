#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "test.h"

namespace ec::test {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
}  // namespace ec::test

// Arguments: name parts. A test runs when its name contains one of the plain
// parts (or there are none) and none of the parts given as -part.
// Exit: 1 on a failure, 2 when the filter selects no test, 77 when every test
// that ran was skipped (ctest's SKIP_RETURN_CODE), else 0.
int main(int argc, char** argv) {
  std::vector<std::string> want, drop;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') drop.emplace_back(argv[i] + 1);
    else want.emplace_back(argv[i]);
  }
  const auto selected = [&](const std::string& name) {
    for (const auto& d : drop)
      if (name.find(d) != std::string::npos) return false;
    if (want.empty()) return true;
    for (const auto& w : want)
      if (name.find(w) != std::string::npos) return true;
    return false;
  };
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& c : ec::test::registry()) {
    if (!selected(c.name)) continue;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      c.fn();
      ++passed;
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("ok    %s (%.0f ms)\n", c.name.c_str(), ms);
    } catch (const ec::test::Skipped& s) {
      ++skipped;
      std::printf("skip  %s: %s\n", c.name.c_str(), s.what());
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL  %s\n      %s\n", c.name.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  if (passed + skipped == 0) {
    std::string f;
    for (int i = 1; i < argc; ++i) f += std::string(i > 1 ? " " : "") + argv[i];
    std::fprintf(stderr, "no test matches the filter '%s' (of %zu tests)\n", f.c_str(), ec::test::registry().size());
    return 2;
  }
  return passed == 0 ? ec::test::kSkipExitCode : 0;
}
