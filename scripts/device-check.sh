#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU, nvcc, cmake and
# PyTorch; Node comes along in .dev/ (scripts/device-pack.sh):
#
#   scripts/device-check.sh            # or: OUT=/some/dir scripts/device-check.sh
#
#   1. builds the native tests and bench_cuda with the CUDA backend for this
#      GPU's architecture (build-device/, no Node addon)
#   2. runs `eyecandy_tests cuda`: every op on the GPU against the CPU kernels
#      (fp32 and TF32), GPU gradient checks, Programs on both backends and on
#      threads, device vector routines, and the 1000-pass memory test
#   3. with a Node binary and the built addon in .dev/ (carry ".dev" and
#      "dist"): `doctor`, then scripts/cuda-check.js --bench: device tensors,
#      device vector routines, VGG19 forward and input gradient, a short style
#      transfer and locate on the GPU against the CPU, no growth of the block
#      cache over 1000 style iterations, and the Node-side timings (VGG19
#      forward, forward + input gradient, one style iteration; 224 and 512,
#      batch 1 and 8; fp32 and TF32)
#   4. times the same in PyTorch (bench/gpu/torch_vgg19.py, fp32 and TF32),
#      then the conv stack on our kernels from C++ (bench_cuda)
#   5. prints a table with ratios, and the 512 forward ratio as a summary line
#   6. with the time left: compute-sanitizer memcheck / racecheck on chosen tests
#
# Ends with PASS/FAIL/INFO lines; exits 0 when no line says FAIL (the
# timings are reported, not judged). Logs go to $OUT/logs when $OUT is set
# (written as each stage runs, so a cut-off run still leaves them), else to
# build-device/logs. Every stage is time-boxed so the whole run stays under
# EC_DEADLINE_S seconds (default 560, under a 10-minute command limit);
# expect 3-5 minutes on an H100.
set -u -o pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
DEADLINE=${EC_DEADLINE_S:-560}
LOG=${OUT:+$OUT/logs}
LOG=${LOG:-build-device/logs}
mkdir -p "$LOG" build-device
# Seconds a stage may take: its own cap, or what is left before the deadline.
budget() {
  local left=$((DEADLINE - (SECONDS - START)))
  [ "$left" -lt "$1" ] && echo $((left > 10 ? left : 10)) || echo "$1"
}
declare -a SUMMARY=()
STATUS=0
stage() { echo; echo "== $* ($((SECONDS - START)) s)"; }
verdict() {  # verdict PASS|FAIL|INFO text
  SUMMARY+=("$1 $2")
  [ "$1" = FAIL ] && STATUS=1
  echo "$1 $2"
}
finish() {
  stage "summary"
  printf '%s\n' "${SUMMARY[@]}"
  echo "total $((SECONDS - START)) s"
  printf '%s\n' "${SUMMARY[@]}" > "$LOG/summary.txt"
  exit $STATUS
}

stage "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | tee "$LOG/gpu.txt"
nvcc --version | tail -2
ARCH=${EC_CUDA_ARCH:-}
if [ -z "$ARCH" ]; then
  CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  # This GPU only, to keep the build short; the default list otherwise.
  if [[ "$CC" =~ ^[0-9]+$ ]]; then ARCH="${CC}-real"; else ARCH="80-real;90-real;90-virtual"; fi
fi
echo "CUDA architectures: $ARCH"

