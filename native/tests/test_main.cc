#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "test.h"

namespace ec::test {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
}  // namespace ec::test

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (const auto& c : ec::test::registry()) {
    if (filter && c.name.find(filter) == std::string::npos) continue;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      c.fn();
      ++passed;
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("ok    %s (%.0f ms)\n", c.name.c_str(), ms);
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL  %s\n      %s\n", c.name.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
