"""Load a retailer's raw files into typed, canonical DuckDB tables with every input row accounted for.

Each input row ends in exactly one place: the canonical table, or `<table>_quarantine` with its raw
values and the reason. Files are tracked in `load_audit` by content hash, so a re-run skips unchanged
files, loads new ones, replaces the rows of changed ones, and accounts a file that repeats one
already loaded as duplicates of it. DuckDB does the reading (reading.py) and typing (sql/stage_*.sql);
Python decides which files to load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from assets.ingest.reading import UnreadableLine, empty_raw_rows, read_file
from common.sources import SURPLUS_COLUMN, SourcePlan, SourceSpec
from common.warehouse import define_table, quote, run_sql, table_exists

SQL = Path(__file__).parent / "sql"


# A row of a tolerant read with values beyond the header's columns (kept in SURPLUS_COLUMN).
SURPLUS_REASON = "unreadable line (too many columns): more values than the header has"


@dataclass
class FileLoad:
    source_file: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicate_of: str | None = None
    read_mode: str = "sniffed"  # which of READ_MODES read the file


@dataclass
class SourceLoad:
    """What one sync of a source did, for the asset's metadata."""

    table: str
    loaded: list[FileLoad] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full_reload: bool = False


@dataclass(frozen=True)
class Audited:
    content_hash: str
    fingerprint: str
    duplicate_of: str | None


# --- loading -------------------------------------------------------------------------------------


def sync_source(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, run_started_at: datetime) -> SourceLoad:
    """Bring one canonical table in line with its files: load new and changed files, drop removed
    ones. Each file is loaded in a transaction of its own, so a file that cannot be read leaves the
    files before it loaded and its own earlier rows in place."""
    spec = plan.spec
    report = SourceLoad(spec.table)
    run_sql(conn, SQL / "macros.sql")
    run_sql(conn, SQL / "load_audit.sql")
    run_sql(conn, f"create table if not exists {quote(spec.quarantine_table)} as\n{(SQL / 'quarantine.sql').read_text()}")
    audit = {
        name: Audited(*entry)
        for name, *entry in conn.execute(
            "select source_file, content_hash, config_fingerprint, duplicate_of from load_audit where source = ?",
            [spec.source],
        ).fetchall()
    }
    if any(entry.fingerprint != plan.fingerprint for entry in audit.values()):
        forget_source(conn, spec)
        audit, report.full_reload = {}, True
    # Created outside a load's transaction: DuckDB 2.0 loses filtered reads of a table that was
    # created and filled in one transaction.
    if not table_exists(conn, spec.table):
        create_empty_table(conn, plan, run_started_at)
    repeating_files = REPEATING_FILES.format(quarantine=quote(spec.quarantine_table))
    current, hashes, changed, removed = file_changes(
        plan, audit, lambda reasons: {name for (name,) in run_sql(conn, repeating_files, {"reasons": reasons})}
    )
    for stale in removed:
        with transaction(conn):
            forget_file(conn, spec, stale)
        report.removed.append(stale)
    # Files audited with content they no longer have, until reloaded: their rows are no earlier copy.
    conn.execute(
        "create or replace temp table outdated_files as select unnest(?::varchar[]) as source_file", [sorted(changed)]
    )
    with session_time_zone(conn, plan.timezone):
        for name, path in current.items():
            if name in audit and name not in changed:
                report.unchanged.append(name)
                continue
            report.loaded.append(load_file(conn, plan, path, run_started_at, hashes.get(name)))
            conn.execute("delete from outdated_files where source_file = ?", [name])
    conn.execute("drop table outdated_files")
    return report


def file_changes(
    plan: SourcePlan, audit: dict[str, Audited], repeating: Callable[[list[str]], set[str]]
) -> tuple[dict[str, Path], dict[str, str], set[str], list[str]]:
    """Which files a sync must load or drop, for either engine: the plan's files by name, the content
    hashes of the files already audited, the audited files to load again and the audited files gone.
    `repeating(reasons)` runs REPEATING_FILES on the engine's quarantine."""
    current = {str(path): path for path in plan.files}
    # A known file is unchanged when its content is: its size and modification time can stay the
    # same while its bytes change (a copy that keeps the old time).
    hashes = {name: file_hash(path) for name, path in current.items() if name in audit}
    changed = {name for name, digest in hashes.items() if digest != audit[name].content_hash}
    removed = sorted(audit.keys() - current.keys())
    changed |= dependent_files(audit, changed.union(removed), repeating)
    return current, hashes, changed, removed


# The files with rows quarantined as repeating a row of one of the given files, or with keys
# quarantined as loaded from another file. DuckDB SQL, translated for Spark.
REPEATING_FILES = (
    "select distinct source_file from main.{quarantine} "
    "where list_contains($reasons, reason) or reason like '% (loaded from another file)'"
)