stage "build (cmake, CUDA on, no addon)"
GENERATOR="Unix Makefiles"
command -v ninja >/dev/null && GENERATOR=Ninja
# A cache from another generator would make cmake refuse to configure.
if [ -f build-device/CMakeCache.txt ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=$GENERATOR\$" build-device/CMakeCache.txt; then
  rm -rf build-device/CMakeCache.txt build-device/CMakeFiles
fi
if cmake -S . -B build-device -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release -DEYECANDY_TESTS=ON -DEYECANDY_ADDON=OFF \
     -DEYECANDY_CUDA=ON "-DEYECANDY_CUDA_ARCHITECTURES=$ARCH" > "$LOG/configure.txt" 2>&1 &&
   timeout "$(budget 360)" cmake --build build-device -j"$(nproc)" > "$LOG/build.txt" 2>&1; then
  verdict PASS "build ($((SECONDS - START)) s)"
else
  tail -40 "$LOG/configure.txt" "$LOG/build.txt"
  verdict FAIL "build (see $LOG/build.txt)"
  finish
fi

stage "eyecandy_tests cuda"
timeout "$(budget 240)" build-device/eyecandy_tests cuda > "$LOG/tests.txt" 2>&1
RC=$?
# Failures with their details (everything but ok / skip lines), then the count.
grep -v -E "^(ok|skip) " "$LOG/tests.txt" | head -120
grep -m1 "^skip" "$LOG/tests.txt"
LAST=$(tail -1 "$LOG/tests.txt")
if [ $RC -eq 0 ] && ! grep -q "^skip" "$LOG/tests.txt"; then
  verdict PASS "cuda tests: $LAST"
elif grep -q "^skip" "$LOG/tests.txt"; then
  verdict FAIL "cuda tests skipped: $(grep -m1 '^skip' "$LOG/tests.txt")"
else
  verdict FAIL "cuda tests (rc $RC): $LAST"
fi

# The JS side on the GPU: the addon built on the development machine (CUDA
# code for sm_80/sm_90 in it), dist/, and the runtime modules in .dev/.
if [ -f .dev/node.xz ] && [ -f .dev/addon/eyecandy.node ] && [ -f dist/index.js ]; then
  xz -dc .dev/node.xz > build-device/node && chmod +x build-device/node
  export NODE_PATH="$PWD/.dev/node_modules" EYECANDY_ADDON="$PWD/.dev/addon/eyecandy.node"
  stage "node dist/cli/main.js doctor"
  timeout "$(budget 60)" build-device/node dist/cli/main.js doctor 2>&1 | tee "$LOG/doctor.txt"
  verdict INFO "doctor ran (rc $?)"
  stage "node scripts/cuda-check.js --bench"
  # EC_CUDA_CHECK_ARGS=--quick rehearses the script on the emulated addon.
  timeout "$(budget 300)" build-device/node scripts/cuda-check.js ${EC_CUDA_CHECK_ARGS:---bench} 2>&1 | tee "$LOG/cuda_check.txt"
  RC=$?
  grep "^RESULT" "$LOG/cuda_check.txt" >> "$LOG/bench_ours.txt"
  [ $RC -eq 0 ] && verdict PASS "cuda-check (JS API on the GPU vs the CPU)" ||
    verdict FAIL "cuda-check (rc $RC): $(grep -c '^FAIL' "$LOG/cuda_check.txt") failed checks"
else
  verdict INFO "node checks skipped: run scripts/device-pack.sh first and carry .dev and dist"
fi

stage "benchmark: PyTorch"
PY=""
for p in ${PYTHON:-} python3 python; do
  if command -v "$p" >/dev/null && "$p" -c "import torch" 2>/dev/null; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
  timeout "$(budget 200)" "$PY" bench/gpu/torch_vgg19.py | tee "$LOG/bench_torch.txt"
  RC=$?
  [ $RC -eq 0 ] && verdict INFO "torch benchmark ran" || verdict INFO "torch benchmark incomplete (rc $RC)"
else
  verdict INFO "torch benchmark skipped: no python that imports torch"
  : > "$LOG/bench_torch.txt"
fi

stage "benchmark: our CUDA kernels"
timeout "$(budget 150)" build-device/native/cuda/bench_cuda | tee "$LOG/bench_ours.txt"
RC=$?
[ $RC -eq 0 ] && verdict PASS "bench_cuda ran" || verdict FAIL "bench_cuda (rc $RC)"

stage "VGG19 timings, ms per pass (ratio: ours / PyTorch, > 1 = we are slower; fp32: node where measured, else C++)"
python3 - "$LOG/bench_ours.txt" "$LOG/bench_torch.txt" <<'PY' | tee "$LOG/table.txt"
import sys
res = {}
for path in sys.argv[1:]:
    for line in open(path):
        p = line.split()
        if len(p) >= 6 and p[0] == "RESULT":
            res[(p[1], int(p[2]), int(p[3]), p[4])] = float(p[5])
order = ["fwd", "fwd+bwd_x", "fwd+bwd", "style"]
keys = sorted({k[1:] for k in res}, key=lambda k: (k[0], k[1], order.index(k[2]) if k[2] in order else 9))
cols = [("eyecandy", "C++ ms"), ("eyecandy-node", "node ms"), ("eyecandy-node-tf32", "node tf32"),
        ("torch_fp32", "torch fp32"), ("torch_tf32", "torch tf32")]
print("%-5s %-5s %-10s" % ("size", "batch", "mode") + "".join("%12s" % c[1] for c in cols) +
      "  %10s %10s" % ("fp32 ratio", "tf32 ratio"))
for size, batch, mode in keys:
    row = "%-5d %-5d %-10s" % (size, batch, mode)
    row += "".join(("%12.2f" % res[(impl, size, batch, mode)]) if (impl, size, batch, mode) in res else "%12s" % "-"
                   for impl, _ in cols)
    fp32 = res.get(("eyecandy-node", size, batch, mode), res.get(("eyecandy", size, batch, mode)))
    for ours, impl in ((fp32, "torch_fp32"), (res.get(("eyecandy-node-tf32", size, batch, mode)), "torch_tf32")):
        t = res.get((impl, size, batch, mode))
        row += ("%11.2f" % (ours / t)) if (ours and t) else "%11s" % "-"
    print(row)
ours = res.get(("eyecandy-node", 512, 1, "fwd"), res.get(("eyecandy", 512, 1, "fwd")))
torch = res.get(("torch_fp32", 512, 1, "fwd"))
if ours and torch:
    print("RATIO VGG19 512 forward, ours / PyTorch fp32 (cuDNN): %.2f (target <= 2)" % (ours / torch))
PY
R=$(grep "^RATIO" "$LOG/table.txt" | cut -c7-)
[ -n "$R" ] && verdict INFO "$R"

# compute-sanitizer, while time is left: memcheck over the op table (every
# kernel, tiny shapes), racecheck on the kernels that share memory (GEMM,
# block reductions, block-per-row softmax).
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$SAN" ]; then
  for job in "memcheck cuda.op_table" "racecheck cuda.large.conv2d.vgg_like" "racecheck cuda.large.softmax.rows" \
             "racecheck cuda.large.global_avg_pool"; do
    set -- $job
    if [ $((DEADLINE - (SECONDS - START))) -lt 40 ]; then verdict INFO "sanitizer $1 $2 skipped (time)"; continue; fi
    stage "compute-sanitizer --tool $1 ($2)"
    LOGF="$LOG/sanitizer_$1_${2//./_}.txt"
    timeout "$(budget 120)" "$SAN" --tool "$1" --error-exitcode 9 build-device/eyecandy_tests "$2" > "$LOGF" 2>&1
    RC=$?
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed," "$LOGF" | tail -3
    if [ $RC -eq 0 ]; then verdict PASS "sanitizer $1 $2"
    elif [ $RC -eq 124 ]; then verdict INFO "sanitizer $1 $2 timed out"
    else grep -m5 -E "=========  (Invalid|Race|Error|Barrier)" "$LOGF"; verdict FAIL "sanitizer $1 $2 (rc $RC, $LOGF)"; fi
  done
fi

finish
