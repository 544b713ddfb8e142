"""Customer-lifetime-value models fitted and evaluated on distinct input rows, so that millions of
customers cost what a few hundred thousand rows cost.

The per-customer model input is built in SQL. Python fits a purchase model (purchase_models.py) on
the distinct (frequency, recency, T) rows with their counts as weights and Gamma-Gamma on the
distinct (frequency, monetary) rows, and evaluates predictions once per distinct (frequency, T) and
(frequency, recency); DuckDB joins them back to each customer. Every night the backtest fits every
candidate model with the end of the history held out and scores it; production runs the candidate
with the lowest holdout error, unless the config fixes the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from lifetimes import GammaGammaFitter

from assets.customer_value.gamma_gamma import GammaGammaFitError, fit_gamma_gamma
from assets.customer_value.likelihood import FitError
from assets.customer_value.purchase_models import MODELS, PurchaseModel
from common.config import CustomerValueSettings
from common.warehouse import create_table, create_temp_table, create_view, quote, replace_rows, row_count, run_sql, table_exists

SQL = Path(__file__).parent / "sql"
HORIZON_MONTHS = 12
DAYS_PER_MONTH = 30  # lifetimes' convention for monthly CLV steps: clv_12m covers 360 days
PREDICTION_DAYS = (30, 90, 365)
PURCHASE_PARAMETERS = ("r", "alpha", "a", "b", "s", "beta")
# the busiest three months at least this many times the quietest three (trend removed): seasonal
SEASONAL_PEAK_RATIO = 1.25


def days_per_unit(time_unit: str) -> float:
    return 7.0 if time_unit == "week" else 1.0


@dataclass
class ModelInput:
    """A model input table as the fits read it: distinct (frequency, recency, T) rows and their counts."""

    customers: int
    repeat_buyers: int
    rows: pd.DataFrame


def read_model_input(conn: duckdb.DuckDBPyConnection, table: str) -> ModelInput:
    # Sorted: the optimizers sum over rows, and a sum's last bits depend on its order, which a
    # group-by leaves to chance; sorted input makes a re-run fit the same parameters to the bit.
    rows = conn.execute(
        f"select frequency, recency, T, count(*) as weight from {quote(table)} group by all order by all"
    ).df()
    weight = rows["weight"]
    return ModelInput(int(weight.sum()), int(weight[rows["frequency"] > 0].sum()), rows)


@dataclass
class PurchaseFit:
    """One purchase model fitted on one model input, or the reason there is none. A usable fit whose
    status is not `ok` still predicts purchases, but its P(alive) is not informative."""

    model: str
    status: str
    customers: int
    repeat_buyers: int
    distinct_rows: int
    params: dict[str, float] | None = None
    log_likelihood: float | None = None

    @property
    def usable(self) -> bool:
        return self.params is not None

    @property
    def purchase_model(self) -> PurchaseModel:
        return MODELS[self.model]


def fit_purchases(
    model: str, model_input: ModelInput, settings: CustomerValueSettings, time_unit: str, start: dict | None = None
) -> PurchaseFit:
    """Fit one purchase model unless the data cannot support it (from `start`, an earlier fit's
    parameters, if given), and judge what its P(alive) says."""
    fit = PurchaseFit(model, "", model_input.customers, model_input.repeat_buyers, len(model_input.rows))
    if model_input.customers < settings.min_customers:
        return replace(fit, status=f"insufficient data: {model_input.customers} customers, "
                                   f"at least {settings.min_customers} needed")
    if model_input.repeat_buyers < settings.min_repeat_buyers:
        return replace(fit, status=f"insufficient data: {model_input.repeat_buyers} repeat buyers, "
                                   f"at least {settings.min_repeat_buyers} needed")
    rows = model_input.rows
    try:
        fitted = MODELS[model].fit(rows["frequency"], rows["recency"], rows["T"], rows["weight"], settings.penalizer, start)
    except FitError as error:
        return replace(fit, status=str(error))
    span = float(rows["T"].max())
    status = MODELS[model].verdict(fitted, span, round(span * days_per_unit(time_unit)))
    return replace(fit, status=status, params=fitted.params, log_likelihood=fitted.log_likelihood)


@dataclass
class ClvFit:
    """The production models: the chosen purchase model and Gamma-Gamma, and why that model."""

    purchases: PurchaseFit
    reason: str
    gamma_gamma: GammaGammaFitter | None = None
    spend_rows: int = 0
    spend_log_likelihood: float | None = None
    spend_status: str | None = None

    @property
    def usable(self) -> bool:
        return self.purchases.usable and self.gamma_gamma is not None

    @property
    def status(self) -> str:
        return self.spend_status or self.purchases.status

    @property
    def p_alive_informative(self) -> bool:
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


def production_choice(conn: duckdb.DuckDBPyConnection, settings: CustomerValueSettings) -> tuple[str, str, dict | None]:
    """The purchase model to run in production, why, and its parameters fitted in the backtest (to
    start the production fit from, when the scorecard has them): the config's model, or the
    scorecard's choice."""
    scored = table_exists(conn, "clv_model_selection")
    if settings.model == "auto" and not scored:
        raise RuntimeError("customer_value.model is auto but clv_model_selection has not been built: materialize it first")
    card = conn.execute("select * from clv_model_selection").df().set_index("model") if scored else pd.DataFrame()
    if settings.model != "auto":
        model, reason = settings.model, f"fixed by config (customer_value.model: {settings.model})"
    else:
        model = card.index[card["chosen"]][0]
        reason = f"chosen by the backtest to {card.loc[model, 'holdout_end']:%Y-%m-%d}: {card.loc[model, 'reason']}"
    names = MODELS[model].parameters
    start = card.loc[model, list(names)].astype(float).to_dict() if model in card.index else None
    return model, reason, start if start and not np.isnan(list(start.values())).any() else None


