"""What the fast BG/NBD, MBG/NBD and Pareto/NBD fits share: the likelihood of a customer is
C(x) (A(x, T) + B(x, t_x)), a term of the frequency alone times the sum of a term of (frequency, age)
and a term of (frequency, recency).

Days and purchase counts give few distinct (x, T) and (x, t_x) pairs (19k each for 4M customers on
the benchmark), so each model computes A and B once per pair; per input row only log(A + B) and the
share B/(A + B) remain, summed back per pair for the gradient.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

BLOCK_ROWS = 65_536


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (first, second) pairs as rows, and the index of each input row's pair: one
    integer code per row, as np.unique(axis=0) sorts rows far more slowly."""
    first_values, first_index = np.unique(first, return_inverse=True)
    second_values, second_index = np.unique(second, return_inverse=True)
    codes, pair_index = np.unique(first_index * len(second_values) + second_index, return_inverse=True)
    pairs = np.column_stack([first_values[codes // len(second_values)], second_values[codes % len(second_values)]])
    return pairs, pair_index


class PairedRows:
    """Weighted rows whose likelihood holds A(x, T) + B(x, t_x), indexed by their distinct pairs."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weights: np.ndarray):
        self.age_pairs, age_index = distinct_pairs(x, age)
        self.recency_pairs, recency_index = distinct_pairs(x, t_x)
        self.age_pair_weight = np.bincount(age_index, weights=weights, minlength=len(self.age_pairs))
        # blocks small enough for their temporaries to stay in cache (fresh large arrays cost page faults)
        blocks = max(1, -(-len(weights) // BLOCK_ROWS))
        self.chunks = [
            (age_index[part], recency_index[part], weights[part])
            for part in np.array_split(np.arange(len(weights)), blocks)
        ]
        self.pool = ThreadPoolExecutor(max_workers=os.cpu_count())  # NumPy releases the GIL in these loops

    def __enter__(self) -> PairedRows:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown()

    def sums(self, log_a: np.ndarray, log_b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Given log A per (x, T) pair and log B per (x, t_x) pair: the weighted sum of log(A + B) over
        the rows, and the weighted B/(A + B) summed per (x, T) pair and per (x, t_x) pair."""
        parts = list(self.pool.map(lambda chunk: self._block_sums(chunk, log_a, log_b), self.chunks))
        softplus_sum = sum(part[0] for part in parts)
        return (
            self.age_pair_weight @ log_a + softplus_sum,
            sum(part[1] for part in parts),
            sum(part[2] for part in parts),
        )

    def _block_sums(self, chunk, log_a, log_b):
        at_age_pair, at_recency_pair, w = chunk
        difference = log_b[at_recency_pair] - log_a[at_age_pair]
        e = np.exp(-np.abs(difference))
        softplus = np.maximum(difference, 0) + np.log1p(e)  # log(1 + B/A) without overflow
        inverse = 1 / (1 + e)
        weighted_share = w * np.where(difference >= 0, inverse, e * inverse)
        return (
            w @ softplus,
            np.bincount(at_age_pair, weights=weighted_share, minlength=len(self.age_pairs)),
            np.bincount(at_recency_pair, weights=weighted_share, minlength=len(self.recency_pairs)),
        )


class FitError(RuntimeError):
    pass


@dataclass
class ModelFit:
    """A fitted model: its parameters in the data's time unit, its log-likelihood (without the
    penalty) and the curvature (Hessian of the negative log-likelihood in log parameters, in the
    order of `params`) that says how well each direction of the parameters is determined."""

    params: dict[str, float]
    log_likelihood: float
    curvature: np.ndarray


# A decorator running a fit with NumPy's dot products on one BLAS thread. The fits spread their row
# blocks over the cores themselves; OpenBLAS's own threads for each small dot product of an objective
# evaluation only wait for cores (the Gamma-Gamma fit at 4M customers: 2.3 s with them on a busy
# two-core machine, 0.12 s without), and how they split a sum made the fitted parameters' last bits
# depend on the machine's core count.
on_one_blas_thread = threadpool_limits.wrap(limits=1, user_api="blas")


def maximize(objective, start: np.ndarray, total: float, penalizer: float, label: str):
    """Minimize `objective` (mean negative log-likelihood plus the L2 penalty, and its gradient, both
    in log parameters) with L-BFGS-B. Returns the parameters in the optimizer's time scale, the total
    log-likelihood without the penalty, and the curvature from forward differences of the analytic
    gradient (four more evaluations)."""
    result = minimize(objective, x0=start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    if not result.success:
        raise FitError(f"{label} fit did not converge: {result.message}")
    step = 1e-5  # enough to tell a determined direction from a flat one
    curvature = np.asarray([(objective(result.x + step * unit)[1] - result.jac) / step for unit in np.eye(len(start))])
    params = np.exp(result.x)
    log_likelihood = -(result.fun - penalizer * np.sum(params**2)) * total
    return params, float(log_likelihood), total * (curvature + curvature.T) / 2
