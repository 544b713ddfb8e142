"""A fast maximum-likelihood fit of the BG/NBD model, for millions of customers.

lifetimes' BetaGeoFitter differentiates its likelihood with autograd and spends most of a fit on
log-gamma and digamma over every input row. Those terms depend only on the frequency, which takes
few distinct values, so here they are computed once per distinct frequency and the gradient is
written out (Fader, Hardie & Lee 2005, eq. 6). The fitted parameters go back into a lifetimes
BetaGeoFitter, so every prediction is still lifetimes' own; tests check that both fits agree.
Customers without a repeat purchase differ only by their age T, so they are weighted per distinct T.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

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
    total = w.sum()
    # terms of the frequency alone: weighted once per distinct frequency
    distinct_x, x_index = np.unique(x, return_inverse=True)
    weight_x = np.bincount(x_index, weights=w)
    # customers without a repeat purchase (x = 0, t_x = 0) differ only by T
    first_only = x == 0
    distinct_t0, t0_index = np.unique(t[first_only], return_inverse=True)
    weight_t0 = np.bincount(t0_index, weights=w[first_only])
    repeat = ~first_only
    chunks = [
        (x[repeat][part], t_x[repeat][part], t[repeat][part], w[repeat][part])
        for part in np.array_split(np.arange(int(repeat.sum())), os.cpu_count() or 1)
    ]

    def repeat_buyer_sums(chunk, r, alpha, a, b):
        """Weighted sums over repeat buyers of log(A + B), with A = (alpha+T)^-(r+x) and
        B = a/(b+x-1) (alpha+t_x)^-(r+x), and of its derivatives' row terms."""
        x1, t_x1, t1, w1 = chunk
        log_alpha_t, log_alpha_tx = np.log(alpha + t1), np.log(alpha + t_x1)
        c = -(r + x1) * log_alpha_t
        b_x = b + x1 - 1
        difference = np.log(a / b_x) - (r + x1) * log_alpha_tx - c
        softplus = np.maximum(difference, 0) + np.log1p(np.exp(-np.abs(difference)))  # log(1 + B/A)
        v = np.exp(difference - softplus)  # B / (A + B)
        u = 1 - v
        return np.array([
            w1 @ (c + softplus),
            w1 @ (u * log_alpha_t + v * log_alpha_tx),
            w1 @ ((r + x1) * (u / (alpha + t1) + v / (alpha + t_x1))),
            w1 @ v,
            w1 @ (v / b_x),
        ])

    pool = ThreadPoolExecutor(max_workers=len(chunks))  # NumPy releases the GIL in these loops

    def objective(log_params):
        r, alpha, a, b = np.exp(log_params)
        log_sum, d_r_rows, d_alpha_rows, v_sum, d_b_rows = sum(
            pool.map(lambda chunk: repeat_buyer_sums(chunk, r, alpha, a, b), chunks)
        )
        log_alpha_t0 = np.log(alpha + distinct_t0)
        ll = (weight_x @ (gammaln(r + distinct_x) + gammaln(b + distinct_x) - gammaln(a + b + distinct_x))
              + total * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
              + log_sum - r * (weight_t0 @ log_alpha_t0))
        d_r = (weight_x @ digamma(r + distinct_x) + total * (np.log(alpha) - digamma(r))
               - d_r_rows - weight_t0 @ log_alpha_t0)
        d_alpha = (total * r / alpha - d_alpha_rows
                   - r * (weight_t0 @ (1 / (alpha + distinct_t0))))
        d_a = total * digamma(a + b) - weight_x @ digamma(a + b + distinct_x) + v_sum / a
        d_b = (total * (digamma(a + b) - digamma(b)) + weight_x @ (digamma(b + distinct_x) - digamma(a + b + distinct_x))
               - d_b_rows)
        params = np.array([r, alpha, a, b])
        value = -ll / total + penalizer * np.sum(params**2)
        gradient = -np.array([d_r, d_alpha, d_a, d_b]) / total + 2 * penalizer * params
        return value, gradient * params  # chain rule: the optimizer works on log parameters

    with pool:
        result = minimize(objective, x0=np.full(4, 0.1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    if not result.success:
        raise BgNbdFitError(f"BG/NBD fit did not converge: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    fitter = BetaGeoFitter(penalizer_coef=penalizer)
    fitter.params_ = pd.Series({"r": r, "alpha": alpha / scale, "a": a, "b": b})
    log_likelihood = -(result.fun - penalizer * np.sum(np.exp(result.x) ** 2)) * total + (w @ (x * np.log(scale)))
    return fitter, float(log_likelihood)
