"""Repeat-purchase chains: which purchases were followed by another within the window, and what
stands on the purchases after which customers stopped. All set-based DuckDB SQL over purchase days."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from common.charts import new_figure
from common.config import ChainSettings
from common.warehouse import create_table

SQL = Path(__file__).parent / "sql"
CHAIN_TABLES = ("purchase_chains", "customer_chain_summary", "chain_breakers", "repeat_timing")


def build_chain_table(conn: duckdb.DuckDBPyConnection, table: str, settings: ChainSettings) -> int:
    """Materialize one of the chain tables; they build in the order of CHAIN_TABLES."""
    params = {"window_days": settings.window_days, "min_support": settings.min_support}
    return create_table(conn, table, SQL / f"{table}.sql", params)


def build_chain_tables(conn: duckdb.DuckDBPyConnection, settings: ChainSettings) -> dict[str, int]:
    return {table: build_chain_table(conn, table, settings) for table in CHAIN_TABLES}


def label_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(conn.execute("select chain_label, count(*) from purchase_chains group by 1").fetchall())


def chain_length_chart(conn: duckdb.DuckDBPyConnection):
    lengths = conn.execute(
        "select least(chain_length, 10) as length, count(*) as chains "
        "from purchase_chains where chain_position = 1 group by 1 order by 1"
    ).df()
    fig, ax = new_figure()
    ax.bar(lengths["length"].astype(str).replace({"10": "10+"}), lengths["chains"], color="#4c72b0")
    ax.set_xlabel("purchase days in the chain")
    ax.set_ylabel("chains")
    ax.set_title("Chain length distribution")
    return fig


def top_breakers(conn: duckdb.DuckDBPyConnection, limit: int = 15) -> pd.DataFrame:
    return conn.execute(
        "select dimension, value, purchase_days, end_rate, lift, z_score from chain_breakers "
        "where is_chain_breaker order by lift desc limit ?",
        [limit],
    ).df()


def breakers_chart(breakers: pd.DataFrame):
    fig, ax = new_figure()
    if breakers.empty:
        ax.text(0.5, 0.5, "no significant chain breakers", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = breakers["dimension"] + ": " + breakers["value"].astype(str)
    ax.barh(labels[::-1], breakers["lift"][::-1], color="#c44e52")
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_xlabel("lift of the chain-ending rate over the base rate")
    ax.set_title("Top chain breakers")
    return fig
