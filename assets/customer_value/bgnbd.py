"""A fast maximum-likelihood fit of the BG/NBD model, for millions of customers.

lifetimes' BetaGeoFitter differentiates its likelihood with autograd and spends most of a fit on
log-gamma and digamma over every input row. Those terms depend only on the frequency, which takes
few distinct values, so here they are computed once per distinct frequency and the gradient is
written out (Fader, Hardie & Lee 2005, eq. 6). The fitted parameters go back into a lifetimes
BetaGeoFitter, so every prediction is still lifetimes' own; tests check that both fits agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from scipy.optimize import minimize
from scipy.special import digamma, gammaln


class BgNbdFitError(RuntimeError):
    pass


def fit_bg_nbd(frequency, recency, age, weights, penalizer: float = 0.0) -> tuple[BetaGeoFitter, float]:
    """Fit BG/NBD on (frequency, recency, T) rows with weights; return the fitter and the log-likelihood."""
    x = np.asarray(frequency, dtype=float)
    scale = 10.0 / np.max(age)  # lifetimes' time scaling, for a well-conditioned optimization
    t_x, t = np.asarray(recency, dtype=float) * scale, np.asarray(age, dtype=float) * scale
    w = np.asarray(weights, dtype=float)
    distinct_x, x_index = np.unique(x, return_inverse=True)
    repeat = x > 0
    b_plus_x_minus_1 = np.where(repeat, x - 1, 0.0)

    def objective(log_params):
        r, alpha, a, b = np.exp(log_params)
        by_x = lambda f, shift: f(shift + distinct_x)[x_index]  # noqa: E731 — evaluated per distinct x
        log_alpha_t, log_alpha_tx = np.log(alpha + t), np.log(alpha + t_x)
        c = -(r + x) * log_alpha_t
        d = np.where(repeat, np.log(a) - np.log(b + b_plus_x_minus_1) - (r + x) * log_alpha_tx, -np.inf)
        s = np.logaddexp(c, d)
        u, v = np.exp(c - s), np.exp(d - s)
        ll = (by_x(gammaln, r) - gammaln(r) + r * np.log(alpha)
              + gammaln(a + b) + by_x(gammaln, b) - gammaln(b) - by_x(gammaln, a + b) + s)
        d_r = by_x(digamma, r) - digamma(r) + np.log(alpha) - u * log_alpha_t - v * log_alpha_tx
        d_alpha = r / alpha - u * (r + x) / (alpha + t) - v * (r + x) / (alpha + t_x)
        d_a = digamma(a + b) - by_x(digamma, a + b) + v / a
        d_b = (digamma(a + b) + by_x(digamma, b) - digamma(b) - by_x(digamma, a + b)
               - v / np.where(repeat, b + b_plus_x_minus_1, 1.0))
        total = w.sum()
        params = np.array([r, alpha, a, b])
        penalty = penalizer * np.sum(params**2)
        value = -(w @ ll) / total + penalty
        gradient = -np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) / total + 2 * penalizer * params
        return value, gradient * params  # chain rule: the optimizer works on log parameters

    result = minimize(objective, x0=np.full(4, 0.1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    if not result.success:
        raise BgNbdFitError(f"BG/NBD fit did not converge: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    fitter = BetaGeoFitter(penalizer_coef=penalizer)
    fitter.params_ = pd.Series({"r": r, "alpha": alpha / scale, "a": a, "b": b})
    log_likelihood = -(result.fun - penalizer * np.sum(np.exp(result.x) ** 2)) * w.sum() + (w @ (x * np.log(scale)))
    return fitter, float(log_likelihood)