def fit_production(
    conn: duckdb.DuckDBPyConnection, settings: CustomerValueSettings, model: str, reason: str, time_unit: str,
    start: dict | None = None,
) -> ClvFit:
    """Fit the chosen purchase model on `clv_summary`, and Gamma-Gamma on the distinct (frequency,
    monetary) rows of repeat buyers with positive value, each with its count as weight.
    Log-likelihoods are in the configured time unit."""
    model_input = read_model_input(conn, "clv_summary")
    fit = ClvFit(fit_purchases(model, model_input, settings, time_unit, start), reason)
    if not fit.purchases.usable:
        return fit
    spend = conn.execute(
        "select frequency, monetary, count(*) as weight from clv_summary "
        "where frequency > 0 and monetary > 0 group by all order by all"
    ).df()
    try:
        gamma_gamma, log_likelihood = fit_gamma_gamma(spend["frequency"], spend["monetary"], spend["weight"], settings.penalizer)
    except GammaGammaFitError as error:
        return replace(fit, spend_status=str(error))
    return replace(fit, gamma_gamma=gamma_gamma, spend_rows=len(spend), spend_log_likelihood=log_likelihood)


def predict_if_alive(fit: ClvFit, pairs: pd.DataFrame, time_unit: str, annual_discount_rate: float) -> pd.DataFrame:
    """Per distinct (frequency, T): the expected purchases over 30/90/365 days of a customer still
    alive, the discounted expected purchases of the next 12 months of 30 days, and the terms of
    P(alive) that depend on T. The model's expectation is this times P(alive) (see `customer_clv.sql`)."""
    model, params = fit.purchases.purchase_model, fit.purchases.params
    unit = days_per_unit(time_unit)
    x, age = (pairs[column].to_numpy(dtype=float) for column in ("frequency", "T"))
    days = sorted({*PREDICTION_DAYS, *(month * DAYS_PER_MONTH for month in range(1, HORIZON_MONTHS + 1))})
    expected = dict(zip(days, model.purchases_if_alive(params, [span / unit for span in days], x, age)))
    predicted = pairs[["frequency", "T"]].copy()
    predicted["alive_term"], predicted["dropout_term_age"] = model.alive_terms(params, x, age)
    for span in PREDICTION_DAYS:
        predicted[f"purchases_if_alive_{span}d"] = expected[span]
    monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
    discounted, previous = np.zeros(len(pairs)), np.zeros(len(pairs))
    for month in range(1, HORIZON_MONTHS + 1):
        cumulative = expected[month * DAYS_PER_MONTH]
        discounted += (cumulative - previous) / (1 + monthly_rate) ** month
        previous = cumulative
    predicted["discounted_purchases_if_alive"] = discounted
    return predicted


