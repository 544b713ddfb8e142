"""run_history: one row per run with the night's headline figures, kept across runs in the warehouse.

Every other table is rebuilt each night; this one is appended to, so the report can say what
changed since the previous night and since a month ago.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from common.warehouse import replace_rows, run_sql, table_exists

SQL = Path(__file__).parent / "sql"
MONTH = timedelta(days=30)


def record_run(conn: duckdb.DuckDBPyConnection, run_id: str, started_at: datetime, finished_at: datetime) -> dict:
    """Append (or, for a re-executed run, replace) this run's row of run_history and return it."""
    source = "clv_model_selection" if table_exists(conn, "clv_model_selection") else "backtest"
    model_sql = SQL / ("production_model_from_selection.sql" if source == "clv_model_selection" else "production_model_from_backtest.sql")
    conn.execute(f"create or replace temp view production_model_score as {model_sql.read_text()}")
    params = {"run_id": run_id, "started_at": started_at, "finished_at": finished_at}
    run_sql(conn, f"create or replace temp table run_history_row as {(SQL / 'run_history.sql').read_text()}", params)
    replace_rows(conn, "run_history", "run_history_row", "run_id")
    row = conn.execute("select * from run_history_row").df().iloc[0].to_dict()
    conn.execute("drop table run_history_row; drop view production_model_score")
    return row | {"model_source": source}


def read_history(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every recorded run, oldest first."""
    if not table_exists(conn, "run_history"):
        return pd.DataFrame()
    return conn.execute("select * from run_history order by as_of, finished_at").df()


def latest_run_id(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The run that last recorded a night: the warehouse holds its tables."""
    if not table_exists(conn, "run_history"):
        return None
    latest = conn.execute("select run_id from run_history order by finished_at desc limit 1").fetchone()
    return latest[0] if latest else None


def is_published(night: Path | None, run_id: str) -> bool:
    """Whether a published night holds the run's record, i.e. was published from the warehouse the
    report is about: the report joins that night and must not be added to an older one. The file
    (one row per run) is read where the night is, whichever engine wrote it."""
    history = night / "run_history.parquet" if night else None
    if history is None or not history.exists():
        return False
    return run_id in pq.read_table(history, columns=["run_id"]).column("run_id").to_pylist()


def comparison_rows(history: pd.DataFrame, run_id: str) -> tuple[dict, dict | None, dict | None]:
    """This run's row, the previous night's (the latest run with an earlier as_of) and the one from
    a month before (the latest run at least 30 days before as_of); None where there is no such run."""
    current = history[history["run_id"] == run_id].iloc[-1].to_dict()
    as_of = as_date(current["as_of"])
    dates = history["as_of"].map(as_date)
    earlier = history[dates < as_of]
    month_earlier = history[dates <= as_of - MONTH]
    previous = earlier.iloc[-1].to_dict() if not earlier.empty else None
    month_ago = month_earlier.iloc[-1].to_dict() if not month_earlier.empty else None
    return current, previous, month_ago


def as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else pd.Timestamp(value).date()
