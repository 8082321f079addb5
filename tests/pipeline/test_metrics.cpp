// SPDX-License-Identifier: MIT
// Tests for pipeline/metrics.hpp against scipy (tools/golden/make_metrics_golden.py):
// spearmanr (average ranks for ties), pearsonr, kendalltau (tau-b) and
// curve_fit of the 4-parameter logistic from the same start point; plus the
// error cases (size mismatch, too few pairs, constant input, non-finite).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rsfiqa/io/json.hpp"
#include "rsfiqa/pipeline/metrics.hpp"

using namespace rsfiqa;

namespace {

std::vector<double> numbers(const io::JsonValue& v) {
  std::vector<double> out;
  for (const io::JsonValue& e : v.items()) out.push_back(e.as_double());
  return out;
}

}  // namespace

TEST_CASE("metrics: SRCC, PLCC, KRCC and the logistic fit match scipy") {
  std::ifstream in(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/metrics/metrics.json");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto root = io::parse_json(ss.str());
  REQUIRE(root.ok());
  REQUIRE(root->size() >= 4);
  for (const io::JsonValue& c : root->items()) {
    const std::string name = c.find("name")->as_string();
    CAPTURE(name);
    const std::vector<double> x = numbers(*c.find("x")), y = numbers(*c.find("y"));
    auto m = iqa_metrics(x, y);
    REQUIRE_MESSAGE(m.ok(), m.status().to_string());
    CHECK(m->n == (int64_t)x.size());
    CHECK(std::fabs(m->srcc - c.find("srcc")->as_double()) < 1e-12);
    CHECK(std::fabs(m->plcc - c.find("plcc")->as_double()) < 1e-12);
    CHECK(std::fabs(m->krcc - c.find("krcc")->as_double()) < 1e-12);
    // The fit: our least squares must be at least as good as scipy's (to
    // rounding), and the fitted curve and its PLCC must agree.
    const double sse_ref = c.find("sse")->as_double();
    MESSAGE(name << ": sse " << m->fit.sse << " (scipy " << sse_ref << "), PLCC after fit " << m->plcc_logistic
                 << " (scipy " << c.find("plcc_logistic")->as_double() << "), " << m->fit.iterations << " iterations");
    CHECK(m->fit.sse <= sse_ref * (1 + 1e-6) + 1e-12);
    CHECK(std::fabs(m->plcc_logistic - c.find("plcc_logistic")->as_double()) < 1e-4);
    const std::vector<double> fitted = numbers(*c.find("fitted"));
    double scale = 0, err = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      scale = std::max(scale, std::fabs(fitted[i]));
      err = std::max(err, std::fabs(m->fit.f(x[i]) - fitted[i]));
    }
    CHECK(err <= 1e-3 * std::max(scale, 1.0));
  }
}

TEST_CASE("metrics: average ranks") {
  const std::vector<double> r = average_ranks({3, 1, 3, 2, 3});
  CHECK(r == std::vector<double>{4, 1, 4, 2, 4});
}

TEST_CASE("metrics: bad input gives errors") {
  CHECK(srcc({1, 2, 3}, {1, 2}).status().code() == ErrorCode::kShapeMismatch);
  CHECK(plcc({1}, {1}).status().code() == ErrorCode::kEmptyInput);
  CHECK(krcc({1, 1, 1}, {1, 2, 3}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(plcc({1, NAN, 3}, {1, 2, 3}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(fit_logistic4({1, 2, 3}, {1, 2, 3}).status().code() == ErrorCode::kEmptyInput);
  CHECK(fit_logistic4({2, 2, 2, 2}, {1, 2, 3, 4}).status().code() == ErrorCode::kInvalidArgument);
}
