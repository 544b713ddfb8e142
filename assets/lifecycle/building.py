"""Lifecycle stages today and over the history, how the base moves between them, cohorts and revenue
concentration: all set-based DuckDB SQL, one file per table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
from matplotlib.ticker import FuncFormatter

from common.charts import BLUE, GREEN, GREY, RED, STAGE_COLORS, count_axis, new_figure, no_data_figure, title
from common.config import LifecycleSettings
from common.contracts import contract
from common.labels import day, label, month, percent, text
from common.warehouse import Parts, create_table, create_temp_table, read_as_of, run_sql

SQL = Path(__file__).parent / "sql"
STAGE_ORDER = ["prospect_active", "prospect_inactive", "new", "active", "vip", "at_risk", "reactivated", "lapsed"]
# lifecycle_history rows per part of the customers whose moves are counted together: what one lag()
# window holds within DuckDB's 1 GB limit (all 50.5M rows at 10M purchase lines spilled 1 GB)
TRANSITION_PART_ROWS = 10_000_000


def build_lifecycle_table(conn: duckdb.DuckDBPyConnection, table: str, settings: LifecycleSettings) -> int:
    if table == "lifecycle_transitions":
        return build_lifecycle_transitions(conn)
    for macros in contract(table).extra_sql:  # the stage rules, for the tables that apply them
        run_sql(conn, SQL / macros)
    return create_table(conn, table, SQL / f"{table}.sql", settings.model_dump())


def build_lifecycle_transitions(conn: duckdb.DuckDBPyConnection) -> int:
    """The moves between month ends counted per range of customer ids (each customer's months are
    in one range), then added up: the one window that pairs a customer's months holds one range."""
    parts = Parts("lifecycle_history", "customer_id", TRANSITION_PART_ROWS)
    create_temp_table(conn, "lifecycle_moves", SQL / "lifecycle_moves.sql", parts=parts)
    return create_table(conn, "lifecycle_transitions", SQL / "lifecycle_transitions.sql")


def stage_sizes_chart(conn: duckdb.DuckDBPyConnection):
    """How many customers each stage held at each month end, the latest count written beside each band."""
    as_of = read_as_of(conn)
    # counted in SQL, the few (month, stage) counts turned into columns here: Spark has no PIVOT ... ON
    counts = conn.execute(
        "select snapshot_date, stage, count(*) as customers from lifecycle_history group by snapshot_date, stage"
    ).df()
    sizes = counts.pivot_table(index="snapshot_date", columns="stage", values="customers", fill_value=0).sort_index()
    if sizes.empty:
        return no_data_figure(text("chart.stage_sizes"), text("flow.no_data"), as_of)
    stages = [stage for stage in STAGE_ORDER if stage in sizes.columns]
    fig, ax = new_figure(9, 4.8)
    ax.stackplot(
        sizes.index, *[sizes[stage] for stage in stages],
        labels=[label(stage) for stage in stages], colors=[STAGE_COLORS[stage] for stage in stages],
    )
    latest = sizes.iloc[-1]
    bottom = 0
    for stage in stages:
        if latest[stage] > 0.04 * latest.sum():
            ax.annotate(
                f"{latest[stage]:,.0f}", (sizes.index[-1], bottom + latest[stage] / 2),
                xytext=(4, 0), textcoords="offset points", va="center", fontsize=8,
            )
        bottom += latest[stage]
    ax.set_ylabel("customers")
    ax.grid(axis="y")
    count_axis(ax.yaxis)
    title(ax, text("chart.stage_sizes"), as_of)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    return fig


def transition_heatmap(conn: duckdb.DuckDBPyConnection):
    """Where last month's customers went: the share of each earlier stage in each stage now."""
    last = conn.execute(
        "select snapshot_date, from_stage, to_stage, rate from lifecycle_transitions "
        "where snapshot_date = (select max(snapshot_date) from lifecycle_transitions)"
    ).df()
    as_of = read_as_of(conn)
    if last.empty:
        return no_data_figure(text("chart.transitions", date="–"), text("flow.no_data"), as_of)
    month_end = last["snapshot_date"].iloc[0]
    order = ["(not yet a customer)", *STAGE_ORDER]
    matrix = last.pivot(index="from_stage", columns="to_stage", values="rate")
    matrix = matrix.reindex(
        index=[stage for stage in order if stage in matrix.index],
        columns=[stage for stage in order if stage in matrix.columns],
    ).fillna(0)
    fig, ax = new_figure(8, 6)
    ax.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    for row, column in np.ndindex(matrix.shape):
        rate = matrix.iat[row, column]
        if rate > 0:
            ax.text(column, row, percent(rate, 0) if rate >= 0.005 else "<1%", ha="center", va="center", fontsize=8,
                    color="white" if rate > 0.6 else "black")
    ax.set_xticks(range(len(matrix.columns)), [label(stage) for stage in matrix.columns], rotation=35, ha="right")
    ax.set_yticks(range(len(matrix.index)), [label(stage) for stage in matrix.index])
    ax.set_xlabel(text("chart.transitions.x", date=day(month_end)))
    ax.set_ylabel(text("chart.transitions.y"))
    title(ax, text("chart.transitions", date=day(month_end)), as_of)
    return fig


