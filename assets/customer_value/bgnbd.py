"""A fast maximum-likelihood fit of the BG/NBD model, for millions of customers.

lifetimes' BetaGeoFitter differentiates its likelihood with autograd and spends most of a fit on
log-gamma and digamma over every input row. Those terms depend only on the frequency, which takes
few distinct values, so here they are computed once per distinct frequency and the gradient is
written out (Fader, Hardie & Lee 2005, eq. 6). The fitted parameters go back into a lifetimes
BetaGeoFitter, which the plots and the backtest predict with; tests check that both fits agree.
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


BLOCK_ROWS = 65_536


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
    # over repeat buyers, T, t_x and x each take few distinct values (days, purchase counts): their
    # logarithms and reciprocals are computed per distinct value and gathered by index
    t_values, t_index = np.unique(t[repeat], return_inverse=True)
    tx_values, tx_index = np.unique(t_x[repeat], return_inverse=True)
    rx_values, rx_index = np.unique(x[repeat], return_inverse=True)
    # blocks small enough for their temporaries to stay in cache (fresh large arrays cost page faults)
    blocks = max(1, -(-int(repeat.sum()) // BLOCK_ROWS))
    chunks = [
        (x[repeat][part], t_index[part], tx_index[part], rx_index[part], w[repeat][part])
        for part in np.array_split(np.arange(int(repeat.sum())), blocks)
    ]

    def repeat_buyer_sums(chunk, r, per_value):
        """Weighted sums over repeat buyers of log(A + B), with A = (alpha+T)^-(r+x) and
        B = a/(b+x-1) (alpha+t_x)^-(r+x), and of its derivatives' row terms."""
        x1, t_at, tx_at, x_at, w1 = chunk
        log_alpha_t, inverse_alpha_t, log_alpha_tx, inverse_alpha_tx, log_a_bx, inverse_bx = per_value
        log_alpha_t, log_alpha_tx = log_alpha_t[t_at], log_alpha_tx[tx_at]
        r_x = r + x1
        c = -r_x * log_alpha_t
        difference = log_a_bx[x_at] - r_x * log_alpha_tx - c
        e = np.exp(-np.abs(difference))
        softplus = np.maximum(difference, 0) + np.log1p(e)  # log(1 + B/A)
        inverse = 1 / (1 + e)
        v = np.where(difference >= 0, inverse, e * inverse)  # B / (A + B)
        u = 1 - v
        return np.array([
            w1 @ (c + softplus),
            w1 @ (u * log_alpha_t + v * log_alpha_tx),
            w1 @ (r_x * (u * inverse_alpha_t[t_at] + v * inverse_alpha_tx[tx_at])),
            w1 @ v,
            w1 @ (v * inverse_bx[x_at]),
        ])

    pool = ThreadPoolExecutor(max_workers=os.cpu_count())  # NumPy releases the GIL in these loops

    def objective(log_params):
        r, alpha, a, b = np.exp(log_params)
        per_value = (
            np.log(alpha + t_values), 1 / (alpha + t_values), np.log(alpha + tx_values), 1 / (alpha + tx_values),
            np.log(a / (b + rx_values - 1)), 1 / (b + rx_values - 1),
        )
        log_sum, d_r_rows, d_alpha_rows, v_sum, d_b_rows = sum(
            pool.map(lambda chunk: repeat_buyer_sums(chunk, r, per_value), chunks)
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
