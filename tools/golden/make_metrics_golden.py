# SPDX-License-Identifier: MIT
"""Goldens for include/rsfiqa/pipeline/metrics.hpp from scipy.

Writes tests/data/golden/metrics/metrics.json: a list of cases, each with
x (predictions), y (reference scores) and scipy's spearmanr, pearsonr,
kendalltau (tau-b), and scipy.optimize.curve_fit of the 4-parameter logistic
f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2 from the start point
(max y, min y, mean x, std x / 4), with the fitted values, the residual sum
of squares and the PLCC of the fitted values against y.
Run: /usr/bin/python3 tools/golden/make_metrics_golden.py (needs python3-scipy).
"""
import json
import os

import numpy as np
from scipy import optimize, stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden", "metrics")


def logistic(x, b1, b2, b3, b4):
    return (b1 - b2) / (1 + np.exp(-(x - b3) / np.abs(b4))) + b2


def case(name, x, y):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    p0 = [y.max(), y.min(), x.mean(), x.std() / 4]
    b, _ = optimize.curve_fit(logistic, x, y, p0=p0, maxfev=20000)
    fx = logistic(x, *b)
    return dict(name=name, x=x.tolist(), y=y.tolist(),
                srcc=float(stats.spearmanr(x, y)[0]), plcc=float(stats.pearsonr(x, y)[0]),
                krcc=float(stats.kendalltau(x, y)[0]), fitted=fx.tolist(),
                sse=float(((fx - y) ** 2).sum()), plcc_logistic=float(stats.pearsonr(fx, y)[0]))


def main():
    rng = np.random.default_rng(7)
    cases = []
    # A sigmoid-shaped relation with noise (predictions 0..100, MOS 1..5).
    x = rng.uniform(0, 100, 60)
    y = 1 + 4 / (1 + np.exp(-(x - 55) / 9)) + rng.normal(0, 0.25, 60)
    cases.append(case("sigmoid_noise", x, y))
    # Heavy ties in both variables (rounded scores).
    x = np.round(rng.uniform(0, 10, 80))
    y = np.round(0.6 * x + rng.normal(0, 1.5, 80))
    cases.append(case("ties", x, y))
    # Weak, negative-leaning correlation, small n.
    x = rng.normal(0, 1, 15)
    y = -0.3 * x + rng.normal(0, 1, 15)
    cases.append(case("weak_small", x, y))
    # Predictions on a unit scale vs 0..100 targets.
    x = rng.uniform(0, 1, 120)
    y = 100 * x ** 2 + rng.normal(0, 5, 120)
    cases.append(case("unit_scale", x, y))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "metrics.json"), "w") as f:
        json.dump(cases, f, indent=0)
    for c in cases:
        print(c["name"], "srcc %.4f plcc %.4f krcc %.4f plcc_log %.4f" % (c["srcc"], c["plcc"], c["krcc"],
                                                                          c["plcc_logistic"]))


if __name__ == "__main__":
    main()
