"""Student's t without scipy (harness.reporting.student_t), held to scipy: quantiles and tails."""

import math

import numpy as np
import pytest

from harness.reporting.stats import t_quantile
from harness.reporting.student_t import CI95_TABLE, t_quantiles, t_tail

scipy_stats = pytest.importorskip("scipy.stats")

#: Whole degrees of freedom 1 to 100, then up to a million on a log scale, and fractional ones (Welch's).
DEGREES = np.concatenate(
    [
        np.arange(1, 101),
        np.geomspace(1, 1e6, 60),
        [1.5, 2.5, 3.7, 10.3, 49.9, 50.0, 50.1, 99.5, 1e5 + 0.5, 999_999.9, 1e6],
        np.random.default_rng(0).uniform(1, 300, 30),
    ]
)
#: Probabilities from 1e-12 to 1 - 1e-12, both tails. Near 1/2 scipy's own quantiles lose digits (4 degrees
#: of freedom: 1.8e-11 off at 0.499, 1.6e-9 at 0.5001), so 1e-12 is asked only 0.05 away from it; the
#: quantiles there are checked against mpmath below.
TAILS = np.geomspace(1e-12, 0.45, 40)
PROBABILITIES = np.concatenate([TAILS, 1 - TAILS, [0.975, 0.95, 0.995, 0.9, 0.75, 0.55]])
NEAR_HALF = np.array([0.46, 0.48, 0.49, 0.499, 0.501, 0.51, 0.52, 0.54])


def relative_error(p, df):
    p, df = np.meshgrid(p, df)
    ours, theirs = t_quantiles(p, df), scipy_stats.t.ppf(p, df)
    relative = np.abs(ours - theirs) / np.abs(theirs)
    worst = np.unravel_index(np.argmax(relative), relative.shape)
    return relative.max(), (p[worst], df[worst], ours[worst], theirs[worst])


def test_quantiles_match_scipy_for_1_to_a_million_degrees_of_freedom():
    error, where = relative_error(PROBABILITIES, DEGREES)
    assert error < 1e-12, where
    error, where = relative_error(NEAR_HALF, DEGREES)  # scipy's digits run out first here
    assert error < 1e-10, where


def test_the_95_percent_interval_quantile_is_scipys_to_the_last_bit_up_to_100_degrees():
    df = np.arange(1, len(CI95_TABLE) + 1)
    assert list(CI95_TABLE) == scipy_stats.t.ppf(0.975, df).tolist()
    assert t_quantiles(0.975, df.astype(float)).tolist() == list(CI95_TABLE)
    assert t_quantile(0.975, 4) == 2.7764451051977934 and t_quantile(0.975, 2) == pytest.approx(4.3027, rel=1e-4)


def test_tails_match_scipy():
    t = np.concatenate([np.geomspace(0.01, 1e4, 40), [0.0, 1.96, 1e8], -np.array([0.5, 3.0])])
    x, df = np.meshgrid(t, DEGREES)
    ours, theirs = t_tail(x, df), scipy_stats.t.sf(x, df)
    nonzero = theirs > 1e-300
    assert np.max(np.abs(ours - theirs)[nonzero] / theirs[nonzero]) < 1e-12
    tiny = np.array([1e-8, 1e-5, 1e-3])  # scipy: 1.6e-9 off at 1e-8; one degree of freedom is the Cauchy
    assert np.abs(t_tail(tiny, 1.0) - (0.5 - np.arctan(tiny) / np.pi)).max() < 1e-16


def test_edges_give_infinities_and_nan():
    p = [0.0, 1.0, 0.5, math.nan, 1.5, -0.1, 0.975, 0.975]
    df = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.0, math.inf]
    out = t_quantiles(p, df)
    assert out[0] == -math.inf and out[1] == math.inf and out[2] == 0.0
    assert all(math.isnan(v) for v in out[3:7])
    assert out[7] == pytest.approx(scipy_stats.norm.ppf(0.975), rel=1e-14)  # infinitely many: the normal
    assert t_quantiles(0.25, 2.0) == -t_quantiles(0.75, 2.0)


def test_quantiles_near_one_half_keep_their_digits():
    """Where scipy's quantile loses digits (probabilities near 1/2) this one does not: checked with mpmath."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    for p, df in [(0.5001, 4.0), (0.5001, 24.0), (0.5 + 1e-9, 1.0), (0.5 + 1e-9, 7.5), (0.51, 62.0), (0.499, 4.0)]:
        nu = mpmath.mpf(df)

        def cdf(t, nu=nu, p=p):
            tail = mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + t * t), regularized=True) / 2
            return (1 - tail if t > 0 else tail) - mpmath.mpf(p)

        exact = mpmath.findroot(cdf, mpmath.mpf(float(t_quantiles(p, df))))
        assert float(abs(t_quantiles(p, df) - exact) / exact) < 1e-14, (p, df)
