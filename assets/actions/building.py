"""Customer actions: categories per customer, cross-sell offers, repurchase windows, the next best
action and the single customer profile: set-based DuckDB SQL, one file per table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from common.charts import BLUE, new_figure, no_data_figure, title
from common.config import ActionsSettings
from common.labels import label, money, text
from common.warehouse import (
    Parts, create_table, create_table_in_parts, query_columns, quote, select_part, table_columns,
)

SQL = Path(__file__).parent / "sql"


def build_action_table(conn: duckdb.DuckDBPyConnection, table: str, settings: ActionsSettings) -> int:
    return create_table(conn, table, SQL / f"{table}.sql", settings.model_dump())


PROFILE_SOURCES = {
    "customers": "registration attributes",
    "events": "digital behaviour",
    "service_scores": "service scores",
    "survey_segments": "survey segment",
    "customer_categories": "categories and cross-sell",
}

# Customers per statement of the profile: at 10M lines (4.05M customers, five parts) nothing spilled
# under the 1 GB limit and the step took about a quarter less CPU than one statement, which spilled
# 2.8 GB; the parts keep each statement's hash tables the same size however many customers there are.
PROFILE_PART_CUSTOMERS = 1_000_000


def build_customer_profile(conn: duckdb.DuckDBPyConnection) -> int:
    """The profile carries every attribute column the retailer's customers file has, under its own
    name (prefixed with `customer_` where it would clash with a profile column), through the temp
    view `customer_attributes` the profile SQL selects them from. Built in parts of about
    PROFILE_PART_CUSTOMERS customers each."""
    reserved = {"customer_id", "registered_at", "source_row", "source_file"}
    define_customer_attributes(conn, {})
    select_part(conn)  # the whole profile, for its column names
    profile_sql = (SQL / "customer_profile.sql").read_text()
    profile_columns = set(query_columns(conn, profile_sql))
    attributes = [name for name in table_columns(conn, "customers") if name not in reserved]
    define_customer_attributes(
        conn, {name: "customer_" + name if name in profile_columns else name for name in attributes}
    )
    parts = Parts("customer_lifecycle", "customer_id", PROFILE_PART_CUSTOMERS)
    return create_table_in_parts(conn, "customer_profile", SQL / "customer_profile.sql", parts)


def define_customer_attributes(conn: duckdb.DuckDBPyConnection, names: dict[str, str]) -> None:
    """The temp view `customer_attributes`: customer_id and each customers-file column under its profile name."""
    renamed = "".join(f", {quote(column)} as {quote(name)}" for column, name in names.items())
    conn.execute(f"create or replace temp view customer_attributes as select customer_id{renamed} from main.customers")


def missing_sources(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """What the profile could not fill, because the table behind it is empty."""
    return [
        f"{table} ({what})"
        for table, what in PROFILE_SOURCES.items()
        if conn.execute(f"select count(*) = 0 from {quote(table)}").fetchone()[0]
    ]


def action_chart(actions: pd.DataFrame, as_of, currency: str):
    """Customers per action, each bar carrying its expected value, from the per-action counts the
    asset already queried."""
    if actions.empty:
        return no_data_figure(text("chart.actions"), text("actions.no_data"), as_of)
    counts = actions.sort_values("customers")
    fig, ax = new_figure(9, 1.2 + 0.36 * len(counts))
    bars = ax.barh([label(action) for action in counts["action"]], counts["customers"], color=BLUE)
    ax.bar_label(
        bars, fontsize=8, padding=3,
        labels=[f"{customers:,} · {money(value, currency)}" for customers, value in zip(counts["customers"], counts["expected_value"])],
    )
    ax.set_xlim(0, counts["customers"].max() * 1.3)
    ax.grid(axis="x")
    ax.set_xlabel(text("chart.actions.x"))
    title(ax, text("chart.actions"), as_of, currency)
    return fig