def pareto_chart(conn: duckdb.DuckDBPyConnection):
    """The Lorenz curve from the top, with the top-20% share written on it."""
    curve = conn.execute(
        "select top_customers_percent, top_customers_revenue_share::double as share, "
        "top_20_percent_revenue_share::double as top_20 from pareto order by 1"
    ).df()
    as_of = read_as_of(conn)
    if curve.empty or curve["top_20"].isna().all():
        return no_data_figure(text("chart.pareto"), text("concentration.no_data", date=day(as_of)), as_of)
    top_20 = curve["top_20"].iloc[0]
    fig, ax = new_figure(7, 5)
    ax.plot([0, *curve["top_customers_percent"]], [0, *(100 * curve["share"])], color=BLUE, linewidth=2)
    ax.plot([0, 100], [0, 100], color=GREY, linestyle=":")
    ax.plot([20, 20, 0], [0, 100 * top_20, 100 * top_20], color=RED, linestyle="--", linewidth=1)
    ax.annotate(
        text("chart.pareto.note", share=percent(top_20)), (20, 100 * top_20), xytext=(45, 100 * top_20 - 40),
        arrowprops={"arrowstyle": "->", "color": RED}, color=RED, fontsize=10,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": RED},
    )
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid()
    ax.set_xlabel(text("chart.pareto.x"))
    ax.set_ylabel(text("chart.pareto.y"))
    title(ax, text("chart.pareto"), as_of)
    return fig


def cohort_heatmap(conn: duckdb.DuckDBPyConnection):
    """Each first-purchase month's share buying again in each later month. Month 0 (everyone) is
    left out, so the columns start at month 1 and are labelled with their own month number."""
    cohorts = conn.execute(
        "select cohort_month, months_since_first_purchase, retention_rate from cohort_retention "
        "where months_since_first_purchase > 0"
    ).df()
    as_of = read_as_of(conn)
    if cohorts.empty:
        return no_data_figure(text("chart.cohorts"), text("cohorts.no_data"), as_of)
    matrix = cohorts.pivot(index="cohort_month", columns="months_since_first_purchase", values="retention_rate")
    values = matrix.to_numpy(dtype=float)
    fig, ax = new_figure(9, 6)
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0, vmax=np.nanmax(values))
    step = max(1, len(matrix.columns) // 12)
    ax.set_xticks(range(0, len(matrix.columns), step), [str(m) for m in matrix.columns[::step]])
    ax.set_yticks(range(len(matrix.index)), [month(value) for value in matrix.index], fontsize=7)
    ax.set_xlabel(text("chart.cohorts.x"))
    ax.set_ylabel(text("chart.cohorts.y"))
    bar = fig.colorbar(image, ax=ax, label=text("chart.cohorts.scale"))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: percent(value, 0)))
    title(ax, text("chart.cohorts"), as_of)
    return fig


# True of new customers by definition (they bought recently), so no finding: left out of the chart.
DEFINITIONAL_TOPICS = ("size", "activity")


def new_vs_established_chart(conn: duckdb.DuckDBPyConnection, new_customer_days: int):
    """The ratio of new to established customers on each behaviour: left of 1, new customers do less."""
    ratios = conn.execute(
        "select measure, new_to_established_ratio as ratio from new_vs_established "
        "where new_to_established_ratio is not null and not list_contains($definitional, topic) order by topic desc, measure desc",
        {"definitional": list(DEFINITIONAL_TOPICS)},
    ).df()
    as_of = read_as_of(conn)
    what = text("chart.new_vs_established", days=new_customer_days)
    if ratios.empty:
        return no_data_figure(what, text("chart.no_data"), as_of)
    fig, ax = new_figure(8, 0.9 + 0.42 * len(ratios))
    colors = [GREEN if ratio >= 1 else RED for ratio in ratios["ratio"]]
    ax.barh([label(measure) for measure in ratios["measure"]], ratios["ratio"] - 1, left=1, color=colors)
    for position, ratio in enumerate(ratios["ratio"]):
        ax.annotate(f"{ratio:.2f}×", (ratio, position), xytext=(4 if ratio >= 1 else -4, 0),
                    textcoords="offset points", va="center", ha="left" if ratio >= 1 else "right", fontsize=8)
    ax.axvline(1, color=GREY, linewidth=1)
    low, high = ratios["ratio"].min(), ratios["ratio"].max()
    ax.set_xlim(min(0.8, low - 0.1), max(1.2, high + 0.1))
    ax.grid(axis="x")
    ax.set_xlabel(text("chart.new_vs_established.x"))
    title(ax, what, as_of)
    return fig
