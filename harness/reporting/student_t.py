"""Student's t distribution in numpy alone: its tail and its quantiles, for the intervals of every table.

The plain report needs one t quantile per distinct number of seeds, and
importing ``scipy.stats`` for it cost seconds; this module computes them
without scipy, to within a few units in the last place of
``scipy.stats.t.ppf`` (tests/reporting/test_student_t.py holds it to 1e-12
relative for 1 to 10^6 degrees of freedom, whole or fractional, and
probabilities from 1e-12 to 1 - 1e-12).

The tail is the regularised incomplete beta function,
``P(T > t) = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t²)``: its continued
fraction (modified Lentz) for few degrees of freedom, DiDonato and Morris's
asymptotic series (BGRAT, ACM TOMS 708) for many, where the fraction loses
digits to cancellation. Near the centre, ``P(0 < T < t) = I_(1-x)(1/2, df/2) / 2``
by its own continued fraction, so small quantiles keep their digits too.
The quantile starts from Hill's approximation (Algorithm 396, 1970) and is
polished by Newton steps on the logarithm of that probability against
``log t``: a curve close to a straight line in the heavy tails, so a few
steps suffice from any start. The 0.975 quantiles of 1 to 100 degrees of
freedom, the 95% intervals of every table, are scipy's to the last bit
(:data:`CI95_TABLE`).
"""

from __future__ import annotations

import math

import numpy as np

#: The continued fraction stops when its last factor is this close to 1 (two units in the last place)...
_CF_EPSILON = 4.5e-16
#: ... or after this many terms (never reached where it is used).
_CF_TERMS = 5_000
#: Degrees of freedom from which the tail comes from the BGRAT series instead of the continued fraction.
_SERIES_DF = 50.0
#: ... and t²/df below which (x = df/(df+t²) near 1, where the series converges and the fraction cancels).
_SERIES_SPAN = 0.5
#: ``a`` from which ``log Γ(a + 1/2) - log Γ(a)`` comes from its asymptotic series.
_SERIES_FROM = 10.0
#: Bernoulli numbers B_2, B_4, ... B_16, for that series.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
_TINY = 1e-300
#: Degrees of freedom beyond which t is the normal distribution to double precision (infinity included).
_NORMAL_DF = 1e20
#: The 0.975 quantile (every table's 95% interval) for 1 to 100 degrees of freedom, as scipy.stats.t.ppf gives
#: it: computed here they agree within a few units in the last place, and a CSV prints that last place, so
#: the intervals reports printed before scipy left the plain table read the same to the last digit.
#: tests/reporting/test_student_t.py checks the table against scipy.
CI95_TABLE = (
    12.706204736174694,
    4.302652729749462,
    3.1824463052837078,
    2.7764451051977934,
    2.5705818356363146,
    2.4469118511449786,
    2.364624251592784,
    2.306004135204166,
    2.262157162798205,
    2.228138851986274,
    2.200985160091639,
    2.1788128296672284,
    2.1603686564627913,
    2.144786687917804,
    2.131449545559776,
    2.1199052992212546,
    2.1098155778333156,
    2.1009220402410382,
    2.0930240544083087,
    2.085963447265864,
    2.0796138447276795,
    2.0738730679040254,
    2.0686576104190486,
    2.0638985616280245,
    2.0595385527532972,
    2.0555294386428735,
    2.0518305164802846,
    2.0484071417952454,
    2.045229642132703,
    2.0422724563012378,
    2.039513446396408,
    2.0369333434601016,
    2.0345152974493383,
    2.0322445093177186,
    2.030107928250343,
    2.0280940009804502,
    2.0261924630291093,
    2.0243941639119694,
    2.022690920036761,
    2.021075390306273,
    2.019540970441376,
    2.0180817028184443,
    2.016692199227824,
    2.0153675744437636,
    2.014103388880846,
    2.012895598919429,
    2.0117405137297655,
    2.010634757624232,
    2.0095752371292392,
    2.008559112100761,
    2.007583770315836,
    2.006646805061688,
    2.0057459953178687,
    2.0048792881880564,
    2.0040447832891455,
    2.003240718847872,
    2.002465459291007,
    2.0017174841452356,
    2.000995378088267,
    2.0002978220142604,
    1.999623584994939,
    1.9989715170333788,
    1.998340542520741,
    1.997729654317693,
    1.9971379083920038,
    1.9965644189523117,
    1.996008354025296,
    1.9954689314298435,
    1.9949454151072374,
    1.994437111771186,
    1.9939433678456255,
    1.9934635666618719,
    1.992997125889855,
    1.992543495180932,
    1.9921021540022417,
    1.9916726096446642,
    1.9912543953883846,
    1.9908470688116906,
    1.9904502102301285,
    1.990063421254446,
    1.9896863234569029,
    1.989318557136572,
    1.9889597801751624,
    1.9886096669757083,
    1.9882679074772216,
    1.98793420623902,
    1.9876082815890708,
    1.9872898648311692,
    1.986978699506281,
    1.9866745407037683,
    1.9863771544186177,
    1.98608631695113,
    1.9858018143458227,
    1.985523441866604,
    1.9852510035054978,
    1.984984311522457,
    1.9847231860139845,
    1.9844674545084815,
    1.9842169515864174,
    1.9839715185235518,
)
#: Newton steps at most (a handful suffice from Hill's guess).
_MAX_STEPS = 60


