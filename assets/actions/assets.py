"""Customer actions: what to offer, when to remind, the one next best action per customer and
prospect, and the single customer profile that brings every source together."""

import dagster as dg

from assets.actions.building import action_chart, build_action_table, build_customer_profile, missing_sources
from common.contracts import materialized
from common.metadata import chart, table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import read_as_of

ACTION_ASSET = dict(group_name="actions", kinds={"duckdb"})


@dg.asset(**ACTION_ASSET)
def customer_categories(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per customer and category: purchase days, spend, first and last purchase. Empty without categories."""
    with warehouse.get_connection() as conn:
        build_action_table(conn, "customer_categories", lifecycle_config.settings.actions)
        stored = materialized(conn, "customer_categories")
        categories = conn.execute("select count(distinct category) from customer_categories").fetchone()[0]
    return dg.MaterializeResult(
        metadata={**stored, "categories": categories, "has_categories": categories > 0}
    )


@dg.asset(**ACTION_ASSET)
def cross_sell_candidates(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Single-category buyers and the categories to offer them, ranked by co-purchase affinity."""
    with warehouse.get_connection() as conn:
        build_action_table(conn, "cross_sell_candidates", lifecycle_config.settings.actions)
        stored = materialized(conn, "cross_sell_candidates")
        customers = conn.execute("select count(distinct customer_id) from cross_sell_candidates").fetchone()[0]
        offers = conn.execute(
            "select bought_category, offer_rank, offer_category, offer_basis, any_value(lift) as lift, "
            "any_value(confidence) as confidence, count(*) as customers from cross_sell_candidates "
            "group by all order by bought_category, offer_rank"
        ).df()
        has_categories = conn.execute("select count(*) > 0 from customer_categories").fetchone()[0]
    note = {} if has_categories else {"note": "no categories in the purchases: no cross-sell candidates"}
    return dg.MaterializeResult(
        metadata={**stored, "customers": customers, "offers": table(offers), **note}
    )


@dg.asset(**ACTION_ASSET)
def repurchase_windows(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per buyer the date window of the expected next purchase, and the second-purchase target for
    one-time buyers, so reminders can be scheduled."""
    with warehouse.get_connection() as conn:
        build_action_table(conn, "repurchase_windows", lifecycle_config.settings.actions)
        stored = materialized(conn, "repurchase_windows")
        bases = conn.execute(
            "select window_basis, window_status, count(*) as customers from repurchase_windows group by all order by all"
        ).df()
    return dg.MaterializeResult(metadata={**stored, "windows": table(bases)})


@dg.asset(**ACTION_ASSET)
def next_best_action(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Exactly one recommended action per customer and prospect, with its reason and expected value
    (rules v1, see the README)."""
    with warehouse.get_connection() as conn:
        build_action_table(conn, "next_best_action", lifecycle_config.settings.actions)
        stored = materialized(conn, "next_best_action")
        actions = conn.execute(
            "select action, count(*) as customers, sum(expected_value)::double as expected_value "
            "from next_best_action group by 1 order by 2 desc"
        ).df()
        figure = action_chart(actions, read_as_of(conn), lifecycle_config.settings.report.currency)
        bars = chart(figure, "next_best_action", "Next best action", lifecycle_config.exports_dir)
    return dg.MaterializeResult(metadata={**stored, "actions": table(actions), **bars})


@dg.asset(**ACTION_ASSET)
def customer_profile(warehouse: Warehouse) -> dg.MaterializeResult:
    """The single customer profile: transactions, registration, digital behaviour, service scores,
    survey segment, lifecycle stage and next action, one row per customer."""
    with warehouse.get_connection() as conn:
        build_customer_profile(conn)
        stored = materialized(conn, "customer_profile")
        columns = len(conn.execute("describe customer_profile").fetchall())
        missing = missing_sources(conn)
    return dg.MaterializeResult(
        metadata={
            **stored,
            "columns": columns,
            "null_for_missing_sources": ", ".join(missing) or "none: every source is present",
        }
    )
