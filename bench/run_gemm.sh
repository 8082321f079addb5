#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs rsfiqa_bench_gemm with 5 repetitions and prints the median GFLOP/s per
# benchmark plus a summary table for gemm_f32 against Eigen and the measured
# FMA peak of the same run (AVX-512 peak when the CPU has it, else AVX2).
# Repetitions are randomly interleaved so slow drifts of a shared machine
# hit every benchmark alike.
#
#   bench/run_gemm.sh [path/to/rsfiqa_bench_gemm] [extra benchmark flags...]
set -euo pipefail
bin=${1:-build/bench/rsfiqa_bench_gemm}
shift || true
json=$(mktemp)
trap 'rm -f "$json"' EXIT
"$bin" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_format=json "$@" >"$json"
python3 - "$json" <<'PY'
import json, re, sys
data = json.load(open(sys.argv[1]))
med = {}
label = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"]
    med[name] = b.get("GFLOPS", float("nan"))
    label[name] = b.get("label", "")
print("%-62s %10s  %s" % ("benchmark (median of 5)", "GFLOP/s", "kernel"))
for n in sorted(med):
    print("%-62s %10.1f  %s" % (n, med[n], label[n][:40]))

def peak(threads):
    for isa in ("avx512", "avx2"):
        k = "BM_fma_peak_%s/threads:%d/real_time" % (isa, threads)
        if k in med and med[k] == med[k]:
            return med[k]
    return float("nan")

print()
print("| shape (M,N,K) | threads | rsfiqa GFLOP/s | Eigen GFLOP/s | peak GFLOP/s | fraction of peak | rsfiqa / Eigen |")
print("|---|---|---|---|---|---|---|")
for n in sorted(med, key=lambda x: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", x)]):
    v = med[n]
    m = re.match(r"BM_gemm_f32/M:(\d+)/N:(\d+)/K:(\d+)/threads:(\d+)/", n)
    if not m:
        continue
    M, N, K, t = map(int, m.groups())
    e = med.get(n.replace("BM_gemm_f32/", "BM_gemm_eigen/"), float("nan"))
    p = peak(t)
    print("| %d,%d,%d | %d | %.1f | %.1f | %.1f | %.0f%% | %.2f |" % (M, N, K, t, v, e, p, 100 * v / p, v / e))
PY
