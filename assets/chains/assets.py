"""Chains: label every purchase day by whether the 7-day repeat-purchase chain continued, and find
what the chain-ending purchases have in common."""

import dagster as dg

from assets.chains.building import (
    breakers_chart,
    build_chain_table,
    chain_length_chart,
    chain_standouts,
    continuation_by_month,
    continuation_chart,
    label_counts,
)
from common.contracts import materialized
from common.metadata import chart, table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import read_as_of

CHAIN_ASSET = dict(group_name="chains", kinds={"duckdb"})


@dg.asset(**CHAIN_ASSET)
def purchase_chains(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per customer purchase day: chain id, position, days to the next purchase, and a label
    continued / ended / open (open: the window reaches past as-of, so the outcome is not known yet)."""
    settings = lifecycle_config.settings.chains
    with warehouse.get_connection() as conn:
        build_chain_table(conn, "purchase_chains", settings)
        stored = materialized(conn, "purchase_chains")
        labels = label_counts(conn)
        exports_dir = lifecycle_config.exports_dir
        length_chart = chart(chain_length_chart(conn), "chain_lengths", "Chain length distribution", exports_dir)
        rates = continuation_by_month(conn, settings.window_days)
        trend = continuation_chart(rates, settings.window_days, read_as_of(conn))
        trend_chart = chart(trend, "chain_continuation", "Chain continuation by month", exports_dir)
    return dg.MaterializeResult(
        metadata={
            **stored,
            "window_days": settings.window_days,
            **{f"purchases_{label}": count for label, count in labels.items()},
            **length_chart,
            **trend_chart,
        }
    )


@dg.asset(**CHAIN_ASSET)
def customer_chain_summary(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per customer: number of chains, mean and max length, share of purchases that continued,
    days since the latest chain ended, and whether a chain is open now."""
    with warehouse.get_connection() as conn:
        build_chain_table(conn, "customer_chain_summary", lifecycle_config.settings.chains)
        stored = materialized(conn, "customer_chain_summary")
        open_now = conn.execute("select count(*) from customer_chain_summary where has_open_chain").fetchone()[0]
    return dg.MaterializeResult(metadata={**stored, "customers_with_open_chain": open_now})


@dg.asset(**CHAIN_ASSET, deps=["products"])
def chain_breakers(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Categories, products, channels and discount use that stand on chain-ending purchases more
    often than on continuing ones: the degradation analysis marketing acts on."""
    settings = lifecycle_config.settings.chains
    with warehouse.get_connection() as conn:
        build_chain_table(conn, "chain_breakers", settings)
        stored = materialized(conn, "chain_breakers")
        standouts = chain_standouts(conn)
        as_of = read_as_of(conn)
    return dg.MaterializeResult(
        metadata={
            **stored,
            "min_support": settings.min_support,
            "top_chain_breakers_and_keepers": table(standouts),
            **chart(breakers_chart(standouts, as_of), "chain_breakers", "Top chain breakers", lifecycle_config.exports_dir),
        }
    )


@dg.asset(**CHAIN_ASSET)
def repeat_timing(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Days between purchases and from first to second purchase (quartiles), overall and per category,
    so campaigns can be timed."""
    with warehouse.get_connection() as conn:
        build_chain_table(conn, "repeat_timing", lifecycle_config.settings.chains)
        stored = materialized(conn, "repeat_timing")
        overall = conn.execute("select * from repeat_timing where category = '(all)'").df()
    return dg.MaterializeResult(metadata={**stored, "overall": table(overall)})
