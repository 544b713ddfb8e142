"""Publish the warehouse for analysts: one Parquet file per table and a DuckDB snapshot.

Each file is written beside its target and renamed over it, so an analyst who holds the previous
snapshot open keeps reading it undisturbed and nobody ever sees a half-written file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from common.contracts import document_warehouse, parquet_metadata
from common.warehouse import quote, table_names

SNAPSHOT = "lifecycle.duckdb"


def publish_exports(conn: duckdb.DuckDBPyConnection, exports_dir: Path) -> dict[str, Path]:
    """Write every warehouse table to `<exports>/<table>.parquet` and `<exports>/lifecycle.duckdb`."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    document_warehouse(conn)  # table and column comments, carried by the byte-copied snapshot
    published = {}
    for table in table_names(conn):
        target = exports_dir / f"{table}.parquet"
        partial = exports_dir / f".{table}.parquet.partial"
        # the contract's descriptions go into the file's key-value metadata
        conn.execute(f"copy {quote(table)} to '{partial}' (format parquet, compression zstd{parquet_metadata(conn, table)})")
        os.replace(partial, target)
        published[table] = target
    published["snapshot"] = write_snapshot(conn, exports_dir / SNAPSHOT)
    return published


def write_snapshot(conn: duckdb.DuckDBPyConnection, target: Path) -> Path:
    """A copy of the warehouse as one DuckDB file. A file-backed warehouse is checkpointed (the
    write-ahead log folded into the file) and copied byte for byte: with the one writer publishing,
    nothing changes it meanwhile, and a copy takes seconds where re-encoding every table took a
    minute at 10M purchase lines. An in-memory warehouse is copied table by table."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source, path = conn.execute(
        "select database_name, path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    if path:
        conn.execute("checkpoint")
        shutil.copyfile(path, partial)
    else:
        conn.execute(f"attach '{partial}' as snapshot")
        try:
            conn.execute(f"copy from database {quote(source)} to snapshot")
        finally:
            conn.execute("detach snapshot")
    os.replace(partial, target)
    return target
