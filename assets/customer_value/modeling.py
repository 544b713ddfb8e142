"""BG/NBD and Gamma-Gamma customer-lifetime-value models (via `lifetimes`), fitted and evaluated on
distinct input rows so that millions of customers cost what a few hundred thousand rows cost.

The per-customer model input is built in SQL. Python fits on the distinct (frequency, recency, T)
rows with their counts as weights, and evaluates the expensive part of the predictions once per
distinct (frequency, T); DuckDB joins it back and applies each customer's P(alive).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from scipy.special import hyp2f1

from assets.customer_value.bgnbd import BgNbdFitError, fit_bg_nbd
from assets.customer_value.gamma_gamma import GammaGammaFitError, fit_gamma_gamma
from common.config import ClvSettings
from common.warehouse import create_table, create_temp_table, create_view

SQL = Path(__file__).parent / "sql"
HORIZON_MONTHS = 12
DAYS_PER_MONTH = 30  # lifetimes' convention for monthly CLV steps
PREDICTION_DAYS = (30, 90, 365)


def days_per_unit(time_unit: str) -> float:
    return 7.0 if time_unit == "week" else 1.0


@dataclass
class ClvFit:
    """A fitted pair of models, or the reason there is none."""

    status: str
    customers: int = 0
    repeat_buyers: int = 0
    bg_nbd: BetaGeoFitter | None = None
    gamma_gamma: GammaGammaFitter | None = None
    bg_rows: int = 0
    gg_rows: int = 0
    log_likelihood: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def build_summary(conn: duckdb.DuckDBPyConnection, table: str, cutoff: date, time_unit: str) -> int:
    """The model input at a cut-off before as_of (the backtest's calibration period), from purchase
    days: a temp table of the step that needs it."""
    return create_temp_table(
        conn, table, SQL / "clv_summary.sql", {"cutoff": cutoff, "days_per_unit": days_per_unit(time_unit)}
    )


def define_summary_as_of(conn: duckdb.DuckDBPyConnection, time_unit: str) -> None:
    """`clv_summary`, the model input on as_of: a temp view over `customer_rfm`, which already holds
    it, for the step that reads it. A view takes no query parameters, so the time unit is handed
    over in a DuckDB variable."""
    conn.execute("drop view if exists main.clv_summary")  # a warehouse from before it became temporary
    conn.execute("set variable days_per_unit = ?", [days_per_unit(time_unit)])
    create_view(conn, "clv_summary", SQL / "clv_summary_as_of.sql", temporary=True)


def fit_models(conn: duckdb.DuckDBPyConnection, summary_table: str, settings: ClvSettings) -> ClvFit:
    """Fit BG/NBD on distinct (frequency, recency, T) rows and Gamma-Gamma on distinct (frequency,
    monetary) rows of repeat buyers with positive value, each with its count as weight.
    Log-likelihoods are in the configured time unit (lifetimes reports BG/NBD's on rescaled time)."""
    customers, repeat_buyers = conn.execute(
        f"select count(*), count(*) filter (where frequency > 0) from {summary_table}"
    ).fetchall()[0]
    if customers < settings.min_customers:
        return ClvFit(f"insufficient data: {customers} customers, at least {settings.min_customers} needed",
                      customers, repeat_buyers)
    if repeat_buyers < settings.min_repeat_buyers:
        return ClvFit(
            f"insufficient data: {repeat_buyers} repeat buyers, at least {settings.min_repeat_buyers} needed",
            customers, repeat_buyers,
        )
    # Sorted: the optimizers sum over rows, and a sum's last bits depend on its order, which a
    # group-by leaves to chance; sorted input makes a re-run fit the same parameters to the bit.
    bg_rows = conn.execute(
        f"select frequency, recency, T, count(*) as weight from {summary_table} group by all order by all"
    ).df()
    gg_rows = conn.execute(
        f"select frequency, monetary, count(*) as weight from {summary_table} "
        "where frequency > 0 and monetary > 0 group by all order by all"
    ).df()
    try:
        bg_nbd, bg_log_likelihood = fit_bg_nbd(
            bg_rows["frequency"], bg_rows["recency"], bg_rows["T"], bg_rows["weight"], settings.penalizer
        )
    except BgNbdFitError as error:
        return ClvFit(str(error), customers, repeat_buyers)
    try:
        gamma_gamma, gg_log_likelihood = fit_gamma_gamma(
            gg_rows["frequency"], gg_rows["monetary"], gg_rows["weight"], settings.penalizer
        )
    except GammaGammaFitError as error:
        return ClvFit(str(error), customers, repeat_buyers)
    log_likelihood = {"bg_nbd": bg_log_likelihood, "gamma_gamma": gg_log_likelihood}
    return ClvFit("ok", customers, repeat_buyers, bg_nbd, gamma_gamma, len(bg_rows), len(gg_rows), log_likelihood)


def predict_if_alive(fit: ClvFit, pairs: pd.DataFrame, time_unit: str, annual_discount_rate: float) -> pd.DataFrame:
    """Per distinct (frequency, T): the expected purchases over 30/90/365 days of a customer still
    alive, and the discounted expected purchases of the next 12 months. BG/NBD's expectation is this
    times P(alive), which is the only part that depends on recency (see `customer_clv.sql`)."""
    unit = days_per_unit(time_unit)
    x, age = (pairs[column].to_numpy(dtype=float) for column in ("frequency", "T"))
    horizons = sorted({*PREDICTION_DAYS, *(month * DAYS_PER_MONTH for month in range(1, HORIZON_MONTHS + 1))})
    expected = purchases_if_alive(fit.bg_nbd, horizons, unit, x, age)
    predicted = pairs[["frequency", "T"]].copy()
    for days in PREDICTION_DAYS:
        predicted[f"purchases_if_alive_{days}d"] = expected[days]
    monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
    discounted, previous = np.zeros(len(pairs)), np.zeros(len(pairs))
    for month in range(1, HORIZON_MONTHS + 1):
        cumulative = expected[month * DAYS_PER_MONTH]
        discounted += (cumulative - previous) / (1 + monthly_rate) ** month
        previous = cumulative
    predicted["discounted_purchases_if_alive"] = discounted
    return predicted


def purchases_if_alive(model: BetaGeoFitter, days: list[int], unit: float, x, age) -> dict[int, np.ndarray]:
    """The numerator of BG/NBD's expected repeat purchases within each horizon (equation 10 of Fader,
    Hardie & Lee 2005, as lifetimes' `conditional_expected_number_of_purchases_up_to_time` computes
    it): a function of frequency and age only. SciPy releases the GIL in `hyp2f1`, so the horizons
    run on all cores."""
    r, alpha, a, b = (float(model.params_[name]) for name in ("r", "alpha", "a", "b"))
    x, age = np.asarray(x, dtype=float), np.asarray(age, dtype=float)

    def up_to(horizon: int) -> np.ndarray:
        span = horizon / unit
        hyp_a, hyp_b, hyp_c, z = r + x, b + x, a + b + x - 1, span / (alpha + age + span)
        with np.errstate(divide="ignore", invalid="ignore"):
            ln_hyp = np.log(hyp2f1(hyp_a, hyp_b, hyp_c, z))
            # where the series overflows, Euler's transformation of the same function
            ln_hyp_alt = np.log(hyp2f1(hyp_c - hyp_a, hyp_c - hyp_b, hyp_c, z)) + (hyp_c - hyp_a - hyp_b) * np.log(1 - z)
        ln_hyp = np.where(np.isinf(ln_hyp), ln_hyp_alt, ln_hyp)
        return (a + b + x - 1) / (a - 1) * (1 - np.exp(ln_hyp + (r + x) * np.log((alpha + age) / (alpha + age + span))))

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return dict(zip(days, pool.map(up_to, days)))


def expected_purchases(model: BetaGeoFitter, days: list[int], unit: float, f, t, p_alive) -> dict[int, np.ndarray]:
    """BG/NBD expected repeat purchases within each horizon per (frequency, T) row with its P(alive):
    the purchases of a living customer, evaluated once per distinct (frequency, T) pair (a few
    thousand for millions of customers), times P(alive)."""
    f, t, p_alive = (np.asarray(values, dtype=float) for values in (f, t, p_alive))
    pairs = pd.DataFrame({"f": f, "t": t}).groupby(["f", "t"], sort=False)
    pair_of_row = pairs.ngroup().to_numpy()
    x, age = np.empty(pairs.ngroups), np.empty(pairs.ngroups)
    x[pair_of_row], age[pair_of_row] = f, t
    if_alive = purchases_if_alive(model, days, unit, x, age)
    return {horizon: if_alive[horizon][pair_of_row] * p_alive for horizon in days}


def build_customer_clv(conn: duckdb.DuckDBPyConnection, fit: ClvFit, time_unit: str, settings: ClvSettings) -> int:
    """`customer_clv` from `clv_summary`: model numbers when the fit is usable, else nulls and the reason."""
    define_summary_as_of(conn, time_unit)
    if not fit.ok:
        return create_table(conn, "customer_clv", SQL / "customer_clv_unavailable.sql", {"status": fit.status})
    pairs = conn.execute("select distinct frequency, T from clv_summary").df()
    conn.register("clv_predictions_if_alive", predict_if_alive(fit, pairs, time_unit, settings.annual_discount_rate))
    parameters = {**fit.bg_nbd.params_.to_dict(), **fit.gamma_gamma.params_.to_dict()}
    conn.register("clv_parameters", pd.DataFrame([parameters]))
    try:
        return create_table(conn, "customer_clv", SQL / "customer_clv.sql")
    finally:
        conn.unregister("clv_predictions_if_alive")
        conn.unregister("clv_parameters")


def model_rows(fit: ClvFit, purpose: str, as_of: date, cutoff: date, time_unit: str) -> list[dict]:
    """Rows of `clv_model`: one per model and purpose, with parameters, fit size and status."""
    rows = []
    for model in ("bg_nbd", "gamma_gamma"):
        fitted = getattr(fit, model)
        params = fitted.params_.to_dict() if fitted is not None else {}
        rows.append(
            {
                "model": model,
                "purpose": purpose,
                "status": fit.status,
                "as_of": as_of,
                "calibration_end": cutoff,
                "time_unit": time_unit,
                "customers": fit.customers,
                "repeat_buyers": fit.repeat_buyers,
                "distinct_rows": fit.bg_rows if model == "bg_nbd" else fit.gg_rows,
                "log_likelihood": fit.log_likelihood.get(model),
                **{name: params.get(name) for name in ("r", "alpha", "a", "b", "p", "q", "v")},
            }
        )
    return rows


# --- backtest ---------------------------------------------------------------------------------------


@dataclass
class Backtest:
    fit: ClvFit
    cutoff: date
    holdout_days: int
    by_frequency: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None
    scores: dict[str, float] = field(default_factory=dict)


def holdout_days(settings: ClvSettings, first_order_date: date, as_of: date, time_unit: str) -> int:
    if settings.holdout_periods is not None:
        return int(settings.holdout_periods * days_per_unit(time_unit))
    return max(1, round((as_of - first_order_date).days * settings.holdout_fraction))


def run_backtest(
    conn: duckdb.DuckDBPyConnection, settings: ClvSettings, first_order_date: date, as_of: date, time_unit: str
) -> Backtest:
    """Refit with the last holdout period hidden, then compare predicted and actual repeat purchases."""
    held_out = holdout_days(settings, first_order_date, as_of, time_unit)
    cutoff = as_of - timedelta(days=held_out)
    build_summary(conn, "clv_calibration_summary", cutoff, time_unit)
    fit = fit_models(conn, "clv_calibration_summary", settings)
    backtest = Backtest(fit, cutoff, held_out)
    if not fit.ok:
        return backtest
    rows = conn.execute(
        "select frequency, recency, T, count(*) as customers from clv_calibration_summary group by all order by all"
    ).df()
    f, r, t = (rows[column].to_numpy(dtype=float) for column in ("frequency", "recency", "T"))
    rows["p_alive"] = fit.bg_nbd.conditional_probability_alive(f, r, t)
    # expected repeat purchases week by week into the holdout; the last horizon is the whole holdout
    horizons = list(range(7, held_out, 7)) + [held_out]
    expected = expected_purchases(fit.bg_nbd, horizons, days_per_unit(time_unit), f, t, rows["p_alive"])
    rows["predicted_purchases"] = expected[held_out]
    create_temp_table(conn, "clv_holdout", SQL / "clv_holdout.sql", {"cutoff": cutoff, "as_of": as_of})
    conn.register("backtest_predictions", rows)
    try:
        backtest.by_frequency = conn.execute((SQL / "clv_backtest_by_frequency.sql").read_text()).df()
        backtest.scores = conn.execute((SQL / "clv_backtest_scores.sql").read_text()).df().iloc[0].to_dict()
        predicted = [float(expected[days] @ rows["customers"].to_numpy(dtype=float)) for days in horizons]
        backtest.tracking = tracking_curve(conn, horizons, predicted, cutoff)
    finally:
        conn.unregister("backtest_predictions")
        conn.execute("drop table clv_holdout; drop table clv_calibration_summary")
    return backtest


def tracking_curve(
    conn: duckdb.DuckDBPyConnection, horizons: list[int], predicted: list[float], cutoff: date
) -> pd.DataFrame:
    """Cumulative repeat purchases in the holdout at each horizon (days after the cut-off, the last
    one the end of the holdout), actual against the predicted ones given."""
    actual = conn.execute(
        """
        with daily as (
            select purchase_date - ?::date as day, count(*) as purchases
            from main.customer_purchase_days
            where is_purchase_day and purchase_date > ?::date and purchase_date <= ?::date + ?::integer
                and customer_id in (select customer_id from clv_calibration_summary)
            group by day
        )
        select checkpoint.day, coalesce(sum(daily.purchases), 0) as purchases
        from unnest(?::integer[]) as checkpoint(day)
        left join daily on daily.day <= checkpoint.day
        group by checkpoint.day
        order by checkpoint.day
        """,
        [cutoff, cutoff, cutoff, horizons[-1], horizons],
    ).df()
    return pd.DataFrame({"days_after_cutoff": horizons, "predicted": predicted, "actual": actual["purchases"].to_numpy()})


def load_fit(conn: duckdb.DuckDBPyConnection, purpose: str = "production") -> ClvFit:
    """The models as stored in `clv_model`, ready to predict without refitting."""
    stored = conn.execute("select * from clv_model where purpose = ? order by model", [purpose]).df()
    first = stored.iloc[0]
    fit = ClvFit(str(first["status"]), int(first["customers"]), int(first["repeat_buyers"]))
    if fit.ok:
        by_model = stored.set_index("model")
        fit.bg_nbd = BetaGeoFitter()
        fit.bg_nbd.params_ = pd.Series({k: float(by_model.loc["bg_nbd", k]) for k in ("r", "alpha", "a", "b")})
        fit.gamma_gamma = GammaGammaFitter()
        fit.gamma_gamma.params_ = pd.Series({k: float(by_model.loc["gamma_gamma", k]) for k in ("p", "q", "v")})
    return fit