def build_customer_clv(conn: duckdb.DuckDBPyConnection, fit: ClvFit, time_unit: str, settings: CustomerValueSettings) -> int:
    """`customer_clv` from `clv_summary`: model numbers when the fit is usable, else nulls and the reason."""
    define_summary_as_of(conn, time_unit)
    if not fit.usable:
        return create_table(conn, "customer_clv", SQL / "customer_clv_unavailable.sql", {"status": fit.status})
    model, params = fit.purchases.purchase_model, fit.purchases.params
    age_pairs = conn.execute("select distinct frequency, T from clv_summary").df()
    recency_pairs = conn.execute("select distinct frequency, recency from clv_summary").df()
    recency_pairs["dropout_term_recency"] = model.recency_term(params, recency_pairs["frequency"], recency_pairs["recency"])
    conn.register("clv_predictions_if_alive", predict_if_alive(fit, age_pairs, time_unit, settings.annual_discount_rate))
    conn.register("clv_recency_terms", recency_pairs)
    conn.register("clv_parameters", pd.DataFrame([fit.gamma_gamma.params_.to_dict()]))
    try:
        return create_table(conn, "customer_clv", SQL / "customer_clv.sql",
                            {"status": fit.status, "p_alive_informative": fit.p_alive_informative}, unordered=True)
    finally:
        for name in ("clv_predictions_if_alive", "clv_recency_terms", "clv_parameters"):
            conn.unregister(name)


def model_table(fit: ClvFit, as_of: date, time_unit: str) -> pd.DataFrame:
    """`clv_model`: the production purchase model and Gamma-Gamma, with parameters, fit size, status
    and why this purchase model."""
    purchases = fit.purchases
    spend = fit.gamma_gamma.params_.to_dict() if fit.gamma_gamma is not None else {}
    common = {"purpose": "production", "status": fit.status, "reason": fit.reason, "as_of": as_of,
              "calibration_end": as_of, "time_unit": time_unit,
              "customers": purchases.customers, "repeat_buyers": purchases.repeat_buyers}
    empty = dict.fromkeys((*PURCHASE_PARAMETERS, "p", "q", "v"))
    return pd.DataFrame([
        {"model": purchases.model, **common, "distinct_rows": purchases.distinct_rows,
         "log_likelihood": purchases.log_likelihood, **empty, **(purchases.params or {})},
        {"model": "gamma_gamma", **common, "distinct_rows": fit.spend_rows,
         "log_likelihood": fit.spend_log_likelihood, **empty, **spend},
    ]).astype({column: float for column in ("log_likelihood", *empty)})


def load_fit(conn: duckdb.DuckDBPyConnection) -> ClvFit:
    """The models as stored in `clv_model`, ready to predict without refitting."""
    stored = conn.execute("select * from clv_model where purpose = 'production'").df().set_index("model")
    spend_row = stored.loc["gamma_gamma"]
    purchase_row = stored.drop(index="gamma_gamma").iloc[0]
    model = str(purchase_row.name)
    params = {name: float(purchase_row[name]) for name in MODELS[model].parameters}
    usable = not np.isnan(list(params.values())).any()
    purchases = PurchaseFit(model, str(purchase_row["status"]), int(purchase_row["customers"]),
                            int(purchase_row["repeat_buyers"]), int(purchase_row["distinct_rows"]),
                            params if usable else None)
    fit = ClvFit(purchases, str(purchase_row["reason"]))
    if usable and pd.notna(spend_row["p"]):
        fit.gamma_gamma = GammaGammaFitter()
        fit.gamma_gamma.params_ = pd.Series({name: float(spend_row[name]) for name in ("p", "q", "v")})
    return fit


# --- backtest ---------------------------------------------------------------------------------------


@dataclass
class Backtest:
    """Every candidate refitted with the holdout hidden and, where it could be fitted, scored on it."""

    cutoff: date
    as_of: date
    holdout_days: int
    fits: list[PurchaseFit]
    note: str | None = None
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per scored candidate
    by_frequency: pd.DataFrame = field(default_factory=pd.DataFrame)  # per scored candidate and frequency
    tracking: pd.DataFrame | None = None  # days_after_cutoff, actual, one column per scored candidate


def holdout_days(settings: CustomerValueSettings, first_order_date: date, as_of: date, time_unit: str) -> int:
    if settings.holdout_periods is not None:
        return int(settings.holdout_periods * days_per_unit(time_unit))
    return max(1, round((as_of - first_order_date).days * settings.holdout_fraction))


def run_backtest(
    conn: duckdb.DuckDBPyConnection, settings: CustomerValueSettings, first_order_date: date, as_of: date, time_unit: str
) -> Backtest:
    """Refit every candidate with the last holdout period hidden, then compare its predicted repeat
    purchases in the holdout with the actual ones."""
    held_out = holdout_days(settings, first_order_date, as_of, time_unit)
    cutoff = as_of - timedelta(days=held_out)
    build_summary(conn, "clv_calibration_summary", cutoff, time_unit)
    try:
        model_input = read_model_input(conn, "clv_calibration_summary")
        fits = [fit_purchases(model, model_input, settings, time_unit) for model in settings.candidates]
        backtest = Backtest(cutoff, as_of, held_out, fits, seasonality_note(conn, as_of, held_out))
        if any(fit.usable for fit in fits):
            score(conn, backtest, model_input.rows, time_unit)
    finally:
        conn.execute("drop table if exists clv_calibration_summary")
    return backtest


