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
    # over repeat buyers, the row terms depend on (x, T) through A = (alpha+T)^-(r+x) and on (x, t_x)
    # through B = a/(b+x-1) (alpha+t_x)^-(r+x): days and purchase counts give few distinct pairs, so
    # both are computed per distinct pair and gathered by index, and the gradient's row sums are
    # collected per pair with bincount; per row only log(A + B) and B/(A + B) remain
    x_r, t_r, tx_r, w_r = x[repeat], t[repeat], t_x[repeat], w[repeat]
    age_pairs, age_pair_index = distinct_pairs(x_r, t_r)
    recency_pairs, recency_pair_index = distinct_pairs(x_r, tx_r)
    age_pair_weight = np.bincount(age_pair_index, weights=w_r)
    # blocks small enough for their temporaries to stay in cache (fresh large arrays cost page faults)
    blocks = max(1, -(-len(w_r) // BLOCK_ROWS))
    chunks = [
        (age_pair_index[part], recency_pair_index[part], w_r[part])
        for part in np.array_split(np.arange(len(w_r)), blocks)
    ]

    def repeat_buyer_sums(chunk, log_a_per_age_pair, log_b_per_recency_pair):
        """Over a block of repeat buyers: the weighted sum of log(1 + B/A), and the weighted
        B/(A + B) summed per (x, T) pair and per (x, t_x) pair."""
        at_age_pair, at_recency_pair, w1 = chunk
        difference = log_b_per_recency_pair[at_recency_pair] - log_a_per_age_pair[at_age_pair]
        e = np.exp(-np.abs(difference))
        softplus = np.maximum(difference, 0) + np.log1p(e)
        inverse = 1 / (1 + e)
        weighted_v = w1 * np.where(difference >= 0, inverse, e * inverse)
        return (
            w1 @ softplus,
            np.bincount(at_age_pair, weights=weighted_v, minlength=len(age_pairs)),
            np.bincount(at_recency_pair, weights=weighted_v, minlength=len(recency_pairs)),
        )

    pool = ThreadPoolExecutor(max_workers=os.cpu_count())  # NumPy releases the GIL in these loops

    def objective(log_params):
        r, alpha, a, b = np.exp(log_params)
        x_age, age = age_pairs[:, 0], age_pairs[:, 1]
        x_recency, recency = recency_pairs[:, 0], recency_pairs[:, 1]
        log_alpha_t, log_alpha_tx = np.log(alpha + age), np.log(alpha + recency)
        log_a = -(r + x_age) * log_alpha_t
        log_b = np.log(a / (b + x_recency - 1)) - (r + x_recency) * log_alpha_tx
        parts = list(pool.map(lambda chunk: repeat_buyer_sums(chunk, log_a, log_b), chunks))
        softplus_sum = sum(part[0] for part in parts)
        v_at_age = sum(part[1] for part in parts)  # sum of w B/(A+B) per (x, T) pair
        v_at_recency = sum(part[2] for part in parts)  # the same per (x, t_x) pair
        u_at_age = age_pair_weight - v_at_age  # sum of w A/(A+B) per (x, T) pair
        log_sum = age_pair_weight @ log_a + softplus_sum
        d_r_rows = u_at_age @ log_alpha_t + v_at_recency @ log_alpha_tx
        d_alpha_rows = u_at_age @ ((r + x_age) / (alpha + age)) + v_at_recency @ ((r + x_recency) / (alpha + recency))
        v_sum = v_at_age.sum()
        d_b_rows = v_at_age @ (1 / (b + x_age - 1))
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


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (first, second) pairs as rows, and the index of each input row's pair: one
    integer code per row, as np.unique(axis=0) sorts rows far more slowly."""
    first_values, first_index = np.unique(first, return_inverse=True)
    second_values, second_index = np.unique(second, return_inverse=True)
    codes, pair_index = np.unique(first_index * len(second_values) + second_index, return_inverse=True)
    pairs = np.column_stack([first_values[codes // len(second_values)], second_values[codes % len(second_values)]])
    return pairs, pair_index
