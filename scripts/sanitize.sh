#!/usr/bin/env bash
# The native tests under sanitizers, in their own build folder (C++ only: the
# real CUDA backend is left out, the CPU tests run).
#   scripts/sanitize.sh              AddressSanitizer + UndefinedBehaviorSanitizer (build-asan):
#                                    the CPU tests, then the CUDA kernels on the CUDA emulator
#                                    (native/cuda/emu: the .cu sources rewritten into C++, so
#                                    they are built with the sanitizers too)
#   scripts/sanitize.sh thread 2 8   ThreadSanitizer, the tests at 2 and then 8 pool threads (build-tsan)
# Extra arguments after the thread counts are test filters (eyecandy_tests NAME...).
# EC_SANITIZE_EMULATED picks the emulated tests (eyecandy_cuda_emu_tests filter words, default
# "cuda": all of them; "none" skips them). They are not run under TSan (the emulator's fibers
# would need TSan's fiber calls).
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-address,undefined}
shift || true
THREADS=()
while [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; do THREADS+=("$1"); shift; done
[ ${#THREADS[@]} -gt 0 ] || THREADS=(2)
FILTER=("$@")
[ ${#FILTER[@]} -gt 0 ] || FILTER=(-cuda)
DIR=build-asan
[ "$KIND" = thread ] && DIR=build-tsan
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
EMU=ON
EMULATED=(${EC_SANITIZE_EMULATED:-cuda})
[ "$KIND" = thread ] && EMU=OFF
[ "${EMULATED[*]}" = none ] && EMULATED=()
TARGETS=(eyecandy_tests)
[ $EMU = ON ] && [ ${#EMULATED[@]} -gt 0 ] && TARGETS+=(eyecandy_cuda_emu_tests)
cmake -S . -B "$DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DEYECANDY_TESTS=ON -DEYECANDY_ADDON=OFF \
  -DEYECANDY_CUDA=OFF -DEYECANDY_CUDA_EMULATOR=$EMU -DEYECANDY_FUZZ=ON -DEYECANDY_SANITIZE="$KIND" > "$DIR.configure.log"
cmake --build "$DIR" --target "${TARGETS[@]}" -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
for t in "${THREADS[@]}"; do
  echo "== eyecandy_tests ${FILTER[*]} under $KIND, EYECANDY_THREADS=$t"
  start=$SECONDS
  EYECANDY_THREADS=$t "$DIR/eyecandy_tests" "${FILTER[@]}" > "$DIR/tests-$t.log" 2>&1 || {
    grep -v '^ok ' "$DIR/tests-$t.log" | tail -60
    exit 1
  }
  echo "$(tail -1 "$DIR/tests-$t.log") in $((SECONDS - start)) s"
done
if [ $EMU = ON ] && [ ${#EMULATED[@]} -gt 0 ]; then
  echo "== eyecandy_cuda_emu_tests ${EMULATED[*]} (CUDA emulator) under $KIND"
  start=$SECONDS
  "$DIR/eyecandy_cuda_emu_tests" "${EMULATED[@]}" > "$DIR/emulated.log" 2>&1 || {
    grep -v '^ok ' "$DIR/emulated.log" | tail -60
    exit 1
  }
  echo "$(tail -1 "$DIR/emulated.log") in $((SECONDS - start)) s"
fi
