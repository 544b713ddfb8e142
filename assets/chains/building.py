"""Repeat-purchase chains: which purchases were followed by another within the window, and what
stands on the purchases after which customers stopped. All set-based DuckDB SQL over purchase days."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from common.charts import BLUE, GREEN, GREY, RED, count_axis, new_figure, no_data_figure, title
from common.config import ChainSettings
from common.contracts import in_build_order
from common.labels import label, percent, text
from common.warehouse import create_table, read_as_of

SQL = Path(__file__).parent / "sql"
def build_chain_table(conn: duckdb.DuckDBPyConnection, table: str, settings: ChainSettings) -> int:
    """Materialize one of the chain tables."""
    params = {"window_days": settings.window_days, "min_support": settings.min_support}
    return create_table(conn, table, SQL / f"{table}.sql", params)


def build_chain_tables(conn: duckdb.DuckDBPyConnection, settings: ChainSettings) -> dict[str, int]:
    """Every chain table, each after the ones its SQL reads."""
    tables = in_build_order([path.stem for path in SQL.glob("*.sql")])
    return {table: build_chain_table(conn, table, settings) for table in tables}


def label_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(conn.execute("select chain_label, count(*) from purchase_chains group by 1").fetchall())


def chain_length_chart(conn: duckdb.DuckDBPyConnection):
    lengths = conn.execute(
        "select least(chain_length, 10) as length, count(*) as chains "
        "from purchase_chains where chain_position = 1 group by 1 order by 1"
    ).df()
    as_of = read_as_of(conn)
    if lengths.empty:
        return no_data_figure(text("chart.chain_lengths"), text("chart.no_data"), as_of)
    fig, ax = new_figure()
    bars = ax.bar(lengths["length"].astype(str).replace({"10": "10+"}), lengths["chains"], color=BLUE)
    ax.bar_label(bars, labels=[f"{chains:,}" for chains in lengths["chains"]], fontsize=8)
    ax.grid(axis="y")
    count_axis(ax.yaxis)
    ax.set_xlabel(text("chart.chain_lengths.x"))
    ax.set_ylabel(text("chart.chain_lengths.y"))
    title(ax, text("chart.chain_lengths"), as_of)
    return fig


def continuation_by_month(conn: duckdb.DuckDBPyConnection, window_days: int) -> pd.DataFrame:
    """Per month of purchase: the share of purchase days that continued the chain. Only months whose
    every purchase day is decided count: in a later month the days that ended are still open while
    those that continued are already known, which would inflate the rate."""
    return conn.execute(
        "select date_trunc('month', purchase_date)::date as month, "
        "avg((chain_label = 'continued')::double) as continuation_rate, count(*) as purchase_days "
        "from purchase_chains where chain_label in ('continued', 'ended') "
        "and last_day(purchase_date) + $window_days::integer <= (select as_of from analysis_scope) "
        "group by 1 order by 1",
        {"window_days": window_days},
    ).df()


def continuation_chart(rates: pd.DataFrame, window_days: int, as_of):
    what = text("chart.continuation", window=window_days)
    if rates.empty:
        return no_data_figure(what, text("chains.no_data", window=window_days), as_of)
    fig, ax = new_figure(8, 3.8)
    ax.plot(rates["month"], 100 * rates["continuation_rate"], color=BLUE, marker="o", markersize=3)
    last = rates.iloc[-1]
    ax.annotate(percent(last["continuation_rate"]), (last["month"], 100 * last["continuation_rate"]),
                xytext=(0, 8), textcoords="offset points", ha="center", fontsize=9, color=BLUE)
    ax.set_ylim(0, 100)
    ax.grid(axis="y")
    ax.set_ylabel(text("chart.continuation.y"))
    title(ax, what, as_of)
    return fig


def chain_standouts(conn: duckdb.DuckDBPyConnection, products: int = 5, others: int = 3) -> pd.DataFrame:
    """The strongest chain breakers and keepers: per kind the top categories, channels or discount use,
    and the top products, by name (where the products file has names) with their category."""
    return conn.execute(
        """
        with ranked as (
            select
                case when is_chain_breaker then 'breaker' else 'keeper' end as kind,
                breakers.dimension,
                breakers.value,
                products.product_name,
                products.category as product_category,
                breakers.purchase_days,
                breakers.end_rate,
                breakers.lift,
                breakers.z_score,
                row_number() over (
                    partition by is_chain_breaker, breakers.dimension = 'product'
                    order by abs(ln(breakers.lift)) desc, breakers.value
                ) as strength_rank
            from chain_breakers as breakers
            left join products on breakers.dimension = 'product' and products.product_id = breakers.value
            where is_chain_breaker or is_chain_keeper
        )
        select * exclude (strength_rank)
        from ranked
        where strength_rank <= case when dimension = 'product' then $products else $others end
        order by kind, lift desc
        """,
        {"products": products, "others": others},
    ).df()


def standout_name(row) -> str:
    """A product by its name where the products file has one; any other value in words."""
    if row.dimension == "product":
        return row.product_name if isinstance(row.product_name, str) else row.value
    return label(row.value)


def standout_label(row) -> str:
    """'Product: HomeCraft Circular Saw (Tools)', 'Category: Decor', 'Channel: Online'."""
    category = f" ({label(row.product_category)})" if isinstance(row.product_category, str) else ""
    return f"{label(row.dimension)}: {standout_name(row)}{category}"


def breakers_chart(standouts: pd.DataFrame, as_of):
    """Lift of the chain-ending rate for the top breakers (right of 1) and keepers (left of 1)."""
    if standouts.empty:
        return no_data_figure(text("chart.breakers"), text("chart.breakers.none"), as_of)
    shown = standouts.sort_values("lift")
    names = [standout_label(row) for row in shown.itertuples()]
    fig, ax = new_figure(9, 1.2 + 0.36 * len(shown))
    colors = [RED if kind == "breaker" else GREEN for kind in shown["kind"]]
    ax.barh(names, shown["lift"] - 1, left=1, color=colors)
    for position, lift in enumerate(shown["lift"]):
        ax.annotate(f"{lift:.2f}×", (lift, position), xytext=(4 if lift >= 1 else -4, 0), textcoords="offset points",
                    va="center", ha="left" if lift >= 1 else "right", fontsize=8)
    ax.axvline(1.0, color=GREY, linewidth=1)
    low, high = shown["lift"].min(), shown["lift"].max()
    ax.set_xlim(min(0.9, low - 0.15), max(1.1, high + 0.15))
    ax.grid(axis="x")
    ax.set_xlabel(text("chart.breakers.x"))
    title(ax, text("chart.breakers"), as_of)
    return fig
