"""Lifecycle: where each customer stands, how the base moved month by month, cohorts, and how
concentrated revenue is."""

import dagster as dg

from assets.lifecycle.building import (
    build_lifecycle_table,
    cohort_heatmap,
    new_vs_established_chart,
    pareto_chart,
    stage_sizes_chart,
    transition_heatmap,
)
from common.contracts import materialized
from common.metadata import chart, percent, rounded, table
from common.resources import LifecycleConfig, Warehouse

LIFECYCLE_ASSET = dict(group_name="lifecycle", kinds={"duckdb"})


@dg.asset(**LIFECYCLE_ASSET)
def customer_lifecycle(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per customer and prospect: the lifecycle stage on as-of and the rule that put them there
    (rules v1, see the README)."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "customer_lifecycle", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "customer_lifecycle")
        stages = conn.execute("select stage, count(*) as customers from customer_lifecycle group by 1 order by 2 desc").df()
    return dg.MaterializeResult(metadata={**stored, "stages": table(stages)})


@dg.asset(**LIFECYCLE_ASSET)
def lifecycle_history(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Every customer's stage at each month end, from recency, frequency and spend at that date."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "lifecycle_history", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "lifecycle_history")
        sizes = chart(stage_sizes_chart(conn), "lifecycle_stage_sizes", "Stages over time", lifecycle_config.exports_dir)
    return dg.MaterializeResult(metadata={**stored, **sizes})


@dg.asset(**LIFECYCLE_ASSET)
def lifecycle_transitions(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Customers moving from each stage to each stage between consecutive month ends, with rates."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "lifecycle_transitions", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "lifecycle_transitions")
        heatmap = chart(transition_heatmap(conn), "lifecycle_transitions", "Stage transitions", lifecycle_config.exports_dir)
    return dg.MaterializeResult(metadata={**stored, **heatmap})


@dg.asset(**LIFECYCLE_ASSET)
def cohort_retention(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Share of each first-purchase-month cohort buying in each later month."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "cohort_retention", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "cohort_retention")
        heatmap = chart(cohort_heatmap(conn), "cohort_retention", "Cohort retention", lifecycle_config.exports_dir)
    return dg.MaterializeResult(metadata={**stored, **heatmap})


@dg.asset(**LIFECYCLE_ASSET)
def customer_abc(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """ABC class per customer: A bring the first 80% of revenue, B the next 15%, C the rest."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "customer_abc", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "customer_abc")
        classes = conn.execute("select abc_class, count(*) as customers, sum(revenue) as revenue from customer_abc group by 1 order by 1").df()
    return dg.MaterializeResult(metadata={**stored, "classes": table(classes)})


@dg.asset(**LIFECYCLE_ASSET)
def pareto(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Revenue concentration: Lorenz curve by percentile of customers, top-20% share, Gini."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "pareto", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "pareto")
        summary = conn.execute("select any_value(top_20_percent_revenue_share), any_value(gini) from pareto").fetchall()[0]
        curve = chart(pareto_chart(conn), "pareto", "Revenue concentration", lifecycle_config.exports_dir)
    top_20, gini = summary
    return dg.MaterializeResult(
        metadata={**stored, "top_20_percent_revenue_share": percent(top_20), "gini": rounded(gini), **curve}
    )


@dg.asset(**LIFECYCLE_ASSET)
def new_vs_established(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """New against established customers on activity, repeat buying, order value, cross-category
    buying, channels and discounts, over the same recent window."""
    with warehouse.get_connection() as conn:
        build_lifecycle_table(conn, "new_vs_established", lifecycle_config.settings.lifecycle)
        stored = materialized(conn, "new_vs_established")
        comparison = conn.execute("select * from new_vs_established").df()
        days = lifecycle_config.settings.lifecycle.new_customer_days
        ratios = chart(
            new_vs_established_chart(conn, days), "new_vs_established", "New versus established", lifecycle_config.exports_dir
        )
    return dg.MaterializeResult(metadata={**stored, "comparison": table(comparison), **ratios})
