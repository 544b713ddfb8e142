"""Customer value: RFM scores and segments, CLV from the purchase model a nightly backtest chooses
(BG/NBD, Pareto/NBD or MBG/NBD) and Gamma-Gamma, and the backtest's scorecard."""

from datetime import datetime
from pathlib import Path

import dagster as dg

from assets.customer_value.modeling import (
    append_history,
    backtest_by_frequency,
    build_customer_clv,
    choose_model,
    define_summary_as_of,
    fit_production,
    load_fit,
    model_table,
    production_choice,
    run_backtest,
    scorecard,
)
from assets.customer_value.plots import clv_distribution, frequency_recency_matrix, tracking_plot
from common.contracts import materialized
from common.metadata import chart, money, table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import create_table, create_table_from_frame, read_as_of

SQL = Path(__file__).parent / "sql"
VALUE_ASSET = dict(group_name="customer_value", kinds={"duckdb"})
MODEL_COLUMNS = ["model", "status", "log_likelihood", "r", "alpha", "a", "b", "s", "beta", "p", "q", "v"]


@dg.asset(**VALUE_ASSET)
def customer_rfm(warehouse: Warehouse) -> dg.MaterializeResult:
    """Recency, frequency (purchase days), monetary value (net spend per purchase day), tenure,
    quintile scores 1-5 and the named RFM segment of every customer who bought by as-of."""
    with warehouse.get_connection() as conn:
        create_table(conn, "customer_rfm", SQL / "customer_rfm.sql", unordered=True)
        segments = conn.execute(
            "select rfm_segment, count(*) as customers, round(sum(total_net_spend), 2) as net_spend "
            "from customer_rfm group by 1 order by 2 desc"
        ).df()
        return dg.MaterializeResult(metadata={**materialized(conn, "customer_rfm"), "segments": table(segments)})


@dg.asset(**VALUE_ASSET, deps=["clv_model_selection", "analysis_scope"])
def clv_model(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The production purchase model (chosen by the backtest's scorecard unless the config fixes it)
    and Gamma-Gamma, refitted on `clv_summary`, the per-customer model input read off customer_rfm,
    from the chosen model's backtest parameters."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        as_of = read_as_of(conn)
        define_summary_as_of(conn, settings.time_unit)
        model, reason, start = production_choice(conn, settings.customer_value)
        fit = fit_production(conn, settings.customer_value, model, reason, settings.time_unit, start)
        stored = model_table(fit, as_of, settings.time_unit)
        create_table_from_frame(conn, "clv_model", stored)
        metadata = {
            **materialized(conn, "clv_model"),
            "model": model, "reason": reason, "status": fit.status,
            "customers": fit.purchases.customers, "repeat_buyers": fit.purchases.repeat_buyers,
        }
        if fit.usable:
            # one pass over the model input for both chart bounds
            max_t, max_frequency = conn.execute("select max(T), quantile_disc(frequency, 0.99) from clv_summary").fetchone()
            max_frequency = int(max_frequency)
            metadata |= {
                "parameters": table(stored[[column for column in MODEL_COLUMNS if stored[column].notna().any()]]),
                "distinct_rows_fitted": fit.purchases.distinct_rows,
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
    """Per customer: P(alive) (null for one-time buyers, and for everyone when the model's status says
    it is not informative), expected purchases in 30/90/365 days, expected order value, 12-month
    (12 x 30 days) discounted CLV, decile and value tier."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        fit = load_fit(conn)
        build_customer_clv(conn, fit, settings.time_unit, settings.customer_value)
        metadata = {**materialized(conn, "customer_clv"), "model": fit.purchases.model, "status": fit.status}
        if fit.usable:
            # ordered by a column of its own: Spark would read max(clv_12m) as the max of the alias
            tiers = conn.execute(
                "select value_tier, customers, clv_12m from (select value_tier, count(*) as customers, "
                "round(sum(clv_12m), 2) as clv_12m, max(clv_12m) as highest from customer_clv group by value_tier) "
                "order by highest desc"
            ).df()
            histogram = conn.execute((SQL / "clv_histogram.sql").read_text()).df()
            distribution = clv_distribution(histogram, read_as_of(conn), settings.report.currency)
            metadata |= {
                "value_tiers": table(tiers),
                "total_clv_12m": money(tiers["clv_12m"].sum(), settings.report.currency),
                **chart(distribution, "clv_distribution", "CLV distribution", lifecycle_config.exports_dir),
            }
    return dg.MaterializeResult(metadata=metadata)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("clv_backtest", deps=["analysis_scope"], **VALUE_ASSET),
        dg.AssetSpec("clv_model_selection", deps=["analysis_scope"], **VALUE_ASSET),
        dg.AssetSpec("clv_model_selection_history", deps=["analysis_scope"], **VALUE_ASSET),
    ],
    can_subset=True,
)
def clv_backtest(context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse):
    """Every candidate purchase model refitted with the last part of the history held out and scored
    on it; the scorecard chooses the production model. Each of the three tables can be built alone."""
    settings = lifecycle_config.settings
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with warehouse.get_connection() as conn:
        first, as_of = conn.execute("select first_order_date, as_of from analysis_scope").fetchone()
        backtest = run_backtest(conn, settings.customer_value, first, as_of, settings.time_unit)
        chosen, reasons = choose_model(backtest, settings.customer_value)
        card = scorecard(backtest, chosen, reasons)
        metadata = {"chosen": chosen, "calibration_end": str(backtest.cutoff), "holdout_days": backtest.holdout_days,
                    **({"note": backtest.note} if backtest.note else {})}
        if "clv_backtest" in selected:
            create_table_from_frame(conn, "clv_backtest", backtest_by_frequency(backtest))
            tracking = {} if backtest.tracking is None else chart(
                tracking_plot(backtest.tracking), "clv_backtest_tracking", "Backtest tracking", lifecycle_config.exports_dir)
            yield dg.MaterializeResult(asset_key="clv_backtest",
                                       metadata={**materialized(conn, "clv_backtest"), **metadata, **tracking})
        if "clv_model_selection" in selected:
            create_table_from_frame(conn, "clv_model_selection", card)
            shown = card[["model", "status", "total_error_pct", "mae", "correlation", "chosen", "reason"]]
            yield dg.MaterializeResult(asset_key="clv_model_selection",
                                       metadata={**materialized(conn, "clv_model_selection"), "scorecard": table(shown), **metadata})
        if "clv_model_selection_history" in selected:
            append_history(conn, card, datetime.now())
            yield dg.MaterializeResult(asset_key="clv_model_selection_history",
                                       metadata=materialized(conn, "clv_model_selection_history"))
