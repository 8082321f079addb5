// SPDX-License-Identifier: MIT
// Correlation metrics of image quality assessment, as pyiqa / VQEG report
// them: SRCC (Spearman, average ranks for ties), PLCC (Pearson), PLCC after
// the 4-parameter logistic fit, and KRCC (Kendall tau-b, ties in either
// variable handled as scipy.stats.kendalltau does).
//
// The logistic (VQEG, pyiqa's fit_curve):
//   f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2
// is fitted to (prediction x, reference y) by least squares with a
// Levenberg-Marquardt loop written here (analytic Jacobian, multiplicative
// damping, 4x4 normal equations solved in double). The start point is
// b = (max y, min y, mean x, std x / 4); pyiqa starts from b4 = 0.5, which
// only suits predictions on a unit scale, so we scale it with the spread of
// x. The tests compare everything with scipy (spearmanr, pearsonr,
// kendalltau, curve_fit from the same start point).
//
// Kendall's tau-b is computed over all pairs, O(n^2): fine for evaluation
// sets of a few ten thousand images; it does not implement Knight's
// O(n log n) algorithm. Nothing here reads files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "rsfiqa/core/status.hpp"

namespace rsfiqa {

// Ranks 1..n with ties given the average of the ranks they span.
inline std::vector<double> average_ranks(const std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * (double)(i + j) + 1.0;  // mean of ranks i+1 .. j+1
    for (size_t t = i; t <= j; ++t) r[idx[t]] = avg;
    i = j + 1;
  }
  return r;
}

namespace detail {

inline Status metric_check(const std::vector<double>& x, const std::vector<double>& y, size_t min_n, const char* what) {
  if (x.size() != y.size())
    return make_error(ErrorCode::kShapeMismatch, "%s: %zu predictions for %zu reference scores", what, x.size(),
                      y.size());
  if (x.size() < min_n)
    return make_error(ErrorCode::kEmptyInput, "%s needs at least %zu pairs, got %zu", what, min_n, x.size());
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      return make_error(ErrorCode::kInvalidArgument, "%s: pair %zu is not finite", what, i);
  return Status();
}

inline bool is_constant(const std::vector<double>& v) {
  for (double a : v)
    if (a != v[0]) return false;
  return true;
}

}  // namespace detail

// Pearson's linear correlation. Errors: size mismatch, fewer than 2 pairs,
// non-finite values, a constant input (the correlation is undefined).
inline Result<double> plcc(const std::vector<double>& x, const std::vector<double>& y) {
  RSFIQA_RETURN_IF_ERROR(detail::metric_check(x, y, 2, "PLCC"));
  if (detail::is_constant(x) || detail::is_constant(y))
    return make_error(ErrorCode::kInvalidArgument, "PLCC: a constant input has no correlation");
  const double n = (double)x.size();
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double a = x[i] - mx, b = y[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  const double r = sxy / std::sqrt(sxx * syy);
  return std::max(-1.0, std::min(1.0, r));
}

// Spearman's rank correlation: Pearson on average ranks.
inline Result<double> srcc(const std::vector<double>& x, const std::vector<double>& y) {
  RSFIQA_RETURN_IF_ERROR(detail::metric_check(x, y, 2, "SRCC"));
  if (detail::is_constant(x) || detail::is_constant(y))
    return make_error(ErrorCode::kInvalidArgument, "SRCC: a constant input has no correlation");
  return plcc(average_ranks(x), average_ranks(y));
}

// Kendall's tau-b: (concordant - discordant) / sqrt((P - Tx)(P - Ty)) with
// P all pairs, Tx pairs tied in x (including those tied in both), Ty alike.
inline Result<double> krcc(const std::vector<double>& x, const std::vector<double>& y) {
  RSFIQA_RETURN_IF_ERROR(detail::metric_check(x, y, 2, "KRCC"));
  if (detail::is_constant(x) || detail::is_constant(y))
    return make_error(ErrorCode::kInvalidArgument, "KRCC: a constant input has no correlation");
  const size_t n = x.size();
  int64_t con = 0, dis = 0, tx = 0, ty = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) ++tx;
      if (dy == 0) ++ty;
      if (dx == 0 || dy == 0) continue;
      if ((dx > 0) == (dy > 0))
        ++con;
      else
        ++dis;
    }
  const double pairs = 0.5 * (double)n * (double)(n - 1);
  return (double)(con - dis) / std::sqrt((pairs - (double)tx) * (pairs - (double)ty));
}

// The 4-parameter logistic.
struct Logistic4 {
  double b[4] = {0, 0, 0, 1};
  double operator()(double x) const {
    const double s = std::fabs(b[3]);
    const double t = (x - b[2]) / s;
    // 1 / (1 + exp(-t)) without overflow for large |t|.
    const double g = t >= 0 ? 1.0 / (1.0 + std::exp(-t)) : std::exp(t) / (1.0 + std::exp(t));
    return (b[0] - b[1]) * g + b[1];
  }
};

struct LogisticFit {
  Logistic4 f;
  double sse = 0;      // sum of squared residuals at the optimum
  int iterations = 0;  // accepted + rejected LM steps
  bool converged = false;
};

