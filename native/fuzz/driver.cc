// A standalone driver for the libFuzzer targets where libFuzzer is not
// available (GCC; clang cannot compile native/cpu/gemm.cc's GCC vector
// builtins): it runs LLVMFuzzerTestOneInput on each file named, then on
// random inputs, each a random mutation of an earlier one or fresh bytes,
// for the seconds or runs asked. No coverage feedback: a smoke test under
// ASan + UBSan, not a search.
//   fuzz_program [-seconds=N] [-runs=N] [-seed=N] [FILE...]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  double seconds = 10;
  uint64_t runs = UINT64_MAX, seed = 14;
  std::vector<std::vector<uint8_t>> pool;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-seconds=", 0) == 0) seconds = std::atof(a.c_str() + 9);
    else if (a.rfind("-runs=", 0) == 0) runs = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a.rfind("-seed=", 0) == 0) seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else {
      std::ifstream f(a, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::printf("file %s (%zu bytes)\n", a.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      pool.push_back(std::move(bytes));
    }
  }
  std::mt19937_64 rng(seed);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  std::vector<uint8_t> in;
  for (; n < runs; ++n) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= seconds) break;
    if (!pool.empty() && rng() % 4 != 0) {
      in = pool[rng() % pool.size()];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const uint64_t k = rng() % 3;
        if (k == 0 || in.empty()) in.push_back(static_cast<uint8_t>(rng()));
        else if (k == 1) in[rng() % in.size()] = static_cast<uint8_t>(rng());
        else in.erase(in.begin() + static_cast<long>(rng() % in.size()));
      }
    } else {
      in.resize(rng() % 96);
      for (auto& b : in) b = static_cast<uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
    if (pool.size() < 256) pool.push_back(in);
    else pool[rng() % pool.size()] = in;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("stat::number_of_executed_units: %llu\nstat::seconds: %.1f\n", static_cast<unsigned long long>(n), s);
  return 0;
}
