#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden data for the LLM tests (tests/data/golden/llm/), from independent
Python references written here:

  tiny_llama.gguf / tiny_qwen2.gguf   KB-sized random-weight models (our own
                                      GGUF writer below), llama with mixed
                                      F32/F16/BF16 tensors and separate output,
                                      qwen2 with QKV biases, NeoX RoPE, tied output
  tiny_llama.json / tiny_qwen2.json   logits from a PyTorch (float64) reference
                                      decoder for a prompt (every row) and for
                                      several single-token decode steps
  gpt2_bpe.json                       a hand-made byte-level BPE vocabulary
                                      (merges learned here on a small corpus)
                                      and the ids our Python reference encoder
                                      gives for test strings (Qwen2 and GPT-2
                                      pre-tokenizer patterns, via the `regex`
                                      module's \\p{L}/\\p{N})
  stories_spm.json                    ids of test strings under the stories260K
                                      vocabulary from a naive SentencePiece-BPE
                                      reference (only when ../shared/models has
                                      the file)

Needs Debian's python3-torch, python3-numpy and python3-regex. Run from the
repository root:  /usr/bin/python3 tools/golden/make_llm_golden.py
The engine and its tests never need Python: the outputs are committed.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import regex
import torch

OUT = os.path.join("tests", "data", "golden", "llm")

# ----------------------------------------------------------------- GGUF writer
GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STR, GGUF_ARR = 4, 5, 6, 7, 8, 9
T_F32, T_F16, T_BF16 = 0, 1, 30


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _val(t, v):
    if t == GGUF_U32:
        return struct.pack("<I", v)
    if t == GGUF_I32:
        return struct.pack("<i", v)
    if t == GGUF_F32:
        return struct.pack("<f", v)
    if t == GGUF_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if t == GGUF_STR:
        return _str(v)
    raise ValueError(t)


def write_gguf(path, kvs, tensors, alignment=32):
    """kvs: list of (key, type, value) with arrays as (key, GGUF_ARR, (elem_type, list)).
    tensors: list of (name, ggml_type, numpy array in PyTorch order, raw bytes)."""
    out = bytearray(b"GGUF") + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += _str(k) + struct.pack("<I", t)
        if t == GGUF_ARR:
            et, items = v
            out += struct.pack("<IQ", et, len(items))
            for it in items:
                out += _val(et, it)
        else:
            out += _val(t, v)
    offset = 0
    layout = []
    for name, gt, arr, raw in tensors:
        ne = list(reversed(arr.shape))
        out += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", gt, offset)
        layout.append((offset, raw))
        offset += (len(raw) + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    data = bytearray(offset)
    for off, raw in layout:
        data[off:off + len(raw)] = raw
    out += data
    with open(path, "wb") as f:
        f.write(out)


def encode_tensor(arr, gt):
    """Returns (raw bytes, float64 array of the values the file really holds)."""
    a32 = arr.astype(np.float32)
    if gt == T_F32:
        return a32.tobytes(), a32.astype(np.float64)
    if gt == T_F16:
        h = a32.astype(np.float16)
        return h.tobytes(), h.astype(np.float64)
    if gt == T_BF16:
        # round to nearest even on the upper 16 bits
        u = a32.view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        back = (r.astype(np.uint32) << 16).view(np.float32)
        return r.tobytes(), back.astype(np.float64)
    raise ValueError(gt)


# ------------------------------------------------------- PyTorch reference model
def rope(x, pos, n_rot, theta, neox):
    """x: [T, H, D] float64; positions pos [T]. Adjacent pairs (llama GGUF) or halves (NeoX)."""
    T, H, D = x.shape
    half = n_rot // 2
    inv = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / n_rot)
    ang = pos[:, None].double() * inv[None, :]  # [T, half]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    y = x.clone()
    if neox:
        a, b = x[..., :half], x[..., half:2 * half]
        y[..., :half] = a * c - b * s
        y[..., half:2 * half] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        y[..., 0:n_rot:2] = a * c - b * s
        y[..., 1:n_rot:2] = a * s + b * c
    return y


class RefDecoder:
    """Plain float64 decoder that recomputes attention over the whole prefix."""

    def __init__(self, cfg, w):
        self.c, self.w = cfg, w

    def rms(self, x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.c["eps"]) * g

    def forward(self, ids):
        c, w = self.c, self.w
        T = len(ids)
        H, Hkv, D = c["n_head"], c["n_head_kv"], c["head_dim"]
        x = w["token_embd.weight"][torch.tensor(ids)]  # [T, E]
        pos = torch.arange(T)
        mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
        for il in range(c["n_layer"]):
            p = f"blk.{il}."
            h = self.rms(x, w[p + "attn_norm.weight"])
            q = h @ w[p + "attn_q.weight"].T
            k = h @ w[p + "attn_k.weight"].T
            v = h @ w[p + "attn_v.weight"].T
            if p + "attn_q.bias" in w:
                q, k, v = q + w[p + "attn_q.bias"], k + w[p + "attn_k.bias"], v + w[p + "attn_v.bias"]
            q = rope(q.view(T, H, D), pos, c["n_rot"], c["theta"], c["neox"])
            k = rope(k.view(T, Hkv, D), pos, c["n_rot"], c["theta"], c["neox"])
            v = v.view(T, Hkv, D)
            rep = H // Hkv
            k = k.repeat_interleave(rep, dim=1)  # query head h uses kv head h // rep
            v = v.repeat_interleave(rep, dim=1)
            att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D) + mask
            att = torch.softmax(att, dim=-1)
            o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * D)
            x = x + o @ w[p + "attn_output.weight"].T
            h = self.rms(x, w[p + "ffn_norm.weight"])
            g = h @ w[p + "ffn_gate.weight"].T
            u = h @ w[p + "ffn_up.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ w[p + "ffn_down.weight"].T
        x = self.rms(x, w["output_norm.weight"])
        out = w.get("output.weight", w["token_embd.weight"])
        return x @ out.T  # [T, V]


def make_tiny(arch, seed):
    rng = np.random.default_rng(seed)
    E, H, Hkv, F, L = 32, 4, 2, 64, 2
    D = E // H
    llama = arch == "llama"
    cfg = dict(n_layer=L, n_head=H, n_head_kv=Hkv, head_dim=D, n_rot=D, eps=1e-5 if llama else 1e-6,
               theta=10000.0 if llama else 1000000.0, neox=not llama)
    # Vocabulary: llama = <unk> <s> </s> + printable ASCII (SentencePiece
    # style, '▁' for space); qwen2 = GPT-2 byte symbols of printable ASCII +
    # one merge + specials.
    if llama:
        tokens = ["<unk>", "<s>", "</s>"] + [chr(c) if c != 32 else "\u2581" for c in range(32, 127)]
        types = [2, 3, 3] + [1] * 95
    else:
        tokens = [chr(c) if c != 32 else "\u0120" for c in range(32, 127)] + ["ab", "<|endoftext|>", "<|im_start|>",
                                                                               "<|im_end|>"]
        types = [1] * 96 + [3, 3, 3]
    V = len(tokens)
    shapes = {"token_embd.weight": (V, E), "output_norm.weight": (E,)}
    if llama:
        shapes["output.weight"] = (V, E)
    for il in range(L):
        p = f"blk.{il}."
        shapes.update({p + "attn_norm.weight": (E,), p + "attn_q.weight": (H * D, E), p + "attn_k.weight": (Hkv * D, E),
                       p + "attn_v.weight": (Hkv * D, E), p + "attn_output.weight": (E, H * D),
                       p + "ffn_norm.weight": (E,), p + "ffn_gate.weight": (F, E), p + "ffn_up.weight": (F, E),
                       p + "ffn_down.weight": (E, F)})
        if not llama:
            shapes.update({p + "attn_q.bias": (H * D,), p + "attn_k.bias": (Hkv * D,), p + "attn_v.bias": (Hkv * D,)})
    tensors, weights = [], {}
    for i, (name, shp) in enumerate(shapes.items()):
        if name.endswith("norm.weight"):
            a = 1.0 + 0.1 * rng.standard_normal(shp)
        elif name.endswith(".bias"):
            a = 0.1 * rng.standard_normal(shp)
        else:
            a = rng.standard_normal(shp) / math.sqrt(shp[-1]) * (2.0 if "token_embd" in name else 1.0)
        # llama: mixed per-tensor types (matrices cycle F32 / F16 / BF16).
        gt = T_F32
        if llama and len(shp) == 2 and "token_embd" not in name:
            gt = (T_F32, T_F16, T_BF16)[i % 3]
        raw, held = encode_tensor(a, gt)
        tensors.append((name, gt, a, raw))
        weights[name] = torch.from_numpy(held)
    kvs = [("general.architecture", GGUF_STR, arch), ("general.name", GGUF_STR, "tiny-" + arch),
           (f"{arch}.block_count", GGUF_U32, L), (f"{arch}.context_length", GGUF_U32, 64),
           (f"{arch}.embedding_length", GGUF_U32, E), (f"{arch}.feed_forward_length", GGUF_U32, F),
           (f"{arch}.attention.head_count", GGUF_U32, H), (f"{arch}.attention.head_count_kv", GGUF_U32, Hkv),
           (f"{arch}.rope.freq_base", GGUF_F32, cfg["theta"]),
           (f"{arch}.attention.layer_norm_rms_epsilon", GGUF_F32, cfg["eps"]),
           ("tokenizer.ggml.model", GGUF_STR, "llama" if llama else "gpt2"),
           ("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, tokens)),
           ("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, types))]
    if llama:
        kvs += [("tokenizer.ggml.scores", GGUF_ARR, (GGUF_F32, [0.0] * V)),
                ("tokenizer.ggml.bos_token_id", GGUF_U32, 1), ("tokenizer.ggml.eos_token_id", GGUF_U32, 2),
                ("tokenizer.ggml.unknown_token_id", GGUF_U32, 0)]
    else:
        kvs += [("tokenizer.ggml.merges", GGUF_ARR, (GGUF_STR, ["a b"])), ("tokenizer.ggml.pre", GGUF_STR, "qwen2"),
                ("tokenizer.ggml.eos_token_id", GGUF_U32, V - 1), ("tokenizer.ggml.add_bos_token", GGUF_BOOL, False)]
    write_gguf(os.path.join(OUT, f"tiny_{arch}.gguf"), kvs, tensors)

    ref = RefDecoder(cfg, weights)
    prompt = [int(t) for t in rng.integers(3, V - 3, size=6)]
    decode = [int(t) for t in rng.integers(3, V - 3, size=4)]
    prefill = ref.forward(prompt)  # every row
    steps = []
    seq = list(prompt)
    for t in decode:
        seq.append(t)
        steps.append(ref.forward(seq)[-1].tolist())
    gold = {"arch": arch, "n_vocab": V, "prompt": prompt, "prefill_logits": prefill.tolist(), "decode_tokens": decode,
            "decode_logits": steps}
    with open(os.path.join(OUT, f"tiny_{arch}.json"), "w") as f:
        json.dump(gold, f)


# ------------------------------------------------------------- byte-level BPE
QWEN2_PAT = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PAT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def to_symbols(piece):
    return [B2U[b] for b in piece.encode("utf-8")]


def learn_merges(corpus, pat, n_merges):
    words = {}
    for w in regex.findall(pat, corpus):
        key = tuple(to_symbols(w))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])  # ties: lexicographically first
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def bpe_encode(text, pat, vocab, ranks, specials, parse_special):
    ids = []
    frags = [(text, False)]
    if parse_special and specials:
        sp = regex.compile("(" + "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")")
        frags = [(p, p in specials) for p in sp.split(text) if p]
    for frag, is_special in frags:
        if is_special:
            ids.append(vocab[frag])
            continue
        for piece in regex.findall(pat, frag):
            word = to_symbols(piece)
            while len(word) > 1:
                cands = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
                r, i = min(cands)
                if r == 1 << 30:
                    break
                word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
            ids.extend(vocab[s] for s in word)
    return ids


def make_gpt2_bpe():
    corpus = ("The quick brown fox jumps over the lazy dog. I'm sure they'll say it's the best, we've seen "
              "3.14159 and 2024 numbers; don't worry!! Hello world, hello World. Ünïcödé wörds and naïve café "
              "résumé. 日本語のテキスト and 中文. if (x == 42) { return y + 1; }\n\n  indented\tline\r\n"
              "The the THE there their then. Once upon a time, there was a little girl named Lily.") * 3
    tokens = [B2U[b] for b in range(256)]
    out = {"patterns": {}}
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    cases = ["Hello world", "I'm sure they'LL say it's the best", "The quick  brown   fox\n\n\nnext",
             "numbers 12345 and 3.14", "naïve café résumé Ünïcödé", "日本語のテキスト 中文", "emoji 😀 and symbols ©®",
             "if (x == 42) { return y + 1; }", "  leading and trailing  ", "tabs\tand\r\nCRLF\n  \n",
             "<|im_start|>user\nHi there<|im_end|>\n", "don't DON'T we've WE'VE", "a!!!b???c...", "x"]
    merges_all = {}
    for name, pat in (("qwen2", QWEN2_PAT), ("default", GPT2_PAT)):
        merges = learn_merges(corpus, pat, 120)
        merges_all[name] = merges
    # One vocabulary for both patterns: union of merge products, in order.
    vocab_tokens = list(tokens)
    seen = set(vocab_tokens)
    merges = merges_all["qwen2"]
    for a, b in merges:
        if a + b not in seen:
            vocab_tokens.append(a + b)
            seen.add(a + b)
    vocab_tokens += specials
    types = [1] * (len(vocab_tokens) - len(specials)) + [3] * len(specials)
    vocab = {t: i for i, t in enumerate(vocab_tokens)}
    ranks = {m: i for i, m in enumerate(merges)}
    for name, pat in (("qwen2", QWEN2_PAT), ("default", GPT2_PAT)):
        out["patterns"][name] = [{"text": c, "parse_special": ps, "ids": bpe_encode(c, pat, vocab, ranks, specials, ps)}
                                 for c in cases for ps in (False, True)]
    out["tokens"] = vocab_tokens
    out["token_types"] = types
    out["merges"] = [a + " " + b for a, b in merges]
    with open(os.path.join(OUT, "gpt2_bpe.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


# ----------------------------------------------------- SentencePiece-style BPE
def read_gguf_header(data):
    """Parses a GGUF file's bytes: (metadata dict, [(name, dims, ggml type,
    offset)], byte offset where the tensor data starts)."""
    o = [4]

    def rd(fmt):
        v = struct.unpack_from("<" + fmt, data, o[0])
        o[0] += struct.calcsize("<" + fmt)
        return v[0]

    def rs():
        n = rd("Q")
        s = data[o[0]:o[0] + n].decode("utf-8")
        o[0] += n
        return s

    scal = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def rv(t):
        if t == 8:
            return rs()
        if t == 9:
            et, n = rd("I"), rd("Q")
            return [rv(et) for _ in range(n)]
        return rd(scal[t])

    assert data[:4] == b"GGUF"
    rd("I")
    nt, nkv = rd("Q"), rd("Q")
    kv = {}
    for _ in range(nkv):
        k = rs()
        kv[k] = rv(rd("I"))
    infos = []
    for _ in range(nt):
        name = rs()
        dims = [rd("Q") for _ in range(rd("I"))]
        infos.append((name, dims, rd("I"), rd("Q")))
    align = kv.get("general.alignment", 32)
    return kv, infos, (o[0] + align - 1) // align * align


def read_gguf_vocab(path):
    kv, _, _ = read_gguf_header(open(path, "rb").read())
    return kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.scores"]


def spm_encode(text, tokens, scores):
    """Naive reference: merge the best-scoring adjacent pair (leftmost on ties) until none is a token."""
    vocab = {t: i for i, t in enumerate(tokens)}
    syms = list(("\u2581" + text).replace(" ", "\u2581"))  # add_space_prefix, then spaces -> U+2581
    while True:
        best, at = None, -1
        for i in range(len(syms) - 1):
            t = syms[i] + syms[i + 1]
            if t in vocab and (best is None or scores[vocab[t]] > best):
                best, at = scores[vocab[t]], i
        if at < 0:
            break
        syms[at:at + 2] = [syms[at] + syms[at + 1]]
    ids = []
    for s in syms:
        if s in vocab:
            ids.append(vocab[s])
        else:
            ids.extend(vocab["<0x%02X>" % b] for b in s.encode("utf-8"))
    return ids


def make_stories_spm():
    path = os.path.join("..", "shared", "models", "stories260K.gguf")
    if not os.path.exists(path):
        print("stories260K.gguf absent: stories_spm.json not regenerated", file=sys.stderr)
        return
    tokens, scores = read_gguf_vocab(path)
    cases = ["Once upon a time, there was a little girl named Lily.", "She said, \"I want to play with your ball.\"",
             "The cat's hat is BIG!", "numbers 123 and 4.5", "café 日本", "  two  spaces", "x"]
    out = [{"text": c, "ids": spm_encode(c, tokens, scores)} for c in cases]
    with open(os.path.join(OUT, "stories_spm.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    make_tiny("llama", 1)
    make_tiny("qwen2", 2)
    make_gpt2_bpe()
    make_stories_spm()


if __name__ == "__main__":
    main()
