# SPDX-License-Identifier: MIT
"""Trains the rsfiqa quality network on the samples of `rsfiqa dataset`.

Inputs: SAMPLES/train and SAMPLES/val, one safetensors per sample (token
features of our engine, token region map, full-reference targets). Output:
weights/rsfiqa-quality-v1.safetensors, written by model.save_weights (the
file quality_net.hpp loads), with the feature standardisation constants
(feat_mean / feat_std) set from the training samples.

The shipped size is smaller than model.default_config() (dim 96, depth 1,
heads 4; the config travels in the weights file) because the machine it was
trained on gave the job a fraction of two cores; see the model card.

Loss per sample (all on 0..1 scales; the last two were added for the
localisation and dimension targets):
  region quality   smooth-L1(q_k / 100, target_k / 100), regions with tokens,
                   weighted by sqrt(token count) so tiny slivers count less
  global quality   smooth-L1(Q / 100, target / 100), weight 2
  profile          BCE(p_k, severity_k) per region + BCE(P, global severity)
  ranking          within each mini-batch, a margin ranking loss on the
                   global quality of every pair whose targets differ by > 2
  region ranking   inside each image, the same margin loss on region
                   quality for every pair of regions whose targets differ
                   by > 2 (weight --region-rank, 1.0)
  dimension        for touched regions, softmax cross-entropy over the five
                   profile logits towards the applied dimension (weight
                   --dim-ce, 0.3)
The global quality and in-batch ranking weights are --global-weight (2) and
--batch-rank (1).
AdamW (lr 1e-3, weight decay 1e-2, cosine decay), mini-batches of 8
samples (one forward per sample, gradients summed), each sample seen as a
random subset of about --tokens tokens per step (all tokens at validation
and test time). --select val (default) stops early on the validation
global SRCC (patience 4) and exports the best epoch; --select last runs the
fixed schedule and exports the last epoch (what v1 used, see run_all.sh).
Every epoch prints the validation global SRCC, MAE, and the one-region
localisation and dimension top-1 rates (all tokens, as evaluate.py). With
--init and --floor-from-init the starting model is evaluated first and is
the candidate to beat: an epoch replaces it only with a higher validation
SRCC and localisation and dimension rates no lower than the start's.
--half keeps the training features as f16 in memory (casts back to f32 per
step), and --feat-noise S adds Gaussian noise of S column standard
deviations to the training inputs (a regulariser; off by default).
Deterministic for a given seed and thread count (torch.manual_seed).

It does not extract features or build the test set (run_all.sh,
evaluate.py).
"""
import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import model as M  # noqa: E402


def token_subset(s, n_tokens, gen):
    """A random subset of about n_tokens tokens (at least one per region),
    kept in label order; a cheap augmentation: attention inside a region and
    region pooling are set functions, so a subset is a smaller view of the
    same image."""
    n = s.labels.numel()
    if n_tokens <= 0 or n <= n_tokens:
        return s.feats.float(), s.labels
    keep = torch.rand(n, generator=gen) < n_tokens / n
    first = torch.ones(n, dtype=torch.bool)
    first[1:] = s.labels[1:] != s.labels[:-1]  # first token of each region
    keep |= first
    return s.feats[keep].float(), s.labels[keep]  # f32 even when kept as f16 (--half)


feat_noise = 0.0


region_rank_weight = 1.0
dim_weight = 0.3
global_weight = 2.0


def sample_loss(net, s, n_tokens=0, gen=None):
    feats, labels = token_subset(s, n_tokens, gen)
    if feat_noise > 0:
        # Gaussian noise of feat_noise standard deviations of each input
        # column (training only): a regulariser against memorising the
        # few training photos; the model itself is unchanged.
        feats = feats + feat_noise * net.feat_std * torch.randn(feats.shape, generator=gen)
    out = net(feats, labels, s.K)
    counts = out["region_tokens"].to(torch.float32)
    present = counts > 0
    w = counts[present].sqrt()
    w = w / w.sum()
    rq = F.smooth_l1_loss(out["region_quality"][present] / 100, s.region_quality[present] / 100, reduction="none",
                          beta=0.05)
    l_rq = (w * rq).sum()
    l_gq = F.smooth_l1_loss(out["quality"] / 100, torch.tensor(s.global_quality / 100), beta=0.05)
    rp = out["region_profile"][present].clamp(1e-6, 1 - 1e-6)
    l_rp = (w[:, None] * F.binary_cross_entropy(rp, s.region_severity[present], reduction="none")).sum() / 5
    l_gp = F.binary_cross_entropy(out["profile"].clamp(1e-6, 1 - 1e-6), s.global_severity)
    loss = l_rq + global_weight * l_gq + 0.5 * (l_rp + l_gp)
    loss = loss + region_rank_weight * region_rank_loss(out, s, present) + dim_weight * dimension_loss(out, s, present)
    return loss, out["quality"]


