"""A fast maximum-likelihood fit of the Pareto/NBD model, for millions of customers.

lifetimes' ParetoNBDFitter searches with Nelder-Mead and evaluates two Gauss hypergeometric
functions per input row at every step (about 100 s for 433k rows). Here the likelihood of
Fader, Hardie & Lee (2005, "A note on deriving the Pareto/NBD model", eq. 18) is written as
C(x) (A(x, T) + B(x, t_x)) with

    C = Gamma(r+x)/Gamma(r) alpha^r beta^s,
    A = (r+x) int_T^inf (alpha+u)^-(r+x+1) (beta+u)^-s du      (alive at T, by parts),
    B = s int_t_x^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du     (died after t_x),

both positive (lifetimes subtracts two such terms instead). Each integral is a hypergeometric
function summed as a series together with its derivatives, once per distinct (x, T) or (x, t_x)
pair, so the gradient is exact and the rows cost what BG/NBD's do.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import digamma, gammaln

from assets.customer_value.likelihood import ModelFit, PairedRows, maximize, on_one_blas_thread

SERIES_TOLERANCE = 1e-17
QUADRATURE_BLOCK = 2048
# Gauss-Legendre nodes on [0, 1] and the logs of their weights
LEGENDRE = ((leggauss(48)[0][None, :] + 1) / 2, np.log(leggauss(48)[1] / 2)[None, :])


@on_one_blas_thread
def fit_pareto_nbd(frequency, recency, age, weights, penalizer: float = 0.0, start: dict | None = None) -> ModelFit:
    """Fit Pareto/NBD (r, alpha, s, beta) on (frequency, recency, T) rows with weights, from `start`
    if given (parameters of an earlier fit, in the data's time unit)."""
    x = np.asarray(frequency, dtype=float)
    scale = 10.0 / np.max(age)
    t_x, t = np.asarray(recency, dtype=float) * scale, np.asarray(age, dtype=float) * scale
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    distinct_x, x_index = np.unique(x, return_inverse=True)
    weight_x = np.bincount(x_index, weights=w)

    with PairedRows(x, t_x, t, w) as rows:
        x_age, age_t = rows.age_pairs[:, 0], rows.age_pairs[:, 1]
        x_recency, recency_t = rows.recency_pairs[:, 0], rows.recency_pairs[:, 1]

        def objective(log_params):
            r, alpha, s, beta = params = np.exp(log_params)
            log_a, grad_a = log_alive_term(params, x_age, age_t)
            log_b, grad_b = log_dropout_term(params, x_recency, recency_t)
            log_sum, v_at_age, v_at_recency = rows.sums(log_a, log_b)
            u_at_age = rows.age_pair_weight - v_at_age
            ll = (weight_x @ gammaln(r + distinct_x) + total * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
                  + log_sum)
            gradient = np.array([
                weight_x @ digamma(r + distinct_x) + total * (np.log(alpha) - digamma(r)),
                total * r / alpha,
                total * np.log(beta),
                total * s / beta,
            ]) + grad_a @ u_at_age + grad_b @ v_at_recency
            value = -ll / total + penalizer * np.sum(params**2)
            return value, (-gradient / total + 2 * penalizer * params) * params

        x0 = np.zeros(4) if start is None else np.log([start["r"], start["alpha"] * scale, start["s"], start["beta"] * scale])
        (r, alpha, s, beta), log_likelihood, curvature = maximize(objective, x0, total, penalizer, "Pareto/NBD")
    log_likelihood += w @ (x * np.log(scale))
    return ModelFit({"r": float(r), "alpha": float(alpha / scale), "s": float(s), "beta": float(beta / scale)},
                    float(log_likelihood), curvature)


def log_alive_term(params, x, age):
    """log A(x, T) and its gradient (rows r, alpha, s, beta)."""
    r, alpha, s, beta = params
    log_tail, grad = log_tail_integral(r + x + 1, s, age, alpha, beta)
    d_p, d_q, d_alpha, d_beta = grad
    return np.log(r + x) + log_tail, np.array([1 / (r + x) + d_p, d_alpha, d_q, d_beta])


def log_dropout_term(params, x, recency):
    """log B(x, t_x) and its gradient (rows r, alpha, s, beta)."""
    r, alpha, s, beta = params
    log_tail, grad = log_tail_integral(r + x, s + 1, recency, alpha, beta)
    d_p, d_q, d_alpha, d_beta = grad
    return np.log(s) + log_tail, np.array([d_p, d_alpha, 1 / s + d_q, d_beta])


def log_tail_integral(p, q, start, alpha: float, beta: float):
    """log of int_start^inf (alpha+u)^-p (beta+u)^-q du and its gradient (rows p, q, alpha, beta).

    With m the larger and n the smaller of alpha and beta, z = (m-n)/(m+start) and w = 1 - z, it is
    (m+start)^-b w^(1-c) I(b, d, z), b = p+q-1, c the exponent on m's term and d the other one
    (the Euler integral of lifetimes' 2F1(c, b; b+1; z) after Euler's transformation)."""
    p, q, start = (np.asarray(value, dtype=float) for value in (p, q, start))
    b = p + q - 1
    if alpha >= beta:
        m = alpha + start
        c, d, z, w = q, p, (alpha - beta) / m, (beta + start) / m
        dz_dalpha, dz_dbeta = (beta + start) / m**2, -1 / m
    else:
        m = beta + start
        c, d, z, w = p, q, (beta - alpha) / m, (alpha + start) / m
        dz_dalpha, dz_dbeta = -1 / m, (alpha + start) / m**2
    log_i, di_db, di_dd, di_dz = log_i_integral(b, d, z, w)
    log_m, log_w = np.log(m), np.log(w)
    d_c = -log_w  # c appears only in w^(1-c)
    d_p = -log_m + di_db + (di_dd if alpha >= beta else d_c)
    d_q = -log_m + di_db + (d_c if alpha >= beta else di_dd)
    d_z = di_dz - (1 - c) / w  # w = 1 - z
    d_alpha = d_z * dz_dalpha - (b / m if alpha >= beta else 0)
    d_beta = d_z * dz_dbeta - (0 if alpha >= beta else b / m)
    return -b * log_m + (1 - c) * log_w + log_i, np.array([d_p, d_q, d_alpha, d_beta])


def log_i_integral(b, d, z, w):
    """log I and its derivatives by b, d and z (w = 1 - z moving with z), where
    I = int_0^inf e^(-b s) (w + z e^(-s))^-d ds = sum_n (d)_n / (b+1)_n z^n / b, with d <= b+1:
    the series for z <= 1/2, quadrature where it would converge slowly."""
    b, d, z, w = np.broadcast_arrays(*(np.asarray(value, dtype=float) for value in (b, d, z, w)))
    results = [np.empty(b.shape) for _ in range(4)]
    by_series = z <= 0.5
    for part, method in ((by_series, _log_i_series), (~by_series, _log_i_quadrature)):
        if part.any():
            for result, value in zip(results, method(b[part], d[part], z[part], w[part])):
                result[part] = value
    return tuple(results)


def _log_i_series(b, d, z, w):
    """Terms fall at least as fast as z^n <= 2^-n: a fixed number of them suffices."""
    terms = int(np.ceil(np.log(SERIES_TOLERANCE) / np.log(max(z.max(), 1e-3)))) + 8
    term, total = np.ones_like(b), np.ones_like(b)
    harmonic_b, harmonic_d = np.zeros_like(b), np.zeros_like(b)
    sum_b, sum_d, sum_z = np.zeros_like(b), np.zeros_like(b), np.zeros_like(b)
    for n in range(1, terms + 1):
        step = (d + n - 1) / (b + n)
        sum_z += n * term * step  # n z^(n-1) times the coefficient of z^n
        harmonic_b += 1 / (b + n)
        harmonic_d += 1 / (d + n - 1)
        term *= z * step
        total += term
        sum_b -= term * harmonic_b
        sum_d += term * harmonic_d
    return np.log(total) - np.log(b), sum_b / total - 1 / b, sum_d / total, sum_z / total


def _log_i_quadrature(b, d, z, w):
    """Gauss-Legendre on [0, s0], where the integrand is e^((1-c) s) times a factor that falls near
    s0 = ln(z/w), and on [s0, s1], where e^(-b s) meets a factor rising to 1; each part cut where
    the (log-concave) integrand has fallen by e^-45. Beyond s1 = s0 + 40 the integrand is w^-d e^(-b s) to 1e-16,
    integrated exactly (and where s1 is closer, what lies beyond is below e^-45 of the total).
    Tested against the series to 1e-10; blocks of pairs run on all cores."""
    blocks = max(1, len(b) // QUADRATURE_BLOCK)
    parts = [np.array_split(values, blocks) for values in (b, d, z, w)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # NumPy releases the GIL here
        results = list(pool.map(_quadrature_block, *parts))
    return tuple(np.concatenate(values) for values in zip(*results))


def _quadrature_block(b, d, z, w):
    c = b + 1 - d
    s0 = np.log(z / w)
    # the log of the integrand is concave: from 0 it falls at least at its rate there, c - 1 + d w
    falling = c - 1 + d * w
    length_a = np.where(falling > 0, np.minimum(s0, 45 / np.maximum(falling, 1e-300)), s0)
    # beyond s0 the integrand falls at least at rate b - d/2
    length_b = np.minimum(40.0, 45 / np.maximum(b - d / 2, 45 / 40))
    nodes, log_weights = LEGENDRE
    s = np.concatenate([nodes * length_a[:, None], s0[:, None] + nodes * length_b[:, None]], axis=1)
    log_g = np.concatenate([log_weights + np.log(length_a)[:, None], log_weights + np.log(length_b)[:, None]], axis=1)
    decay = np.exp(-s)
    base = w[:, None] + z[:, None] * decay  # w + z e^-s
    inner = np.log(base)
    log_g -= b[:, None] * s + d[:, None] * inner
    s1, log_w = s0 + length_b, np.log(w)
    # beyond s1 = s0 + 40 the integral of w^-d e^(-b s); beyond a closer s1 nothing that counts
    log_tail = np.where(length_b >= 40, -d * log_w - b * s1 - np.log(b), -np.inf)
    peak = np.maximum(log_g.max(axis=1), log_tail)
    g, tail = np.exp(log_g - peak[:, None]), np.exp(log_tail - peak)
    total = g.sum(axis=1) + tail
    return (
        peak + np.log(total),
        -(np.einsum("ij,ij->i", g, s) + tail * (s1 + 1 / b)) / total,
        -(np.einsum("ij,ij->i", g, inner) + tail * log_w) / total,
        d * (np.einsum("ij,ij->i", g, (1 - decay) / base) + tail / w) / total,
    )
