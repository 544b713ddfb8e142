"""Load a retailer's raw files into typed, canonical DuckDB tables with every input row accounted for.

Each input row ends in exactly one place: the canonical table, or `<table>_quarantine` with its raw
values and the reason. Files are tracked in `load_audit`, so a re-run skips unchanged files, loads
new ones and replaces the rows of changed ones. DuckDB does the reading and typing; Python only
decides which files to load.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from common.sources import SourcePlan, SourceSpec, literal, reader
from common.warehouse import define_table, quote, run_sql, table_exists

SQL = Path(__file__).parent / "sql"


@dataclass
class FileLoad:
    source_file: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


@dataclass
class SourceLoad:
    """What one sync of a source did, for the asset's metadata."""

    table: str
    loaded: list[FileLoad] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full_reload: bool = False


# --- loading -------------------------------------------------------------------------------------


def sync_source(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, run_started_at: datetime) -> SourceLoad:
    """Bring one canonical table in line with its files: load new and changed files, drop removed ones."""
    spec = plan.spec
    report = SourceLoad(spec.table)
    run_sql(conn, SQL / "macros.sql")
    run_sql(conn, SQL / "load_audit.sql")
    run_sql(conn, SQL / "quarantine.sql", quarantine_table=quote(spec.quarantine_table))
    audit = {
        row[0]: row[1:]
        for row in conn.execute(
            "select source_file, size_bytes, modified_at, content_hash, config_fingerprint "
            "from load_audit where source = ?",
            [spec.source],
        ).fetchall()
    }
    if any(entry[3] != plan.fingerprint for entry in audit.values()):
        forget_source(conn, spec)
        audit, report.full_reload = {}, True
    # Created outside the load's transaction: DuckDB 2.0 loses filtered reads of a table that was
    # created and filled in one transaction.
    if not table_exists(conn, spec.table):
        create_empty_table(conn, plan, run_started_at)
    conn.begin()
    try:
        current = {str(path): path for path in plan.files}
        for stale in sorted(audit.keys() - current.keys()):
            forget_file(conn, spec, stale)
            report.removed.append(stale)
        for name, path in current.items():
            stat = path.stat()
            modified_at = datetime.fromtimestamp(stat.st_mtime)
            known = audit.get(name)
            if known and (known[0], known[1]) == (stat.st_size, modified_at):
                report.unchanged.append(name)
                continue
            if known and known[2] == file_hash(path):
                conn.execute(
                    "update load_audit set modified_at = ? where source = ? and source_file = ?",
                    [modified_at, spec.source, name],
                )
                report.unchanged.append(name)
                continue
            forget_file(conn, spec, name)
            with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps DuckDB's read
                hashing = hasher.submit(file_hash, path)
                loaded = load_file(conn, plan, path, run_started_at)
                content_hash = hashing.result()
            conn.execute(
                "insert into load_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    spec.source, name, stat.st_size, modified_at, content_hash, plan.fingerprint,
                    loaded.rows_read, loaded.rows_loaded, loaded.rows_quarantined, run_started_at,
                ],
            )
            report.loaded.append(loaded)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return report


def load_file(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, path: Path, run_started_at: datetime) -> FileLoad:
    """Stage one file, then split its rows between the table and the quarantine."""
    spec, name = plan.spec, str(path)
    rejects: list[tuple] = []
    if path.stat().st_size == 0:
        conn.execute(f"create or replace temp view raw_rows as {empty_raw_rows(plan)}")
    else:
        # Read once into a temp table: its rowid is the row's position in the file, for free.
        conn.execute(f"create or replace temp table raw_file as select * from {reader(path, plan.config, True)}")
        conn.execute(f"create or replace temp view raw_rows as {raw_rows(plan)}")
        if not path.name.lower().endswith(".parquet"):
            rejects = conn.execute(
                "select line, error_type, error_message, csv_line from ingest_rejects order by line"
            ).fetchall()
            conn.execute("drop table if exists ingest_rejects; drop table if exists ingest_reject_scans")
    stage_rows(conn, plan, run_started_at)
    (loaded,) = conn.execute(
        f"insert into {quote(spec.table)} by name "
        f"select {canonical_columns(plan)}, ? as source_file from staged where quarantine_reason is null",
        [name],
    ).fetchall()[0]
    (quarantined,) = conn.execute(
        f"insert into {quote(spec.quarantine_table)} by name "
        "select ? as source_file, staged.source_row, quarantine_reason as reason, "
        "to_json(raw_rows.raw)::varchar as raw_record, ? as quarantined_at "
        "from staged join raw_rows using (source_row) where quarantine_reason is not null",
        [name, run_started_at],
    ).fetchall()[0]
    if rejects:
        conn.executemany(
            f"insert into {quote(spec.quarantine_table)} "
            "(source_file, source_line, reason, raw_line, quarantined_at) values (?, ?, ?, ?, ?)",
            [
                [name, line, f"unreadable line ({error_type.lower()}): {message}", raw_line, run_started_at]
                for line, error_type, message, raw_line in rejects
            ],
        )
    quarantined += len(rejects)
    rows_read = conn.execute("select count(*) from staged").fetchall()[0][0] + len(rejects)
    conn.execute("drop table staged; drop view raw_rows; drop table if exists raw_file")
    if loaded + quarantined != rows_read:
        raise RuntimeError(
            f"{name}: read {rows_read} rows but {loaded} loaded + {quarantined} quarantined; nothing was committed"
        )
    return FileLoad(name, rows_read, loaded, quarantined)


