"""The three buy-till-you-die models of repeat purchases the pipeline chooses between, behind one
interface: the fit, P(alive), the expected purchases of a customer still alive, and a verdict in
words on whether the fit says anything about dropout.

Every model's likelihood is C(x) (A(x, T) + B(x, t_x)), with F(x, T) the likelihood of being alive
at T: P(alive) = F / (A + B) = 1 / (exp(log A/F) + exp(log B/F)). log A/F and a part of log B/F
depend on (frequency, T), the rest of log B/F on (frequency, recency), so `customer_clv` needs them
once per distinct pair. Expected purchases are P(alive) times those of a living customer, a function
of (frequency, T) (Fader, Hardie & Lee 2005, eq. 10; their Pareto/NBD note, eq. 41; Batislam et al.
2007 with Wagner & Hoppe's 2008 erratum), as lifetimes computes them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import hyp2f1

from assets.customer_value.bgnbd import fit_bg_nbd, fit_mbg_nbd
from assets.customer_value.likelihood import ModelFit, distinct_pairs
from assets.customer_value.pareto_nbd import fit_pareto_nbd, log_alive_term, log_dropout_term

# less dropout than this over the longest customer history and P(alive) says nothing
MIN_DROPOUT_SHARE = 0.01
# the dropout distribution's shape parameter (BG/NBD's a, Pareto/NBD's s) below this: dropout collapses
MIN_DROPOUT_SHAPE = 1e-4
# a direction of the log parameters along which an e-fold change moves the log-likelihood by less than
# half of this is not determined by the data; it matters when it moves the dropout share by more than
# the second (a ridge towards s, beta -> infinity at a fixed s/beta, for one, leaves the dropout as it is)
MIN_CURVATURE = 0.1
MAX_UNDETERMINED_DROPOUT = 0.05


class PurchaseModel:
    name: str
    label: str
    parameters: tuple[str, ...]
    dropout_shape: str

    def fit(self, frequency, recency, age, weights, penalizer: float, start: dict | None = None) -> ModelFit:
        raise NotImplementedError

    def alive_terms(self, params: dict, x, age) -> tuple[np.ndarray, np.ndarray]:
        """Per (frequency, T): log A/F, and the part of log B/F that depends on T."""
        raise NotImplementedError

    def recency_term(self, params: dict, x, recency) -> np.ndarray:
        """Per (frequency, recency): the rest of log B/F."""
        raise NotImplementedError

    def purchases_if_alive(self, params: dict, spans: list[float], x, age) -> list[np.ndarray]:
        """Expected repeat purchases within each span (in the model's time unit) of a customer alive now."""
        raise NotImplementedError

    def surviving_share(self, params: dict, span: float) -> float:
        """The share of new customers the fit expects to be still alive after `span`."""
        raise NotImplementedError

    def p_alive(self, params: dict, x, recency, age) -> np.ndarray:
        """P(alive) per row, from the terms of its distinct (x, T) and (x, t_x) pairs."""
        age_pairs, at_age = distinct_pairs(np.asarray(x, dtype=float), np.asarray(age, dtype=float))
        recency_pairs, at_recency = distinct_pairs(np.asarray(x, dtype=float), np.asarray(recency, dtype=float))
        alive, dropout_age = self.alive_terms(params, age_pairs[:, 0], age_pairs[:, 1])
        dropout = dropout_age[at_age] + self.recency_term(params, recency_pairs[:, 0], recency_pairs[:, 1])[at_recency]
        return np.minimum(1, 1 / (np.exp(alive[at_age]) + np.exp(np.minimum(dropout, 700))))

    def expected_purchases(self, params: dict, spans: list[float], x, age, p_alive) -> list[np.ndarray]:
        """Expected repeat purchases within each span per row with its P(alive): those of a living
        customer, evaluated once per distinct (x, T) pair, times P(alive)."""
        age_pairs, at_age = distinct_pairs(np.asarray(x, dtype=float), np.asarray(age, dtype=float))
        if_alive = self.purchases_if_alive(params, spans, age_pairs[:, 0], age_pairs[:, 1])
        return [values[at_age] * p_alive for values in if_alive]

    def verdict(self, fit: ModelFit, span: float, span_days: int) -> str:
        """`ok`, or why P(alive) is not informative: no dropout over the history, the dropout shape
        parameter at its edge, or a likelihood so flat that the data do not determine the dropout."""
        dropout = 1 - self.surviving_share(fit.params, span)
        if dropout < MIN_DROPOUT_SHARE:
            return (f"no dropout visible in the history: P(alive) not informative ({self.label} expects "
                    f"{dropout:.2%} of customers to drop out within {span_days} days)")
        shape = fit.params[self.dropout_shape]
        if shape < MIN_DROPOUT_SHAPE:
            return (f"fit at a parameter boundary: P(alive) not informative ({self.label}: {self.dropout_shape} = "
                    f"{shape:.3g}, tending to 0)")
        eigenvalues, eigenvectors = np.linalg.eigh(fit.curvature)
        if eigenvalues[0] < MIN_CURVATURE:
            # an e-fold step either way along the flattest direction: does the dropout move with it?
            shares = [
                1 - self.surviving_share({name: value * np.exp(sign * weight) for (name, value), weight
                                          in zip(fit.params.items(), eigenvectors[:, 0])}, span)
                for sign in (-1, 1)
            ]
            if max(abs(share - dropout) for share in shares) > MAX_UNDETERMINED_DROPOUT:
                names = [name for name, weight in zip(self.parameters, eigenvectors[:, 0]) if abs(weight) >= 0.3]
                return (f"flat likelihood: P(alive) not informative ({' and '.join(names)} can change e-fold with the "
                        f"log-likelihood moving by less than {MIN_CURVATURE / 2:g}, and with them the share of "
                        f"customers dropping out within {span_days} days from {min(shares):.0%} to {max(shares):.0%})")
        return "ok"


class BetaGeometric(PurchaseModel):
    """BG/NBD (`shift` 0) and MBG/NBD (`shift` 1, dropout also possible right after the first purchase)."""

    parameters = ("r", "alpha", "a", "b")
    dropout_shape = "a"

    def __init__(self, name: str, label: str, shift: int, fitter):
        self.name, self.label, self.shift, self._fitter = name, label, shift, fitter

    def fit(self, frequency, recency, age, weights, penalizer: float, start: dict | None = None) -> ModelFit:
        return self._fitter(frequency, recency, age, weights, penalizer, start)

    def alive_terms(self, params, x, age):
        r, alpha, a, b = (params[name] for name in self.parameters)
        x, age = np.asarray(x, dtype=float), np.asarray(age, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):  # x = 0 in BG/NBD, replaced below
            dropout = np.log(a / (b + x + self.shift - 1)) + (r + x) * np.log(alpha + age)
        if not self.shift:  # BG/NBD: without a repeat purchase there was no chance to drop out
            dropout = np.where(x > 0, dropout, -np.inf)
        return np.zeros_like(x), dropout

    def recency_term(self, params, x, recency):
        r, alpha = params["r"], params["alpha"]
        return -(r + np.asarray(x, dtype=float)) * np.log(alpha + np.asarray(recency, dtype=float))

    def purchases_if_alive(self, params, spans, x, age):
        r, alpha, a, b = (params[name] for name in self.parameters)
        x, age = np.asarray(x, dtype=float), np.asarray(age, dtype=float)
        k = self.shift

        def up_to(span: float) -> np.ndarray:
            hyp_a, hyp_b, hyp_c, z = r + x, b + x + k, a + b + x + k - 1, span / (alpha + age + span)
            with np.errstate(divide="ignore", invalid="ignore"):
                ln_hyp = np.log(hyp2f1(hyp_a, hyp_b, hyp_c, z))
                # where the series overflows, Euler's transformation of the same function
                ln_hyp_alt = (np.log(hyp2f1(hyp_c - hyp_a, hyp_c - hyp_b, hyp_c, z))
                              + (hyp_c - hyp_a - hyp_b) * np.log(1 - z))
            ln_hyp = np.where(np.isinf(ln_hyp), ln_hyp_alt, ln_hyp)
            growth = (r + x) * np.log((alpha + age) / (alpha + age + span))
            return (a + b + x + k - 1) / (a - 1) * (1 - np.exp(ln_hyp + growth))

        # SciPy releases the GIL in hyp2f1, so the spans run on all cores
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            return list(pool.map(up_to, spans))

    def surviving_share(self, params, span):
        """Dropout thins a customer's purchases into a Poisson process of rate lambda p, so the
        survival is E[(alpha / (alpha + p t))^r] = 2F1(r, a; a+b; -t/alpha) over the beta-distributed p
        (MBG/NBD's customers also survive their first purchase, with probability 1 - p: b/(a+b)
        2F1(r, a; a+b+1; -t/alpha)). Pfaff's transformation keeps the argument in (0, 1), where SciPy's
        series is reliable."""
        r, alpha, a, b = (params[name] for name in self.parameters)
        c = a + b + self.shift
        z = -span / alpha
        survival = (1 - z) ** -a * hyp2f1(a, c - r, c, z / (z - 1))
        return float(b / (a + b) * survival if self.shift else survival)


class ParetoNbd(PurchaseModel):
    name, label = "pareto_nbd", "Pareto/NBD"
    parameters = ("r", "alpha", "s", "beta")
    dropout_shape = "s"

    def fit(self, frequency, recency, age, weights, penalizer: float, start: dict | None = None) -> ModelFit:
        return fit_pareto_nbd(frequency, recency, age, weights, penalizer, start)

    def alive_terms(self, params, x, age):
        values = np.array([params[name] for name in self.parameters])
        r, alpha, s, beta = values
        x, age = np.asarray(x, dtype=float), np.asarray(age, dtype=float)
        log_alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
        log_a, _ = log_alive_term(values, x, age)
        return log_a - log_alive, -log_alive

    def recency_term(self, params, x, recency):
        values = np.array([params[name] for name in self.parameters])
        return log_dropout_term(values, np.asarray(x, dtype=float), np.asarray(recency, dtype=float))[0]

    def purchases_if_alive(self, params, spans, x, age):
        r, alpha, s, beta = (params[name] for name in self.parameters)
        x, age = np.asarray(x, dtype=float), np.asarray(age, dtype=float)
        rate = (r + x) * (beta + age) / (alpha + age)

        def up_to(span: float) -> np.ndarray:
            log_ratio = np.log((beta + age) / (beta + age + span))
            # (1 - ratio^(s-1)) / (s-1), which tends to -log ratio as s -> 1
            if abs(s - 1) < 1e-12:
                return rate * -log_ratio
            return rate * -np.expm1((s - 1) * log_ratio) / (s - 1)

        return [up_to(span) for span in spans]

    def surviving_share(self, params, span):
        return float((params["beta"] / (params["beta"] + span)) ** params["s"])


MODELS: dict[str, PurchaseModel] = {
    model.name: model
    for model in (
        BetaGeometric("bg_nbd", "BG/NBD", 0, fit_bg_nbd),
        ParetoNbd(),
        BetaGeometric("mbg_nbd", "MBG/NBD", 1, fit_mbg_nbd),
    )
}