namespace detail {

// Solves the 4x4 system A p = r (Gaussian elimination, partial pivoting).
inline bool solve4(double A[4][4], double r[4], double p[4]) {
  for (int c = 0; c < 4; ++c) {
    int piv = c;
    for (int i = c + 1; i < 4; ++i)
      if (std::fabs(A[i][c]) > std::fabs(A[piv][c])) piv = i;
    if (!(std::fabs(A[piv][c]) > 1e-300)) return false;
    if (piv != c) {
      for (int j = 0; j < 4; ++j) std::swap(A[c][j], A[piv][j]);
      std::swap(r[c], r[piv]);
    }
    for (int i = c + 1; i < 4; ++i) {
      const double m = A[i][c] / A[c][c];
      for (int j = c; j < 4; ++j) A[i][j] -= m * A[c][j];
      r[i] -= m * r[c];
    }
  }
  for (int c = 3; c >= 0; --c) {
    double s = r[c];
    for (int j = c + 1; j < 4; ++j) s -= A[c][j] * p[j];
    p[c] = s / A[c][c];
  }
  return true;
}

inline double logistic_sse(const Logistic4& f, const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = f(x[i]) - y[i];
    s += e * e;
  }
  return s;
}

}  // namespace detail

// Fits the logistic to (x, y) by Levenberg-Marquardt from the start point
// in the file comment. Errors as plcc(), plus fewer than 4 pairs.
inline Result<LogisticFit> fit_logistic4(const std::vector<double>& x, const std::vector<double>& y,
                                         int max_iterations = 2000) {
  RSFIQA_RETURN_IF_ERROR(detail::metric_check(x, y, 4, "logistic fit"));
  if (detail::is_constant(x)) return make_error(ErrorCode::kInvalidArgument, "logistic fit: constant predictions");
  const size_t n = x.size();
  double mx = 0, vx = 0;
  for (double a : x) mx += a;
  mx /= (double)n;
  for (double a : x) vx += (a - mx) * (a - mx);
  LogisticFit fit;
  fit.f.b[0] = *std::max_element(y.begin(), y.end());
  fit.f.b[1] = *std::min_element(y.begin(), y.end());
  fit.f.b[2] = mx;
  fit.f.b[3] = std::sqrt(vx / (double)n) / 4.0;
  double sse = detail::logistic_sse(fit.f, x, y);
  double lambda = 1e-3;
  for (int it = 0; it < max_iterations; ++it) {
    fit.iterations = it + 1;
    // Normal equations J^T J and J^T r at the current b.
    double JtJ[4][4] = {}, Jtr[4] = {};
    const double s = std::fabs(fit.f.b[3]), sgn = fit.f.b[3] >= 0 ? 1.0 : -1.0, amp = fit.f.b[0] - fit.f.b[1];
    for (size_t i = 0; i < n; ++i) {
      const double t = (x[i] - fit.f.b[2]) / s;
      const double g = t >= 0 ? 1.0 / (1.0 + std::exp(-t)) : std::exp(t) / (1.0 + std::exp(t));
      const double dg = g * (1.0 - g);  // dg/dt
      const double J[4] = {g, 1.0 - g, -amp * dg / s, -amp * dg * t / s * sgn};
      const double r = y[i] - ((amp)*g + fit.f.b[1]);
      for (int a = 0; a < 4; ++a) {
        Jtr[a] += J[a] * r;
        for (int b = 0; b < 4; ++b) JtJ[a][b] += J[a] * J[b];
      }
    }
    // Try damped steps until one lowers the error (or the damping explodes).
    bool accepted = false;
    while (lambda < 1e16) {
      double A[4][4], r[4], p[4] = {};
      for (int a = 0; a < 4; ++a) {
        for (int b = 0; b < 4; ++b) A[a][b] = JtJ[a][b];
        A[a][a] += lambda * std::max(JtJ[a][a], 1e-12);
        r[a] = Jtr[a];
      }
      if (detail::solve4(A, r, p)) {
        Logistic4 cand = fit.f;
        for (int a = 0; a < 4; ++a) cand.b[a] += p[a];
        const double cs = detail::logistic_sse(cand, x, y);
        if (std::isfinite(cs) && cs <= sse && cand.b[3] != 0.0) {
          const double gain = sse - cs;
          fit.f = cand;
          sse = cs;
          lambda = std::max(lambda / 10.0, 1e-15);
          accepted = true;
          if (gain <= 1e-14 * std::max(cs, 1e-300)) fit.converged = true;
          break;
        }
      }
      lambda *= 10.0;
    }
    if (!accepted) fit.converged = true;  // no step improves: a (local) minimum
    if (fit.converged) break;
  }
  fit.sse = sse;
  return fit;
}

// All metrics of one evaluation.
struct IqaMetrics {
  int64_t n = 0;
  double srcc = 0, plcc = 0, plcc_logistic = 0, krcc = 0;
  LogisticFit fit;
};

inline Result<IqaMetrics> iqa_metrics(const std::vector<double>& pred, const std::vector<double>& ref) {
  IqaMetrics m;
  m.n = (int64_t)pred.size();
  RSFIQA_ASSIGN_OR_RETURN(m.srcc, srcc(pred, ref));
  RSFIQA_ASSIGN_OR_RETURN(m.plcc, plcc(pred, ref));
  RSFIQA_ASSIGN_OR_RETURN(m.krcc, krcc(pred, ref));
  RSFIQA_ASSIGN_OR_RETURN(m.fit, fit_logistic4(pred, ref));
  std::vector<double> mapped(pred.size());
  for (size_t i = 0; i < pred.size(); ++i) mapped[i] = m.fit.f(pred[i]);
  // A fit that collapses to a constant leaves PLCC undefined: report 0.
  auto pl = plcc(mapped, ref);
  m.plcc_logistic = pl.ok() ? *pl : 0.0;
  return m;
}

}  // namespace rsfiqa