def score(conn: duckdb.DuckDBPyConnection, backtest: Backtest, rows: pd.DataFrame, time_unit: str) -> None:
    """Each usable candidate's predictions for the calibration customers, week by week into the
    holdout (the last horizon is the whole holdout), scored against what they bought."""
    horizons = list(range(7, backtest.holdout_days, 7)) + [backtest.holdout_days]
    spans = [days / days_per_unit(time_unit) for days in horizons]
    f, r, t = (rows[column].to_numpy(dtype=float) for column in ("frequency", "recency", "T"))
    customers = rows["weight"].to_numpy(dtype=float)
    predictions, tracking = [], {}
    for fit in (fit for fit in backtest.fits if fit.usable):
        p_alive = fit.purchase_model.p_alive(fit.params, f, r, t)
        expected = fit.purchase_model.expected_purchases(fit.params, spans, f, t, p_alive)
        predictions.append(rows[["frequency", "recency", "T"]].assign(
            model=fit.model, p_alive=p_alive, predicted_purchases=expected[-1]))
        tracking[fit.model] = [float(values @ customers) for values in expected]
    create_temp_table(conn, "clv_backtest_groups", SQL / "clv_backtest_groups.sql",
                      {"cutoff": backtest.cutoff, "as_of": backtest.as_of})
    conn.register("backtest_predictions", pd.concat(predictions, ignore_index=True))
    try:
        create_temp_table(conn, "clv_backtest_compared", SQL / "clv_backtest_compared.sql")
        backtest.scores = conn.execute((SQL / "clv_model_scores.sql").read_text()).df().set_index("model")
        backtest.by_frequency = conn.execute((SQL / "clv_backtest_by_frequency.sql").read_text()).df()
        backtest.tracking = tracking_curve(conn, horizons, backtest.cutoff).assign(**tracking)
    finally:
        conn.unregister("backtest_predictions")
        conn.execute("drop table if exists clv_backtest_compared; drop table clv_backtest_groups")


def tracking_curve(conn: duckdb.DuckDBPyConnection, horizons: list[int], cutoff: date) -> pd.DataFrame:
    """Cumulative actual repeat purchases of the calibration customers in the holdout at each horizon
    (days after the cut-off, the last one the end of the holdout)."""
    # named parameters and a registered frame of horizons: the SQL reads the same on Spark, which
    # has no `?::date` casts of positional parameters and no unnest of a bound list
    conn.register("tracking_horizons", pd.DataFrame({"day": horizons}))
    try:
        return conn.execute(
            """
            with daily as (
                select purchase_date - $cutoff as day, count(*) as purchases
                from main.customer_purchase_days
                where is_purchase_day and purchase_date > $cutoff and purchase_date <= $cutoff + $holdout_days
                    and customer_id in (select customer_id from clv_calibration_summary)
                group by purchase_date
            )
            select checkpoint.day as days_after_cutoff, coalesce(sum(daily.purchases), 0) as actual
            from tracking_horizons as checkpoint
            left join daily on daily.day <= checkpoint.day
            group by checkpoint.day
            order by checkpoint.day
            """,
            {"cutoff": cutoff, "holdout_days": int(horizons[-1])},
        ).df()
    finally:
        conn.unregister("tracking_horizons")


def seasonality_note(conn: duckdb.DuckDBPyConnection, as_of: date, held_out: int) -> str | None:
    """A warning when a holdout shorter than a year meets a seasonal history: its scores then measure
    the season as much as the models."""
    if held_out >= 365:
        return None
    found = run_sql(conn, SQL / "clv_seasonality.sql", {"as_of": as_of})
    if not found or found[0][0] < SEASONAL_PEAK_RATIO:
        return None
    ratio, peak, low = found[0]
    return (f"the holdout covers {held_out} days, less than a year, of a seasonal history (trend removed, "
            f"the three months around {peak:%Y-%m} had {ratio:.2f}x the purchase days of those around "
            f"{low:%Y-%m}): its scores measure the season as much as the models")