def region_rank_loss(out, s, present):
    """Margin ranking of region quality inside one image: for every pair of
    present regions whose full-reference targets differ by more than 2
    points, the better region must score at least 2 points higher. This is
    what localisation asks (the distorted region is the worst one)."""
    idx = torch.nonzero(present)[:, 0]
    if idx.numel() < 2:
        return torch.zeros(())
    q = out["region_quality"][idx] / 100  # [G]
    t = s.region_quality[idx] / 100
    better = (t[:, None] - t[None, :]) > 0.02  # [G, G]: i better than j
    if not bool(better.any()):
        return torch.zeros(())
    m = F.relu(0.02 - (q[:, None] - q[None, :]))
    return m[better].mean()


def dimension_loss(out, s, present):
    """Which dimension: for every touched region (severity > 0), a softmax
    cross-entropy over the five profile logits towards the applied
    distortion's dimension, so the right dimension is the top entry of the
    region's profile (the BCE alone treats the five entries independently)."""
    sev = s.region_severity  # [K, 5]
    rows = present & (sev.max(1).values > 0)
    if not bool(rows.any()):
        return torch.zeros(())
    p = out["region_profile"][rows].clamp(1e-6, 1 - 1e-6)
    logits = torch.log(p) - torch.log1p(-p)  # back to the head's logits
    return F.cross_entropy(logits, sev[rows].argmax(1))