def _bgrat_coefficients(b: float, terms: int) -> list[float]:
    """The p_n of BGRAT (DiDonato and Morris, eq. 9.3) for ``I_x(a, b)``."""
    p = [1.0]
    for n in range(1, terms):
        inner = sum((m * b - n) * p[n - m] / math.factorial(2 * m + 1) for m in range(1, n))
        p.append(inner / n + (b - 1) / math.factorial(2 * n + 1))
    return p


#: BGRAT's coefficients for b = 1/2, the t distribution's.
_BGRAT_P = _bgrat_coefficients(0.5, 30)


def _log_gamma_half_ratio(a: np.ndarray) -> np.ndarray:
    """``log Γ(a + 1/2) - log Γ(a)`` for ``a > 0``, without the cancellation of two large log-gammas.

    Below :data:`_SERIES_FROM` the recurrence ``Γ(a + 3/2)/Γ(a + 1) = (a + 1/2)/a · Γ(a + 1/2)/Γ(a)``
    lifts ``a`` there; above it the asymptotic series in ``1/a`` (Bernoulli polynomials at 1/2) is exact
    to double precision.
    """
    a = np.asarray(a, dtype=float)
    steps = np.maximum(0.0, np.ceil(_SERIES_FROM - a))
    lifted = a + steps
    shift = np.zeros_like(a)
    for j in range(int(steps.max(initial=0))):
        shift += np.where(j < steps, np.log1p(0.5 / (a + j)), 0.0)
    series = 0.5 * np.log(lifted)
    for k, bernoulli in zip(range(2, 2 * len(_BERNOULLI) + 1, 2), _BERNOULLI, strict=True):
        series += (2.0 ** (1 - k) - 2.0) * bernoulli / (k * (k - 1)) / lifted ** (k - 1)
    return series - shift