def stage_rows(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, run_started_at: datetime):
    """Type the rows of `raw_rows` and give each its quarantine reason, into the temp table `staged`."""
    spec, config = plan.spec, plan.config
    run_sql(conn, f"create or replace temp table exact_duplicates as\n{(SQL / 'exact_duplicates.sql').read_text()}")
    if spec.key:
        existing = (
            f"select {quote(spec.key)} as key from {quote(spec.table)}"
            if table_exists(conn, spec.table)
            else "select null::varchar as key where false"
        )
        conn.execute(f"create or replace temp view existing_keys as {existing}")
    params = {
        "timestamp_format": config.timestamp_format if config else None,
        "run_started_at": run_started_at,
        "return_order_prefix": getattr(config, "return_order_prefix", None),
        "non_product_ids": list(getattr(config, "non_product_ids", None) or []) or [""],
        "keep_exact_duplicates": bool(config and config.keep_exact_duplicates),
        "keep_zero_amounts": bool(getattr(config, "keep_zero_amounts", False)),
    }
    select = (SQL / f"stage_{spec.source}.sql").read_text()
    run_sql(conn, f"create or replace temp table staged as\n{select}", params)
    conn.execute("drop table exact_duplicates")


def raw_rows(plan: SourcePlan) -> str:
    """Rename the file's columns to canonical names; every value stays text for the staging SQL."""
    fields = ", ".join(
        f"{literal(canonical)}: "
        + (f"cast({quote(plan.columns[canonical])} as varchar)" if canonical in plan.columns else "null::varchar")
        for canonical in plan.spec.canonical
    )
    passthrough = {out: f"cast({quote(col)} as varchar)" for out, col in plan.passthrough.items()}
    fields += "".join(f", {literal('extra_' + out)}: {value}" for out, value in passthrough.items())
    attributes = ""
    if plan.spec.passthrough:
        packed = ", ".join(f"{literal(out)}: to_text({value})" for out, value in passthrough.items())
        attributes = f", {{{packed}}} as attributes" if packed else ", null::varchar as attributes"
    # rowids of a table created inside a transaction start at a large offset: count from the first.
    position = "rowid - (select min(rowid) from raw_file) + 1"
    return f"select {position} as source_row, {{{fields}}} as raw{attributes} from raw_file"


def empty_raw_rows(plan: SourcePlan) -> str:
    fields = ", ".join(f"{literal(canonical)}: null::varchar" for canonical in plan.spec.canonical)
    attributes = ""
    if plan.spec.passthrough:
        packed = ", ".join(f"{literal(out)}: null::varchar" for out in plan.passthrough)
        attributes = f", {{{packed}}} as attributes" if packed else ", null::varchar as attributes"
    return f"select 0::bigint as source_row, {{{fields}}} as raw{attributes} where false"


def canonical_columns(plan: SourcePlan) -> str:
    """The staged columns that go into the canonical table; pass-through columns become columns of their own."""
    if not plan.spec.passthrough:
        return "* exclude (source_row, quarantine_reason), source_row"
    unpacked = ", unnest(attributes)" if plan.passthrough else ""
    return "* exclude (source_row, quarantine_reason, attributes)" + unpacked + ", source_row"


def create_empty_table(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, run_started_at: datetime) -> None:
    """Create the canonical table with its typed columns, so an absent source still yields a table."""
    conn.execute(f"create or replace temp view raw_rows as {empty_raw_rows(plan)}")
    stage_rows(conn, plan, run_started_at)
    define_table(conn, plan.spec.table, f"select {canonical_columns(plan)}, ''::varchar as source_file from staged")
    conn.execute("drop table staged; drop view raw_rows")


def forget_file(conn: duckdb.DuckDBPyConnection, spec: SourceSpec, source_file: str) -> None:
    for table in (spec.table, spec.quarantine_table):
        if table_exists(conn, table):
            conn.execute(f"delete from {quote(table)} where source_file = ?", [source_file])
    conn.execute("delete from load_audit where source = ? and source_file = ?", [spec.source, source_file])


def forget_source(conn: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """Drop everything loaded from a source, for a full reload after its config changed."""
    conn.execute(f"drop table if exists {quote(spec.table)}")
    conn.execute(f"delete from {quote(spec.quarantine_table)}")
    conn.execute("delete from load_audit where source = ?", [spec.source])


def file_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "blake2b").hexdigest()[:32]
