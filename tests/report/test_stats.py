"""The report's statistics against values worked out by hand (closed forms where they exist)."""

import math

import pytest

from ifnd.report.stats import (detectable_effect, holm, p_value, paired_difference, partial_slope, slope,
                               summarise, unpaired_difference)


def test_p_value_of_a_paired_difference_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3); with 2 degrees of freedom the t
    # distribution's tail is 0.5 (1 - t / sqrt(t^2 + 2)), so p = 1 - sqrt(12 / 14)
    d = paired_difference({0: 3.0, 1: 5.0, 2: 7.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert p_value(d) == pytest.approx(1 - math.sqrt(12 / 14), rel=1e-9)
    assert math.isnan(p_value(summarise([1.0])))


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.2 -> 4 x 0.01, 3 x 0.03, max(0.09, 2 x 0.04), max(0.09, 0.2)
    out = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.2, "e": math.nan})
    assert out["a"] == (pytest.approx(0.04), True)
    assert out["c"] == (pytest.approx(0.09), False)
    assert out["b"] == (pytest.approx(0.09), False)  # monotone: never below an earlier step
    assert out["d"] == (pytest.approx(0.2), False)
    assert math.isnan(out["e"][0]) and out["e"][1] is False
    # a rejection stops once one step fails, even if a later adjusted p were small
    assert holm({"x": 0.001, "y": 0.04})["y"] == (pytest.approx(0.04), True)


def test_detectable_effect_by_hand():
    # n = 3, sd 1: (t_0.975,2 + t_0.8,2) / sqrt(3) = (4.302653 + 1.060660) / 1.732051
    assert detectable_effect(1.0, 3) == pytest.approx((4.302653 + 1.060660) / math.sqrt(3), rel=1e-5)
    assert detectable_effect(2.0, 3) == pytest.approx(2 * detectable_effect(1.0, 3))
    assert detectable_effect(1.0, 10) < detectable_effect(1.0, 5) < detectable_effect(1.0, 3)
    assert math.isnan(detectable_effect(1.0, 1))


def test_welch_difference_by_hand():
    # means 2 and 3; variances of the means 1/3 and 1; Welch's dof (4/3)^2 / ((1/3)^2/2 + 1)
    d = unpaired_difference([1.0, 2.0, 3.0], [2.0, 4.0])
    se, dof = math.sqrt(4 / 3), (4 / 3) ** 2 / ((1 / 3) ** 2 / 2 + 1)
    from scipy import stats
    half = stats.t.ppf(0.975, dof) * se
    assert d.mean == pytest.approx(-1.0)
    assert (d.ci_low, d.ci_high) == (pytest.approx(-1 - half), pytest.approx(-1 + half))
    assert unpaired_difference([1.0], [2.0, 3.0]).n == 1


def test_slope_over_epochs_by_hand():
    s = slope({0: {1: 0.1, 3: 0.3, 5: 0.5}, 1: {1: 0.2, 3: 0.2}, 2: {4: 0.9}})
    assert s.n == 2  # seed 2 has one epoch: no slope
    assert s.mean == pytest.approx(0.05)
    assert s.std == pytest.approx(math.sqrt(0.005))


def test_partial_slope_holds_the_control_fixed():
    # y depends on the control only; x rises with the control, so y ~ x alone has slope 1,
    # but with the control held fixed x explains nothing
    c = [0, 0, 1, 1, 2, 2]
    x = [1, 2, 2, 3, 3, 4]          # = c + (0 or 1)
    y = [5, 5, 7, 7, 9, 9]          # = 5 + 2 c
    got = partial_slope(y, x, c)
    assert got.n == 6 and got.mean == pytest.approx(0.0, abs=1e-12)
    assert got.ci_low == pytest.approx(0.0, abs=1e-9) and got.ci_high == pytest.approx(0.0, abs=1e-9)
    # an exact plane y = 2 + 3 x - c: coefficient 3, no residual, so a zero-width interval
    got = partial_slope([2 + 3 * a - b for a, b in zip(x, c)], x, c)
    assert got.mean == pytest.approx(3.0) and got.std == pytest.approx(0.0, abs=1e-9)
    # the interval of a 4-point fit by hand: x = 0,1,0,1, c = 0,0,1,1, y = 0,1,1,3 -> coefficient
    # 1.5, residuals +-0.25, s^2 = 0.25 / 1,
    # (X'X)^-1[1,1] = 1, so se = 0.5 and the 95% interval is 1.5 +- t(0.975, 1) * 0.5
    got = partial_slope([0, 1, 1, 3], [0, 1, 0, 1], [0, 0, 1, 1])
    assert got.mean == pytest.approx(1.5) and got.std == pytest.approx(0.5)
    assert got.ci_high - got.mean == pytest.approx(12.7062047 * 0.5, rel=1e-6)
    assert math.isnan(partial_slope([1, 2], [1, 2], [0, 1]).mean)           # too few points
    assert partial_slope([1, 2, 3, 4], [1, 2, 3, 4], [2, 4, 6, 8]).n == 4     # collinear: no value
    assert math.isnan(partial_slope([1, 2, 3, 4], [1, 2, 3, 4], [2, 4, 6, 8]).mean)
