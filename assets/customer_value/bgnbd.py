"""Fast maximum-likelihood fits of BG/NBD and MBG/NBD, for millions of customers.

lifetimes' BetaGeoFitter and ModifiedBetaGeoFitter differentiate their likelihood with autograd and
spend most of a fit on log-gamma and digamma over every input row. Those terms depend only on the
frequency, which takes few distinct values, so here they are computed once per distinct frequency
and the gradient is written out (Fader, Hardie & Lee 2005, eq. 6; Batislam, Denizel & Filiztekin
2007 for MBG/NBD, which lets a customer drop out right after any purchase, the first included).
Tests check that the fits agree with lifetimes' own fitters.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from assets.customer_value.likelihood import ModelFit, PairedRows, maximize, on_one_blas_thread


def fit_bg_nbd(frequency, recency, age, weights, penalizer: float = 0.0, start: dict | None = None) -> ModelFit:
    """Fit BG/NBD (r, alpha, a, b) on (frequency, recency, T) rows with weights, from `start` if given
    (parameters of an earlier fit, in the data's time unit)."""
    return _fit_beta_geometric(frequency, recency, age, weights, penalizer, start, modified=False)


def fit_mbg_nbd(frequency, recency, age, weights, penalizer: float = 0.0, start: dict | None = None) -> ModelFit:
    """Fit MBG/NBD (r, alpha, a, b) on (frequency, recency, T) rows with weights, as `fit_bg_nbd`."""
    return _fit_beta_geometric(frequency, recency, age, weights, penalizer, start, modified=True)


@on_one_blas_thread
def _fit_beta_geometric(frequency, recency, age, weights, penalizer: float, start: dict | None, modified: bool):
    """The likelihood of a row is C(x) (A + B) with A = (alpha+T)^-(r+x) and
    B = a/(b+x+k-1) (alpha+t_x)^-(r+x), where k = 1 for MBG/NBD and 0 for BG/NBD; BG/NBD has no B
    for customers without a repeat purchase, who then differ only by their age T."""
    shift = 1.0 if modified else 0.0
    x = np.asarray(frequency, dtype=float)
    scale = 10.0 / np.max(age)  # lifetimes' time scaling, for a well-conditioned optimization
    t_x, t = np.asarray(recency, dtype=float) * scale, np.asarray(age, dtype=float) * scale
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    # terms of the frequency alone: weighted once per distinct frequency
    distinct_x, x_index = np.unique(x, return_inverse=True)
    weight_x = np.bincount(x_index, weights=w)
    first_only = np.zeros(len(x), dtype=bool) if modified else x == 0
    distinct_t0, t0_index = np.unique(t[first_only], return_inverse=True)
    weight_t0 = np.bincount(t0_index, weights=w[first_only])
    paired = ~first_only

    with PairedRows(x[paired], t_x[paired], t[paired], w[paired]) as rows:
        x_age, age_t = rows.age_pairs[:, 0], rows.age_pairs[:, 1]
        x_recency, recency_t = rows.recency_pairs[:, 0], rows.recency_pairs[:, 1]

        def objective(log_params):
            r, alpha, a, b = np.exp(log_params)
            log_alpha_t, log_alpha_tx = np.log(alpha + age_t), np.log(alpha + recency_t)
            log_a = -(r + x_age) * log_alpha_t
            log_b = np.log(a / (b + x_recency + shift - 1)) - (r + x_recency) * log_alpha_tx
            log_sum, v_at_age, v_at_recency = rows.sums(log_a, log_b)
            u_at_age = rows.age_pair_weight - v_at_age  # sum of w A/(A+B) per (x, T) pair
            d_r_rows = u_at_age @ log_alpha_t + v_at_recency @ log_alpha_tx
            d_alpha_rows = u_at_age @ ((r + x_age) / (alpha + age_t)) + v_at_recency @ ((r + x_recency) / (alpha + recency_t))
            d_b_rows = v_at_age @ (1 / (b + x_age + shift - 1))
            log_alpha_t0 = np.log(alpha + distinct_t0)
            ll = (weight_x @ (gammaln(r + distinct_x) + gammaln(b + distinct_x + shift) - gammaln(a + b + distinct_x + shift))
                  + total * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
                  + log_sum - r * (weight_t0 @ log_alpha_t0))
            d_r = (weight_x @ digamma(r + distinct_x) + total * (np.log(alpha) - digamma(r))
                   - d_r_rows - weight_t0 @ log_alpha_t0)
            d_alpha = total * r / alpha - d_alpha_rows - r * (weight_t0 @ (1 / (alpha + distinct_t0)))
            d_a = total * digamma(a + b) - weight_x @ digamma(a + b + distinct_x + shift) + v_at_age.sum() / a
            d_b = (total * (digamma(a + b) - digamma(b))
                   + weight_x @ (digamma(b + distinct_x + shift) - digamma(a + b + distinct_x + shift)) - d_b_rows)
            params = np.array([r, alpha, a, b])
            value = -ll / total + penalizer * np.sum(params**2)
            gradient = -np.array([d_r, d_alpha, d_a, d_b]) / total + 2 * penalizer * params
            return value, gradient * params  # chain rule: the optimizer works on log parameters

        x0 = np.full(4, 0.1) if start is None else np.log([start["r"], start["alpha"] * scale, start["a"], start["b"]])
        (r, alpha, a, b), log_likelihood, curvature = maximize(
            objective, x0, total, penalizer, "MBG/NBD" if modified else "BG/NBD"
        )
    # back to the data's time unit: each of a row's x purchase times contributes 1/scale to its density
    log_likelihood += w @ (x * np.log(scale))
    return ModelFit({"r": float(r), "alpha": float(alpha / scale), "a": float(a), "b": float(b)},
                    float(log_likelihood), curvature)