def evaluate(net, samples):
    """Validation metrics with all tokens: global SRCC and MAE vs the FR
    target, and the one-region localisation and dimension top-1 rates
    (common.one_region_counts, as in evaluate.py)."""
    net.eval()
    pred, rq, rp, pr = [], [], [], []
    with torch.no_grad():
        for s in samples:
            o = net(s.feats.float(), s.labels, s.K)
            pred.append(float(o["quality"]))
            rq.append(o["region_quality"].numpy())
            rp.append(o["region_profile"].numpy())
            pr.append(o["region_tokens"].numpy() > 0)
    net.train()
    tgt = [s.global_quality for s in samples]
    loc, dim, n1 = common.one_region_counts(samples, rq, rp, pr)
    return dict(srcc=common.srcc(pred, tgt), mae=float(np.mean(np.abs(np.array(pred) - np.array(tgt)))),
                loc=loc / n1 if n1 else float("nan"), dim=dim / n1 if n1 else float("nan"), n1=n1)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache = os.environ.get("RSFIQA_CACHE", os.path.join(root, ".cache"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default=os.path.join(cache, "samples"))
    ap.add_argument("--out", default=os.path.join(root, "weights", "rsfiqa-quality-v1.safetensors"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--max-minutes", type=float, default=1e9, help="stop after this wall time (best epoch kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--select", choices=("val", "last"), default="val",
                    help="export the best epoch on validation SRCC, or the last one (fixed schedule)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=768, help="tokens per sample per step (0 = all)")
    ap.add_argument("--dim", type=int, default=96)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--variant", choices=("strict", "strict+global", "bias"), default="strict",
                    help="RSA variant (docs/rsa.md); strict+global lets a region see every region's summary")
    ap.add_argument("--region-rank", type=float, default=1.0, help="weight of the in-image region ranking loss")
    ap.add_argument("--dim-ce", type=float, default=0.3, help="weight of the dimension cross-entropy")
    ap.add_argument("--global-weight", type=float, default=2.0, help="weight of the global quality smooth-L1")
    ap.add_argument("--batch-rank", type=float, default=1.0, help="weight of the in-batch global ranking loss")
    ap.add_argument("--feat-noise", type=float, default=0.0,
                    help="training-time Gaussian noise on the input features, in units of each column's std")
    ap.add_argument("--split", default="",
                    help="a splits file (e.g. tools/train/splits-v1.json): use only its train and val photos")
    ap.add_argument("--max-per-photo", type=int, default=0,
                    help="use only the first N samples of each training photo (0 = all)")
    ap.add_argument("--half", action="store_true",
                    help="keep the training features as f16 in memory (half the RAM)")
    ap.add_argument("--save-every", action="store_true", help="also write OUT.epochN after every epoch")
    ap.add_argument("--floor-from-init", action="store_true",
                    help="with --init and --select val: keep an epoch only if its validation localisation and "
                         "dimension rates are at least the starting model's (the starting model is kept otherwise)")
    ap.add_argument("--init", default="",
                    help="start from these weights (their config and feature standardisation are kept)")
    a = ap.parse_args()
    global region_rank_weight, dim_weight, global_weight, feat_noise
    region_rank_weight, dim_weight, global_weight = a.region_rank, a.dim_ce, a.global_weight
    feat_noise = a.feat_noise
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(a.threads)

    keep = lambda k: common.split_photos(a.split, k) if a.split else None
    train = common.load_dir(os.path.join(a.samples, "train"), half=a.half, max_per_photo=a.max_per_photo,
                            photos=keep("train"))
    val = common.load_dir(os.path.join(a.samples, "val"), photos=keep("val"))
    if not train:
        sys.exit("no training samples in %s/train" % a.samples)
    print("train samples %d (photos %d), val samples %d" % (len(train), len({s.photo for s in train}), len(val)))

    gen = torch.Generator().manual_seed(a.seed)
    if a.init:
        # Warm start: the earlier model's parameters and its standardisation
        # constants (changing those would shift every input it learned on).
        net = common.load_weights(a.init)
        net.train()
        print("initialised from %s" % a.init)
    else:
        net = common.fast_model(M.default_config(dim=a.dim, depth=a.depth, heads=a.heads, variant=a.variant))
        # Standardisation constants from the training tokens, accumulated
        # one sample at a time in f64 (concatenating all tokens first needs
        # about 12 GB for 630 samples).
        M.set_feature_standardisation(net, (s.feats.float() for s in train))

    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-2)
    steps = a.epochs * math.ceil(len(train) / a.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)))
    best, best_state, bad = -2.0, None, 0
    floor = None
    if a.init and a.floor_from_init and val:
        # The starting model is the candidate to beat: an epoch is kept only
        # if its validation SRCC is higher and its localisation and
        # dimension rates are not lower than the starting model's.
        m0 = evaluate(net, val)
        floor = m0
        best, best_state = m0["srcc"], {k: v.clone() for k, v in net.state_dict().items()}
        print("init val SRCC %.4f MAE %.2f loc %.3f dim %.3f (n %d)" % (m0["srcc"], m0["mae"], m0["loc"], m0["dim"],
                                                                       m0["n1"]), flush=True)
    t0 = time.time()
    for ep in range(a.epochs):
        order = list(range(len(train)))
        random.shuffle(order)
        tot = 0.0
        for b0 in range(0, len(order), a.batch):
            batch = [train[i] for i in order[b0:b0 + a.batch]]
            opt.zero_grad()
            qs, loss = [], 0.0
            for s in batch:
                l, q = sample_loss(net, s, a.tokens, gen)
                loss = loss + l / len(batch)
                qs.append(q)
            # Pairwise ranking on the global quality within the batch.
            rank, npairs = 0.0, 0
            for i in range(len(batch)):
                for j in range(len(batch)):
                    if batch[i].global_quality > batch[j].global_quality + 2:
                        rank = rank + F.relu(0.02 - (qs[i] - qs[j]) / 100)
                        npairs += 1
            if npairs:
                loss = loss + a.batch_rank * rank / npairs
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += float(loss) * len(batch)
        m = evaluate(net, val) if val else evaluate(net, train)
        v_srcc = m["srcc"]
        print("epoch %d loss %.4f val SRCC %.4f MAE %.2f loc %.3f dim %.3f (n %d) (%.0f s)" %
              (ep, tot / len(train), v_srcc, m["mae"], m["loc"], m["dim"], m["n1"], time.time() - t0), flush=True)
        if a.save_every:
            M.save_weights(net, "%s.epoch%d" % (a.out, ep))
        ok = floor is None or (m["loc"] >= floor["loc"] and m["dim"] >= floor["dim"])
        if (v_srcc > best and ok) or a.select == "last":
            best, bad = v_srcc, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
        if (bad >= a.patience and a.select == "val") or (time.time() - t0) / 60 > a.max_minutes:
            break
    net.load_state_dict(best_state)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    M.save_weights(net, a.out)
    print("best val SRCC %.4f -> %s (%d bytes)" % (best, a.out, os.path.getsize(a.out)))


if __name__ == "__main__":
    main()