def choose_model(backtest: Backtest, settings: CustomerValueSettings) -> tuple[str, dict[str, str]]:
    """The production model and, for every candidate, why it was or was not chosen: the lowest holdout
    MAE (ties to the earlier candidate) unless the config fixes the model."""
    mae = backtest.scores["mae"].dropna() if not backtest.scores.empty else pd.Series(dtype=float)
    ranked = [model for model in settings.candidates if model in mae.index]
    best = min(ranked, key=lambda model: mae[model]) if ranked else None
    unscored = {fit.model: f"not scored: {fit.status}" for fit in backtest.fits if fit.model not in mae.index}
    if settings.model != "auto":
        chosen = settings.model
        reasons = {model: f"not chosen: customer_value.model fixes {chosen}" for model in settings.candidates}
        reasons[chosen] = f"fixed by config (customer_value.model: {chosen})" + (
            f"; the lowest holdout MAE is {best}'s ({mae[best]:.3f})" if best not in (None, chosen) else "")
        return chosen, reasons
    if best is None:
        chosen = settings.candidates[0]
        return chosen, {**unscored, chosen: f"no candidate could be scored on the holdout: {chosen}, the first candidate"}
    others = ", ".join(f"{model} {mae[model]:.3f}" for model in sorted(ranked, key=mae.get) if model != best)
    reasons = {model: f"holdout MAE {mae[model]:.3f}, {mae[model] - mae[best]:.3f} above {best}" for model in ranked}
    reasons[best] = f"lowest holdout MAE: {mae[best]:.3f}" + (f" (against {others})" if others else "")
    return best, {**reasons, **unscored}


def scorecard(backtest: Backtest, chosen: str, reasons: dict[str, str]) -> pd.DataFrame:
    """`clv_model_selection`: one row per candidate with its holdout scores, fitted parameters, whether
    it is the production model and why."""
    rows = []
    for fit in backtest.fits:
        scores = backtest.scores.loc[fit.model].to_dict() if fit.model in backtest.scores.index else {}
        rows.append({
            "model": fit.model,
            "status": fit.status,
            "calibration_end": backtest.cutoff,
            "holdout_end": backtest.as_of,
            "customers": fit.customers,
            **{column: scores.get(column) for column in (
                "predicted_repeat_purchases", "actual_repeat_purchases", "total_error_pct", "mae", "rmse",
                "correlation", "share_predicted_active_who_bought")},
            "log_likelihood": fit.log_likelihood,
            **{name: (fit.params or {}).get(name) for name in PURCHASE_PARAMETERS},
            "chosen": fit.model == chosen,
            "reason": reasons[fit.model],
            "note": backtest.note,
        })
    frame = pd.DataFrame(rows)
    numeric = [column for column in frame.columns if column not in (
        "model", "status", "calibration_end", "holdout_end", "customers", "chosen", "reason", "note")]
    return frame.astype({column: float for column in numeric} | {"note": "string"})


def backtest_by_frequency(backtest: Backtest) -> pd.DataFrame:
    """`clv_backtest`: predicted against actual holdout purchases per candidate and calibration frequency;
    a candidate that could not be fitted has one row ('all') with its status."""
    statuses = pd.DataFrame([(fit.model, fit.status) for fit in backtest.fits], columns=["model", "status"])
    unscored = pd.DataFrame(
        [{"model": fit.model, "calibration_frequency": "all", "customers": fit.customers, "status": fit.status}
         for fit in backtest.fits if not fit.usable],
        columns=["model", "calibration_frequency", "customers", "status"],
    )
    if backtest.by_frequency.empty:
        frame = unscored
    else:
        frame = pd.concat([backtest.by_frequency.merge(statuses, on="model"), unscored], ignore_index=True)
    order = {fit.model: index for index, fit in enumerate(backtest.fits)}
    frame = frame.sort_values("model", key=lambda models: models.map(order), kind="stable")
    frame = frame.reindex(columns=["model", "calibration_frequency", "customers", "predicted_purchases",
                                   "actual_purchases", "mean_predicted", "mean_actual", "status"])
    return frame.astype({"customers": "int64", "predicted_purchases": float, "actual_purchases": float,
                         "mean_predicted": float, "mean_actual": float}).assign(
        calibration_end=backtest.cutoff, holdout_days=backtest.holdout_days)


def append_history(conn: duckdb.DuckDBPyConnection, card: pd.DataFrame, scored_at: datetime) -> int:
    """Add the night's scorecard to `clv_model_selection_history`, which keeps one scorecard per
    holdout end (as_of): a re-run for the same as_of replaces that night's rows."""
    conn.register("night_scorecard", card)
    try:
        run_sql(conn, "create or replace temp table night_scores as "
                      "select *, $scored_at::timestamp as scored_at from night_scorecard", {"scored_at": scored_at})
        replace_rows(conn, "clv_model_selection_history", "night_scores", "holdout_end")
        conn.execute("drop table night_scores")
    finally:
        conn.unregister("night_scorecard")
    return row_count(conn, "clv_model_selection_history")
