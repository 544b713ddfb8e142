"""Lifecycle stages today and over the history, how the base moves between them, cohorts and revenue
concentration: all set-based DuckDB SQL, one file per table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from common.charts import new_figure
from common.config import LifecycleSettings
from common.warehouse import create_table

SQL = Path(__file__).parent / "sql"
STAGE_ORDER = ["prospect_active", "prospect_inactive", "new", "active", "vip", "at_risk", "reactivated", "lapsed"]


def build_lifecycle_table(conn: duckdb.DuckDBPyConnection, table: str, settings: LifecycleSettings) -> int:
    return create_table(conn, table, SQL / f"{table}.sql", settings.model_dump())


def stage_sizes_chart(conn: duckdb.DuckDBPyConnection):
    sizes = conn.execute(
        "pivot (select snapshot_date, stage from lifecycle_history) on stage using count(*) order by snapshot_date"
    ).df().set_index("snapshot_date")
    stages = [stage for stage in STAGE_ORDER if stage in sizes.columns]
    fig, ax = new_figure()
    if sizes.empty:
        return fig
    ax.stackplot(sizes.index, *[sizes[stage] for stage in stages], labels=stages)
    ax.set_ylabel("customers")
    ax.set_title("Lifecycle stages at each month end")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def transition_heatmap(conn: duckdb.DuckDBPyConnection):
    """Transition rates between the last two snapshots."""
    last = conn.execute(
        "select from_stage, to_stage, rate from lifecycle_transitions "
        "where snapshot_date = (select max(snapshot_date) from lifecycle_transitions)"
    ).df()
    fig, ax = new_figure(7, 6)
    if last.empty:
        return fig
    matrix = last.pivot(index="from_stage", columns="to_stage", values="rate").fillna(0)
    image = ax.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), matrix.index)
    ax.set_xlabel("stage now")
    ax.set_ylabel("stage a month earlier")
    fig.colorbar(image, ax=ax, label="share of the earlier stage")
    ax.set_title("Stage transitions, last month")
    return fig


def pareto_chart(conn: duckdb.DuckDBPyConnection):
    curve = conn.execute("select top_customers_percent, top_customers_revenue_share from pareto order by 1").df()
    fig, ax = new_figure(6, 5)
    ax.plot(curve["top_customers_percent"], 100 * curve["top_customers_revenue_share"], color="#4c72b0")
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":")
    ax.axvline(20, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xlabel("top customers (%)")
    ax.set_ylabel("share of revenue (%)")
    ax.set_title("Revenue concentration")
    return fig


def cohort_heatmap(conn: duckdb.DuckDBPyConnection):
    cohorts = conn.execute(
        "select cohort_month, months_since_first_purchase, retention_rate from cohort_retention "
        "where months_since_first_purchase > 0"
    ).df()
    fig, ax = new_figure(9, 6)
    if cohorts.empty:
        return fig
    matrix = cohorts.pivot(index="cohort_month", columns="months_since_first_purchase", values="retention_rate")
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", aspect="auto", vmin=0, vmax=np.nanmax(matrix.to_numpy(dtype=float)))
    ax.set_yticks(range(len(matrix.index)), [str(month)[:7] for month in matrix.index], fontsize=7)
    ax.set_xlabel("months since first purchase")
    ax.set_ylabel("first-purchase month")
    fig.colorbar(image, ax=ax, label="share of the cohort buying")
    ax.set_title("Cohort retention")
    return fig


def new_vs_established_chart(conn: duckdb.DuckDBPyConnection):
    """The ratio of new to established customers on each measure: left of 1, new customers do less."""
    ratios = conn.execute(
        "select measure, new_to_established_ratio from new_vs_established "
        "where new_to_established_ratio is not null and measure <> 'customers' order by topic desc, measure desc"
    ).df()
    fig, ax = new_figure(8, 6)
    ax.barh(ratios["measure"], ratios["new_to_established_ratio"], color="#55a868")
    ax.axvline(1, color="grey", linestyle=":")
    ax.set_xlabel("new ÷ established (1 = same)")
    ax.set_title("New versus established customers")
    return fig