def _beta_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The continued fraction of ``I_x(a, b)`` (Numerical Recipes' ``betacf``), each element to its convergence."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, _CF_TERMS):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            factor = d * c
            h = np.where(active, h * factor, h)
        active &= np.abs(factor - 1.0) > _CF_EPSILON
        if not active.any():
            break
    return h


def _bgrat_tail(a: np.ndarray, log_x: np.ndarray, log_ratio: np.ndarray) -> np.ndarray:
    """``I_x(a, 1/2)`` for large ``a`` by BGRAT's series in incomplete gamma functions (``log_x = log x``)."""
    big_t = a - 0.25  # a + (b - 1)/2
    u = -big_t * log_x
    with np.errstate(all="ignore"):  # far tails underflow to 0, and 0/0 there is dropped below
        h = np.sqrt(u / math.pi) * np.exp(-u)  # u^b e^-u / Γ(b)
        prefix = h * np.exp(log_ratio) / np.sqrt(big_t)  # h Γ(a + b) / (Γ(a) T^b)
        j = _erfc(np.sqrt(u)) / h  # Q(1/2, u) / h
        total = j.copy()
        lx2, lxp, b2n, t4 = (0.5 * log_x) ** 2, np.ones_like(u), 0.5, 4.0 * big_t * big_t
        for coefficient in _BGRAT_P[1:]:
            j = (b2n * (b2n + 1.0) * j + (u + b2n + 1.0) * lxp) / t4
            lxp, b2n = lxp * lx2, b2n + 2.0
            term = coefficient * j
            total = total + term
            if not np.any(np.abs(term) > 1e-17 * np.abs(total)):
                break
        tail = prefix * total
    return np.where(np.isfinite(tail), tail, 0.0)


def _erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function, elementwise, from the standard library (numpy has none)."""
    return np.asarray(np.frompyfunc(math.erfc, 1, 1)(x), dtype=float)


def _probabilities(t: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``P(T > t)``, ``P(0 < T < t)`` and ``t·pdf(t)`` for ``t >= 0``: each of the first two to full relative precision.

    The smaller-than-1/2 one of ``I_x(a, 1/2)`` and ``I_(1-x)(1/2, a)`` is computed, the other is its complement.
    """
    a = 0.5 * df
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # t = 0 and huge t: logs of 0 and of inf
        s2 = (t / np.sqrt(df)) ** 2  # t²/df
        log_x, log_y = -np.log1p(s2), -np.log1p(1.0 / s2)  # x = df/(df+t²), y = 1 - x = t²/(df+t²)
        log_ratio = _log_gamma_half_ratio(a)  # log Γ(a + 1/2) - log Γ(a) = log(1/B(a, 1/2)) + log Γ(1/2)
        front = np.exp(a * log_x + 0.5 * log_y + log_ratio - 0.5 * math.log(math.pi))  # x^a y^½ / B(a, ½) = t·pdf
    front = np.where(t == 0, 0.0, front)
    x, y = np.exp(log_x), np.exp(log_y)
    in_tail = t * t * (1.0 + 2.0 / df) > 3.0  # x < (a+1)/(a+5/2): the fraction of I_x(a, 1/2) converges fast
    half = np.full_like(a, 0.5)
    fraction = _beta_fraction(np.where(in_tail, a, half), np.where(in_tail, half, a), np.where(in_tail, x, y))
    tail = 0.5 * front * fraction / a
    series = in_tail & (df >= _SERIES_DF) & (s2 < _SERIES_SPAN)
    if series.any():
        tail = np.where(series, 0.5 * _bgrat_tail(np.where(series, a, 1.0), log_x, log_ratio), tail)
    central = front * fraction  # I_y(1/2, a)/2 = front·fraction/(2·(1/2))
    return np.where(in_tail, tail, 0.5 - central), np.where(in_tail, 0.5 - tail, central), front


def t_tail(t, df) -> np.ndarray:
    """``P(T > t)`` of Student's t with ``df > 0`` degrees of freedom (any real ``t``; arrays broadcast)."""
    t, df = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    upper, central, _ = _probabilities(np.abs(t), np.minimum(df, _NORMAL_DF))
    return np.where(t < 0, 0.5 + central, upper)


def _hill_start(q: np.ndarray, df: np.ndarray) -> np.ndarray:
    """A first guess at ``t`` with ``P(T > t) = q``, ``q < 1/2``: Hill's Algorithm 396 (as in R's ``qt``)."""
    p = 2.0 * q  # Hill's algorithm takes the two-sided probability
    with np.errstate(all="ignore"):
        a = 1.0 / (df - 0.5)
        b = 48.0 / a**2
        c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36
        d = ((94.5 / (b + c) - 3.0) / b + 1.0) * np.sqrt(a * math.pi / 2.0) * df
        y = (d * p) ** (2.0 / df)
        x = -_normal_start(q)  # the lower quantile of the normal
        c_near = c + np.where(df < 5, 0.3 * (df - 4.5) * (x + 0.6), 0.0)
        c_near = (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b + c_near
        w = (((((0.4 * x * x + 6.3) * x * x + 36.0) * x * x + 94.5) / c_near - x * x - 3.0) / b + 1.0) * x
        near_normal = np.expm1(a * w * w)
        far = (1.0 / (((df + 6.0) / (df * y) - 0.089 * d - 0.822) * (df + 2.0) * 3.0) + 0.5 / (df + 4.0)) * y - 1.0
        far = far * (df + 1.0) / (df + 2.0) + 1.0 / y
        guess = np.sqrt(df * np.where(((df < 2.1) & (p > 0.5)) | (y > 0.05 + a), near_normal, far))
        guess = np.where(df == 1, 1.0 / np.tan(math.pi * q), guess)
        guess = np.where(df == 2, np.sqrt(2.0 / (p * (2.0 - p)) - 2.0), guess)
    return np.where(np.isfinite(guess) & (guess > 0), guess, np.maximum(_normal_start(q), 1.0))


def _normal_start(q: np.ndarray) -> np.ndarray:
    """The standard normal's upper ``q`` quantile, ``q <= 1/2``, to 4.5e-4 (Abramowitz and Stegun 26.2.23)."""
    r = np.sqrt(-2.0 * np.log(q))
    return r - (2.515517 + 0.802853 * r + 0.010328 * r * r) / (1.0 + 1.432788 * r + 0.189269 * r * r + 0.001308 * r**3)


def t_quantiles(probability, df) -> np.ndarray:
    """The ``probability`` quantiles of Student's t with ``df > 0`` degrees of freedom (arrays broadcast).

    ``probability`` 0 and 1 give -inf and inf; NaN, a probability outside
    [0, 1] or ``df <= 0`` gives NaN.
    """
    p, df = np.broadcast_arrays(np.asarray(probability, dtype=float), np.asarray(df, dtype=float))
    valid = (p > 0) & (p < 1) & (df > 0)
    upper = p >= 0.5
    q = np.where(upper, 1.0 - p, p)  # the tail beyond the quantile, <= 1/2
    solve = valid & (q < 0.5)
    t = _solve_tail(np.where(solve, q, 0.125), np.where(solve, np.minimum(df, _NORMAL_DF), 1.0))
    t = np.where(q == 0.5, 0.0, t)
    listed = (p == 0.975) & (df >= 1) & (df <= len(CI95_TABLE)) & (df == np.floor(df))
    if listed.any():
        t = np.where(listed, np.asarray(CI95_TABLE)[np.clip(df, 1, len(CI95_TABLE)).astype(int) - 1], t)
    result = np.where(upper, t, -t)
    result = np.where(valid, result, np.nan)
    result = np.where((df > 0) & (p == 1), np.inf, result)
    return np.where((df > 0) & (p == 0), -np.inf, result)


def _solve_tail(q: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``t > 0`` with ``P(T > t) = q``: Newton on the log of the smaller of ``P(T > t)`` and ``P(0 < T < t)``
    against ``log t``, from Hill's guess."""
    centre = q > 0.25
    u = np.log(_hill_start(q, df))
    target = np.log(np.where(centre, 0.5 - q, q))  # 0.5 - q is exact there
    close = False
    for _ in range(_MAX_STEPS):
        tail, central, front = _probabilities(np.exp(u), df)
        value = np.maximum(np.where(centre, central, tail), _TINY)
        slope = np.where(centre, front, -front) / value  # d log P / d log t = ±t·pdf(t) / P
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (np.log(value) - target) / slope
        step = np.clip(np.where(np.isfinite(step), step, 0.0), -50.0, 50.0)
        u = u - step
        if close:  # one step after all were within 1e-9: Newton squares the error, nothing is left to gain
            break
        close = not np.any(np.abs(step) > 1e-9)
    return np.exp(u)
