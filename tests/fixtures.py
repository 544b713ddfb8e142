"""One way for tests to build a small warehouse: hand-made purchase lines, then whichever tables the
real SQL builds from them, each after the tables its SQL reads."""

from __future__ import annotations

from datetime import date

import duckdb

from assets.actions.building import build_action_table, build_customer_profile
from assets.chains.building import build_chain_table
from assets.lifecycle.building import build_lifecycle_table
from common.config import ActionsSettings, ChainSettings, LifecycleSettings
from common.contracts import contract, in_build_order
from common.warehouse import create_table

LINE_DEFAULTS = {
    "product_id": "P", "store_id": None, "category": None, "channel": "store", "quantity": 1.0, "amount": 10.0,
    "discount": 0.0, "is_return": False, "is_discounted": False,
}


def purchase_log(lines: list[dict], as_of: date) -> duckdb.DuckDBPyConnection:
    """A warehouse holding `purchase_lines` (each line a dict with at least customer_id and day; the
    rest defaults to one 10.00 unit of product P bought in store, unit price = amount) and
    `analysis_scope` on as_of."""
    conn = duckdb.connect()
    columns = contract("purchase_lines").columns
    conn.execute(f"create table purchase_lines ({', '.join(f'{c.name} {c.type}' for c in columns)})")
    rows = []
    for number, line in enumerate(lines):
        values = {"order_id": f"O{number}", **LINE_DEFAULTS, **line}
        values.setdefault("unit_price", values["amount"])
        values.setdefault("order_date", values["day"])
        values.setdefault("order_ts", values["day"])
        rows.append([values[column.name] for column in columns])
    if rows:
        conn.executemany(f"insert into purchase_lines values ({', '.join('?' for _ in columns)})", rows)
    conn.execute(
        "create table analysis_scope as select ?::date as as_of, (select min(order_date) from purchase_lines) as first_order_date",
        [as_of],
    )
    return conn


def build(
    conn: duckdb.DuckDBPyConnection,
    *tables: str,
    chains: ChainSettings = ChainSettings(),
    lifecycle: LifecycleSettings = LifecycleSettings(),
    actions: ActionsSettings = ActionsSettings(),
) -> None:
    """Build the tables with the real SQL of their stage, each after the ones its SQL reads."""
    for table in in_build_order(list(tables)):
        stage = contract(table).stage
        if table == "customer_profile":
            build_customer_profile(conn)
        elif stage == "actions":
            build_action_table(conn, table, actions)
        elif stage == "lifecycle":
            build_lifecycle_table(conn, table, lifecycle)
        elif stage == "chains":
            build_chain_table(conn, table, chains)
        else:
            create_table(conn, table, contract(table).sql_files[0])

