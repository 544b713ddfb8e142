"""Customer value: RFM scores and segments, BG/NBD + Gamma-Gamma CLV, and a backtest of the models."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.customer_value.modeling import (
    build_customer_clv,
    define_summary_as_of,
    fit_models,
    load_fit,
    model_rows,
    run_backtest,
)
from assets.customer_value.plots import clv_distribution, frequency_recency_matrix, tracking_plot
from common.contracts import materialized
from common.metadata import chart, money, table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import create_table, create_table_from_frame, read_as_of

SQL = Path(__file__).parent / "sql"
VALUE_ASSET = dict(group_name="customer_value", kinds={"duckdb"})


@dg.asset(**VALUE_ASSET)
def customer_rfm(warehouse: Warehouse) -> dg.MaterializeResult:
    """Recency, frequency (purchase days), monetary value (net spend per purchase day), tenure,
    quintile scores 1-5 and the named RFM segment of every customer who bought by as-of."""
    with warehouse.get_connection() as conn:
        create_table(conn, "customer_rfm", SQL / "customer_rfm.sql")
        segments = conn.execute(
            "select rfm_segment, count(*) as customers, round(sum(total_net_spend), 2) as net_spend "
            "from customer_rfm group by 1 order by 2 desc"
        ).df()
        return dg.MaterializeResult(metadata={**materialized(conn, "customer_rfm"), "segments": table(segments)})


@dg.asset(**VALUE_ASSET, deps=["analysis_scope"])
def clv_model(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The fitted BG/NBD and Gamma-Gamma parameters, log-likelihood, fit size and status, fitted on
    `clv_summary`, the per-customer model input (frequency, recency, T, monetary) read off customer_rfm."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        as_of = conn.execute("select as_of from analysis_scope").fetchone()[0]
        define_summary_as_of(conn, settings.time_unit)
        fit = fit_models(conn, "clv_summary", settings.clv)
        stored = pd.DataFrame(model_rows(fit, "production", as_of, as_of, settings.time_unit))
        create_table_from_frame(conn, "clv_model", stored)
        metadata = {
            **materialized(conn, "clv_model"),
            "status": fit.status, "customers": fit.customers, "repeat_buyers": fit.repeat_buyers,
        }
        if fit.ok:
            max_t = conn.execute("select max(T) from clv_summary").fetchone()[0]
            max_frequency = int(conn.execute("select quantile_disc(frequency, 0.99) from clv_summary").fetchone()[0])
            metadata |= {
                "parameters": table(stored[["model", "r", "alpha", "a", "b", "p", "q", "v", "log_likelihood"]]),
                "distinct_rows_fitted": fit.bg_rows,
                **chart(
                    frequency_recency_matrix(fit, max(max_frequency, 5), max_t, settings.time_unit, "expected"),
                    "clv_frequency_recency", "Expected purchases by frequency and recency", lifecycle_config.exports_dir,
                ),
                **chart(
                    frequency_recency_matrix(fit, max(max_frequency, 5), max_t, settings.time_unit, "p_alive"),
                    "clv_p_alive", "P(alive) by frequency and recency", lifecycle_config.exports_dir,
                ),
            }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(**VALUE_ASSET, deps=[clv_model])
def customer_clv(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per customer: P(alive) (null for one-time buyers, for whom BG/NBD always says 1), expected
    purchases in 30/90/365 days, expected order value, 12-month discounted CLV, decile and value tier."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        fit = load_fit(conn)
        build_customer_clv(conn, fit, settings.time_unit, settings.clv)
        metadata = {**materialized(conn, "customer_clv"), "status": fit.status}
        if fit.ok:
            tiers = conn.execute(
                "select value_tier, count(*) as customers, round(sum(clv_12m), 2) as clv_12m "
                "from customer_clv group by 1 order by max(clv_12m) desc"
            ).df()
            histogram = conn.execute((SQL / "clv_histogram.sql").read_text()).df()
            distribution = clv_distribution(histogram, read_as_of(conn), settings.report.currency)
            metadata |= {
                "value_tiers": table(tiers),
                "total_clv_12m": money(tiers["clv_12m"].sum(), settings.report.currency),
                **chart(distribution, "clv_distribution", "CLV distribution", lifecycle_config.exports_dir),
            }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(**VALUE_ASSET, deps=["analysis_scope"])
def clv_backtest(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The models refitted with the last part of the history held out: predicted against actual
    repeat purchases in total and by calibration frequency, error, correlation, and how many of
    the customers predicted active bought."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        first, as_of = conn.execute("select first_order_date, as_of from analysis_scope").fetchone()
        backtest = run_backtest(conn, settings.clv, first, as_of, settings.time_unit)
        frame = backtest.by_frequency if backtest.by_frequency is not None else pd.DataFrame(
            {"calibration_frequency": ["all"], "customers": [backtest.fit.customers],
             "predicted_purchases": [None], "actual_purchases": [None],
             "mean_predicted": [None], "mean_actual": [None]}
        ).astype({"predicted_purchases": float, "actual_purchases": float, "mean_predicted": float, "mean_actual": float})
        frame = frame.assign(calibration_end=backtest.cutoff, holdout_days=backtest.holdout_days, status=backtest.fit.status)
        create_table_from_frame(conn, "clv_backtest", frame)
        stored = materialized(conn, "clv_backtest")
    metadata = {**stored, "status": backtest.fit.status, "calibration_end": str(backtest.cutoff), "holdout_days": backtest.holdout_days}
    if backtest.fit.ok:
        metadata |= {
            **{name: float(value) for name, value in backtest.scores.items() if pd.notna(value)},
            "by_calibration_frequency": table(backtest.by_frequency),
            **chart(tracking_plot(backtest.tracking), "clv_backtest_tracking", "Backtest tracking", lifecycle_config.exports_dir),
        }
    return dg.MaterializeResult(metadata=metadata)