def dependent_files(audit: dict[str, Audited], gone: set[str], repeating: Callable[[list[str]], set[str]]) -> set[str]:
    """The files to load again because a file they were compared with changed or went: a copy of
    it, a file with rows quarantined as repeating its rows, and a file with keys quarantined as
    loaded from another file; and so on, for the files those reloads may change in turn."""
    dependents: set[str] = set()
    while gone:
        found = {name for name, entry in audit.items() if entry.duplicate_of in gone}
        found |= repeating([f"exact duplicate of a row loaded from {file}" for file in sorted(gone)])
        gone = found - dependents
        dependents |= found
    return dependents & audit.keys()


def load_file(
    conn: duckdb.DuckDBPyConnection, plan: SourcePlan, path: Path, run_started_at: datetime, content_hash: str | None
) -> FileLoad:
    """Read one file, then, in one transaction, replace its earlier rows by its rows split between
    the table and the quarantine, and record it in load_audit. A file with the content of one
    already loaded is quarantined as a duplicate of it."""
    spec, name = plan.spec, str(path)
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps DuckDB's read
        hashing = hasher.submit(file_hash, path) if content_hash is None else None
        # Outside the transaction: a read that fails aborts it, and the next way of reading needs one.
        read_mode, unreadable = read_file(conn, plan, path)
        content_hash = hashing.result() if hashing else content_hash
    stat = path.stat()
    try:
        with transaction(conn):
            forget_file(conn, spec, name)
            rows = conn.execute("select count(*) from raw_rows").fetchall()[0][0] + len(unreadable)
            duplicate_of = earlier_delivery(conn, spec, content_hash) if rows else None
            if duplicate_of:
                loaded = 0
                reason = f"duplicate delivery: same content as {duplicate_of}"
                quarantined = quarantine_rows(
                    conn, spec, name, "select source_row, ? as reason from raw_rows", [reason], run_started_at
                )
                unreadable = [UnreadableLine(line.line, reason, line.raw_line) for line in unreadable]
            else:
                loaded, quarantined = load_rows(conn, plan, name, run_started_at, read_mode)
            quarantined += quarantine_unreadable_lines(conn, spec, name, unreadable, run_started_at)
            if loaded + quarantined != rows:
                raise RuntimeError(
                    f"{name}: read {rows} rows but {loaded} loaded + {quarantined} quarantined; nothing was committed"
                )
            conn.execute(
                "insert into load_audit by name select ? as source, ? as source_file, ? as size_bytes, "
                "? as modified_at, ? as content_hash, ? as config_fingerprint, ? as rows_read, ? as rows_loaded, "
                "? as rows_quarantined, ? as loaded_at, ? as duplicate_of",
                [
                    spec.source, name, stat.st_size, datetime.fromtimestamp(stat.st_mtime), content_hash,
                    plan.fingerprint, rows, loaded, quarantined, run_started_at, duplicate_of,
                ],
            )
    finally:
        conn.execute("drop view if exists raw_rows; drop table if exists raw_file; drop table if exists staged")
    return FileLoad(name, rows, loaded, quarantined, duplicate_of, read_mode)


def load_rows(
    conn: duckdb.DuckDBPyConnection, plan: SourcePlan, name: str, run_started_at: datetime, read_mode: str
) -> tuple[int, int]:
    """Type the rows of `raw_rows`, then insert them into the table or the quarantine."""
    spec, config = plan.spec, plan.config
    stage_rows(conn, plan, run_started_at)
    if read_mode == "tolerant":
        conn.execute(
            "update staged set quarantine_reason = ? "
            "where source_row in (select source_row from raw_rows where struct_extract(raw, ?) is not null)",
            [SURPLUS_REASON, SURPLUS_COLUMN],
        )
    if not config.keep_exact_duplicates:
        mark_copies_of_loaded_rows(conn, plan)
    (loaded,) = conn.execute(
        f"insert into {quote(spec.table)} by name "
        f"select {canonical_columns(plan)}, ? as source_file from staged where quarantine_reason is null",
        [name],
    ).fetchall()[0]
    quarantined = quarantine_rows(
        conn, spec, name,
        "select source_row, quarantine_reason as reason from staged where quarantine_reason is not null", [],
        run_started_at,
    )
    return loaded, quarantined


def quarantine_rows(
    conn: duckdb.DuckDBPyConnection, spec: SourceSpec, name: str, reasons: str, params: list, run_started_at: datetime
) -> int:
    """Quarantine the rows of `raw_rows` that `reasons` (source_row, reason) names, with their raw values."""
    (quarantined,) = conn.execute(
        f"insert into {quote(spec.quarantine_table)} by name "
        "select ? as source_file, source_row, reason, to_json(raw_rows.raw)::varchar as raw_record, ? as quarantined_at "
        f"from ({reasons}) as reasons join raw_rows using (source_row)",
        [name, run_started_at, *params],
    ).fetchall()[0]
    return quarantined


