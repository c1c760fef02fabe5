#!/usr/bin/env bash
# Runs each fuzz target (native/fuzz) for a few seconds under ASan + UBSan: a
# crash, a sanitizer report or an exception other than ec::Error fails it.
#   scripts/fuzz-smoke.sh [SECONDS per target, default 20]
# GCC (default): the targets share build-asan with scripts/sanitize.sh and run
# under native/fuzz/driver.cc (random and mutated inputs). FUZZ_CXX=clang++
# builds build-fuzz with libFuzzer instead (needs a core clang can compile).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ -n "${FUZZ_CXX:-}" ]; then
  DIR=build-fuzz
  cmake -S . -B "$DIR" "${GEN[@]}" -DCMAKE_CXX_COMPILER="$FUZZ_CXX" -DCMAKE_BUILD_TYPE=Release -DEYECANDY_ADDON=OFF \
    -DEYECANDY_CUDA=OFF -DEYECANDY_FUZZ=ON -DEYECANDY_SANITIZE=address,undefined > "$DIR.configure.log"
  ARGS=(-max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 corpus)
else
  DIR=build-asan
  cmake -S . -B "$DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DEYECANDY_TESTS=ON -DEYECANDY_ADDON=OFF \
    -DEYECANDY_CUDA=OFF -DEYECANDY_CUDA_EMULATOR=ON -DEYECANDY_FUZZ=ON -DEYECANDY_SANITIZE=address,undefined > "$DIR.configure.log"
  ARGS=(-seconds="$SECS")
fi
cmake --build "$DIR" --target fuzz_program -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in fuzz_program; do
  mkdir -p "$DIR/corpus"
  echo "== $target for $SECS s"
  (cd "$DIR" && EYECANDY_THREADS=1 ./"$target" "${ARGS[@]}" > "$target.log" 2>&1) || {
    tail -40 "$DIR/$target.log"
    exit 1
  }
  grep -E "stat::(number_of_executed_units|seconds)" "$DIR/$target.log" | tr '\n' ' '
  echo
done