def earlier_delivery(conn: duckdb.DuckDBPyConnection, spec: SourceSpec, content_hash: str) -> str | None:
    """The loaded file of the source with the same content, if any: the same delivery again."""
    return conn.execute(
        "select min(source_file) from load_audit where source = ? and content_hash = ? and duplicate_of is null "
        "and rows_read > 0 and source_file not in (select source_file from outdated_files)",
        [spec.source, content_hash],
    ).fetchall()[0][0]


def mark_copies_of_loaded_rows(conn: duckdb.DuckDBPyConnection, plan: SourcePlan) -> None:
    """Quarantine staged rows that repeat a row another file already loaded, naming that file."""
    spec = plan.spec
    if not conn.execute(f"select exists (from {quote(spec.table)})").fetchall()[0][0]:
        return  # the first file of the source: nothing to repeat (the usual case of a large first load)
    conn.execute(
        f"create or replace temp view incoming_rows as "
        f"select {canonical_columns(plan)} from staged where quarantine_reason is null"
    )
    conn.execute(
        f"create or replace temp view loaded_rows as select * from {quote(spec.table)} "
        "where source_file not in (select source_file from outdated_files)"
    )
    conn.execute(
        "update staged set quarantine_reason = 'exact duplicate of a row loaded from ' || copies.earlier_file "
        f"from ({(SQL / 'copies_of_loaded_rows.sql').read_text()}) as copies "
        "where staged.source_row = copies.source_row"
    )
    conn.execute("drop view incoming_rows; drop view loaded_rows")


def stage_rows(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, run_started_at: datetime):
    """Type the rows of `raw_rows` and give each its quarantine reason, into the temp table `staged`."""
    spec = plan.spec
    run_sql(conn, f"create or replace temp table exact_duplicates as\n{(SQL / 'exact_duplicates.sql').read_text()}")
    if spec.key:
        existing = (
            f"select {quote(spec.key)} as key from {quote(spec.table)} "
            "where source_file not in (select source_file from outdated_files)"
            if table_exists(conn, spec.table)
            else "select null::varchar as key where false"
        )
        conn.execute(f"create or replace temp table existing_keys as {existing}")
    params = stage_params(plan)
    # the run's clock on the wall of the configured zone, which stored timestamps are in
    params["run_started_at"] = run_started_at.astimezone(ZoneInfo(plan.timezone)).replace(tzinfo=None)
    select = (SQL / f"stage_{spec.source}.sql").read_text()
    run_sql(conn, f"create or replace temp table staged as\n{select}", params)
    conn.execute("drop table exact_duplicates")


def stage_params(plan: SourcePlan) -> dict:
    """The staging SQL's parameters from the source's config, for either engine (each adds the run's time)."""
    config = plan.config
    return {
        "timestamp_format": config.timestamp_format if config else None,
        "return_order_prefix": getattr(config, "return_order_prefix", None),
        "non_product_ids": list(getattr(config, "non_product_ids", None) or []) or [""],
        "keep_exact_duplicates": bool(config and config.keep_exact_duplicates),
        "keep_zero_amounts": bool(getattr(config, "keep_zero_amounts", False)),
    }


def quarantine_unreadable_lines(
    conn: duckdb.DuckDBPyConnection, spec: SourceSpec, name: str, lines: list[UnreadableLine], run_started_at: datetime
) -> int:
    if not lines:
        return 0
    conn.executemany(
        f"insert into {quote(spec.quarantine_table)} "
        "(source_file, source_line, reason, raw_line, quarantined_at) values (?, ?, ?, ?, ?)",
        [[name, line.line, line.reason, line.raw_line, run_started_at] for line in lines],
    )
    return len(lines)


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
    with transaction(conn):
        conn.execute(f"drop table if exists {quote(spec.table)}")
        conn.execute(f"delete from {quote(spec.quarantine_table)}")
        conn.execute("delete from load_audit where source = ?", [spec.source])


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection):
    conn.begin()
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@contextmanager
def session_time_zone(conn: duckdb.DuckDBPyConnection, timezone: str):
    """Timestamps are typed in the configured zone (see to_local_timestamp in macros.sql); the
    connection's own zone is restored afterwards."""
    (previous,) = conn.execute("select current_setting('TimeZone')").fetchall()[0]
    conn.execute("set TimeZone = $zone", {"zone": timezone})
    try:
        yield
    finally:
        conn.execute("set TimeZone = $zone", {"zone": previous})


def file_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:32]
