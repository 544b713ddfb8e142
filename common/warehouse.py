"""Running the project's SQL files against the warehouse.

SQL lives in `.sql` files beside the stage that owns it; this module is the one small helper that
runs them, so every stage materializes tables the same way. The connection is DuckDB's, or on the
Spark engine a `common.spark.SparkConnection`; the table helpers hand their work to its `Engine`
(`engine(conn)`, the one place that tells the two apart).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def read_sql(path: Path, **identifiers: str) -> str:
    """The SQL text of a file. `{name}` placeholders filled by quoted identifiers remain only for
    ingestion's quarantine.sql, the survey's survey_answers.sql (the factor columns it unpivots) and the
    report's action_list.sql; everything else binds `$parameters`."""
    text = Path(path).read_text()
    return text.format(**identifiers) if identifiers else text


def run_sql(conn: duckdb.DuckDBPyConnection, sql: str | Path, params: dict | None = None, **identifiers: str):
    """Execute SQL text or a `.sql` file, passing only the `$parameters` it uses."""
    text = read_sql(sql, **identifiers) if isinstance(sql, Path) else sql
    used = set(_PARAMETER.findall(text))
    wanted = {name: value for name, value in (params or {}).items() if name in used}
    missing = used - wanted.keys()
    if missing:
        raise ValueError(f"SQL {sql if isinstance(sql, Path) else '(inline)'} needs parameters {sorted(missing)}")
    # Drained here: DuckDB 2.0 refuses further work on a connection with an unfinished result.
    return (conn.execute(text, wanted) if wanted else conn.execute(text)).fetchall()


# --- what a stage calls: its SQL files made into tables and views, on either engine ---------------


def create_table(
    conn: duckdb.DuckDBPyConnection, table: str, sql_file: Path, params: dict | None = None, unordered: bool = False,
    identifiers: dict[str, str] | None = None,
) -> int:
    """Materialize the SELECT in `sql_file` as `table` (replacing it) and return its row count.
    In one transaction: readers see the old table or the new one, and a failure keeps the old one.
    `unordered`: the SELECT's row order means nothing (a GROUP BY's is arbitrary anyway), so DuckDB
    may store rows as its threads produce them instead of keeping their order (about a tenth less
    work writing a per-customer table of millions of rows). `identifiers`: the file's `{name}`
    placeholders, filled with quoted identifiers (see read_sql)."""
    return engine(conn).create_table(table, read_select(sql_file, **(identifiers or {})), params, unordered=unordered)


@dataclass(frozen=True)
class Parts:
    """A table built in parts: ranges of `key`, each holding about `rows` rows of `table` (the
    table that has every key of the SELECT's sources, e.g. customer_lifecycle by customer_id)."""

    table: str
    key: str
    rows: int


def create_table_in_parts(conn: duckdb.DuckDBPyConnection, table: str, sql_file: Path, parts: Parts) -> int:
    """`create_table` of a SELECT that gives only the rows `in_table_part(key)` of each source, one
    statement per range of keys (see part_boundaries), in one transaction: each statement's joins
    hold only their part of the rows in memory (a many-way join of millions of rows otherwise
    spills every hash table under the DuckDB limit). Spark builds the table in one statement of
    every key: its joins are partitioned already."""
    return engine(conn).create_table(table, read_select(sql_file), parts=parts)


# The filter of a SELECT built in parts, stated once per source as `in_table_part(key)`: the rows
# whose key is in the part's range [part_from, part_to), the last part open-ended (a null key is in
# none: the table that sets the parts' keys has none). A comparison with constants, so DuckDB
# filters within the scan: a hash of the key per row and part cost four times as much, a cost that
# grew with the square of the customers (every part scans every source). A macro, so the Spark
# engine expands it where it is used (common/dialects.py).
IN_TABLE_PART = (
    "create or replace temp macro in_table_part(row_key) as "
    "row_key >= getvariable('part_from') and (getvariable('part_is_last') or row_key < getvariable('part_to'))"
)


def select_part(conn: duckdb.DuckDBPyConnection, part_from: str = "", part_to: str | None = None) -> None:
    """Which keys a SELECT built in parts gives next (see create_table_in_parts): from `part_from`
    up to, not including, `part_to`; by default every key. Spark cannot even plan such a SELECT
    before the variables are set: DuckDB reads a missing one as null."""
    conn.execute(IN_TABLE_PART)
    conn.execute("set variable part_from = ?", [part_from])
    conn.execute("set variable part_to = ?", [part_to or ""])
    conn.execute("set variable part_is_last = ?", [part_to is None])


def part_ranges(boundaries: list[str]) -> list[tuple[str, str | None]]:
    """The key ranges that `boundaries` (sorted) cut all keys into: [from, to), the last open."""
    return list(zip(["", *boundaries], [*boundaries, None]))


# Keys read to cut a table into parts: enough to size the parts evenly.
SAMPLE_KEYS = 100_000


def part_boundaries(conn: duckdb.DuckDBPyConnection, table: str, key: str, rows_per_part: int) -> list[str]:
    """Keys that cut `table` into parts of about `rows_per_part` rows each by `key` (none when it
    has fewer rows): the first key of each part after the first, read off a sample of about
    SAMPLE_KEYS keys. The sample only sets the parts' sizes; any boundaries give the same rows.
    Sampled in whole vectors of rows (DuckDB's system sampling), which reads only those: a
    reservoir of single rows reads every row, 0.45-0.78 s of the 50.5M rows of lifecycle_history
    at 10M purchase lines, against 0.01 s. Which vectors are read varies from run to run (the scan
    is parallel), and so do the parts' sizes, a little."""
    rows = row_count(conn, table)
    parts = -(-rows // rows_per_part)
    if parts <= 1:
        return []
    percent = min(100.0, 100.0 * SAMPLE_KEYS / rows)  # a number of ours, not text from outside
    found = conn.execute(
        f"select min(row_key) from (select row_key, ntile($parts) over (order by row_key) as part "
        f"from (select {quote(key)} as row_key from {quote(table)} where {quote(key)} is not null "
        f"using sample {percent:.6f} percent (system, 7))) group by part having part > 1 order by part",
        {"parts": parts},
    ).fetchall()
    return sorted({boundary for (boundary,) in found})


def create_temp_table(
    conn: duckdb.DuckDBPyConnection, table: str, sql_file: Path, params: dict | None = None, parts: Parts | None = None,
) -> int:
    """Materialize the SELECT in `sql_file` as a temp table: scratch work of one step, gone with its
    connection and never published. With `parts`, a SELECT of the rows `in_table_part(key)` runs
    once per range of keys, as in create_table_in_parts, and the temp table holds the rows of every
    part: for per-part results a later SELECT combines (counts to add up), where one statement over
    every key would hold all of its input in one operator."""
    return engine(conn).create_temp_table(table, read_select(sql_file), params, parts=parts)


def create_view(conn: duckdb.DuckDBPyConnection, view: str, sql_file: Path, temporary: bool = False) -> None:
    """Define the SELECT in `sql_file` as `view`: for rows cheap to derive, not worth a copy. A
    temporary view belongs to the step's connection and is never published."""
    engine(conn).create_view(view, read_select(sql_file), temporary)


def create_table_from_frame(conn: duckdb.DuckDBPyConnection, table: str, frame, temporary: bool = False) -> int:
    """Store a small DataFrame (model parameters, a backtest summary) as a warehouse table, or as a
    temp table for a step's own scratch work."""
    return engine(conn).create_table_from_frame(table, frame, temporary)


def replace_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: str, key: str) -> int:
    """Keep `table` as a log across runs: the rows of the step's temp table or view `rows` replace
    those of `table` with the same `key` value (a re-run replaces its own rows), the others stay.
    Created from `rows` the first time; a column new in `rows` is added, null in the older rows.
    Returns the table's row count."""
    return engine(conn).replace_rows(table, rows, key)


def row_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return engine(conn).row_count(table)


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return engine(conn).table_exists(table)


def table_names(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The warehouse's tables (not the temporary ones of a step)."""
    return engine(conn).table_names()


def view_names(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The warehouse's views (not the temporary ones of a step)."""
    return engine(conn).view_names()


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The column names of a table in the warehouse's main schema, in order."""
    return list(column_types(conn, table))


def column_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Each column of a table or view in the warehouse's main schema with its type, in order; on
    either engine DuckDB's name for the type (what the published Parquet file reads back as)."""
    return engine(conn).column_types(table)


def comment_on(conn: duckdb.DuckDBPyConnection, table: str, kind: str, description: str, columns: dict[str, str]) -> None:
    """A table's or view's description and its columns' (`kind`: 'table' or 'view'), as the
    engine's own comments."""
    engine(conn).comment_on(table, kind, description, columns)


def query_columns(conn: duckdb.DuckDBPyConnection, select: str) -> list[str]:
    """The column names a SELECT would give, without running it."""
    return engine(conn).query_columns(select)


def read_as_of(conn: duckdb.DuckDBPyConnection):
    """The run's analysis date, as fixed by the `analysis_scope` asset."""
    return conn.execute("select as_of from analysis_scope").fetchall()[0][0]


def read_select(sql_file: Path, **identifiers: str) -> str:
    return read_sql(sql_file, **identifiers).strip().rstrip(";")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal, for the few statements that take no parameters (COMMENT ON, COPY options);
    everything else binds its values."""
    return "'" + value.replace("'", "''") + "'"


# --- the engines: what a table operation means on each ------------------------------------------


class Engine(Protocol):
    """What the helpers above ask of an engine. The SELECTs are DuckDB SQL; an engine that speaks
    another dialect translates them (common.spark.SparkConnection)."""

    def create_table(
        self, table: str, select: str, params: dict | None = None, unordered: bool = False,
        parts: Parts | None = None,
    ) -> int: ...
    def create_temp_table(self, table: str, select: str, params: dict | None = None, parts: Parts | None = None) -> int: ...
    def create_view(self, view: str, select: str, temporary: bool = False) -> None: ...
    def create_table_from_frame(self, table: str, frame, temporary: bool = False) -> int: ...
    def replace_rows(self, table: str, rows: str, key: str) -> int: ...
    def row_count(self, table: str) -> int: ...
    def table_exists(self, table: str) -> bool: ...
    def table_names(self) -> list[str]: ...
    def view_names(self) -> list[str]: ...
    def column_types(self, table: str) -> dict[str, str]: ...
    def comment_on(self, table: str, kind: str, description: str, columns: dict[str, str]) -> None: ...
    def query_columns(self, select: str) -> list[str]: ...


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection):
    """All of the block's statements or none: committed when it ends, rolled back if it raises."""
    conn.execute("begin transaction")
    try:
        yield
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def engine(conn) -> Engine:
    """The engine behind a connection: DuckDB's own connection is wrapped, a SparkConnection is one."""
    return DuckDBEngine(conn) if isinstance(conn, duckdb.DuckDBPyConnection) else conn


# Text columns holding an identifier that is (nearly) unique per row. DuckDB's dictionary+FSST string
# compression gains little on them and its analysis is the dearest part of writing a per-customer or
# per-line table (about 1 s per 5M rows), so they are stored uncompressed.
IDENTIFIER_COLUMNS = frozenset({"customer_id", "order_id"})


def define_table(conn: duckdb.DuckDBPyConnection, table: str, select: str, params: dict | None = None) -> None:
    """Create `table` empty (replacing it) with the columns and types of `select`, identifier
    columns stored uncompressed. Always re-created from written-out column definitions: in DuckDB
    2.0 a table made by `create table ... as ... with no data` and then filled inside the same
    transaction can read back empty (seen with a GROUP BY of over ~120k rows and no id column)."""
    name = quote(table)
    run_sql(conn, f"create or replace table {name} as\n{select}\nwith no data", params)
    columns = DuckDBEngine(conn).column_types(table).items()
    uncompressed = {column for column, data_type in columns if column in IDENTIFIER_COLUMNS and data_type == "VARCHAR"}
    definitions = ",\n    ".join(
        f"{quote(column)} {data_type}" + (" using compression uncompressed" if column in uncompressed else "")
        for column, data_type in columns
    )
    conn.execute(f"create or replace table {name} (\n    {definitions}\n)")


class DuckDBEngine:
    """The Engine of a DuckDB connection: the warehouse file itself."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def create_table(
        self, table: str, select: str, params: dict | None = None, unordered: bool = False,
        parts: Parts | None = None,
    ) -> int:
        """Defined empty, then filled by one INSERT, or one per range of keys (see create_table and
        create_table_in_parts), in one transaction."""
        conn = self.conn
        if unordered:
            conn.execute("set preserve_insertion_order = false")
        try:
            with transaction(conn):
                for number in self.each_part(parts):
                    if number == 0:
                        define_table(conn, table, select, params)
                    run_sql(conn, f"insert into {quote(table)}\n{select}", params)
        finally:
            if unordered:
                conn.execute("reset preserve_insertion_order")
        return self.row_count(table)

    def create_temp_table(self, table: str, select: str, params: dict | None = None, parts: Parts | None = None) -> int:
        """Created by the first part's rows (or by every row), each further part's rows inserted."""
        for number in self.each_part(parts):
            statement = f"create or replace temp table {quote(table)} as" if number == 0 else f"insert into {quote(table)}"
            run_sql(self.conn, f"{statement}\n{select}", params)
        return self.row_count(table)

    def each_part(self, parts: Parts | None) -> Iterator[int]:
        """Select each range of keys of `parts` in turn (see select_part) and yield its number, for
        the statements of a table built in parts; without parts, yield 0 once and select nothing."""
        if parts is None:
            yield 0
            return
        boundaries = part_boundaries(self.conn, parts.table, parts.key, parts.rows)
        for number, (part_from, part_to) in enumerate(part_ranges(boundaries)):
            select_part(self.conn, part_from, part_to)
            yield number

    def create_view(self, view: str, select: str, temporary: bool = False) -> None:
        self.conn.execute(f"create or replace {'temp ' if temporary else ''}view {quote(view)} as\n{select}")

    def create_table_from_frame(self, table: str, frame, temporary: bool = False) -> int:
        self.conn.register("frame_to_store", frame)
        try:
            self.conn.execute(
                f"create or replace {'temp ' if temporary else ''}table {quote(table)} as select * from frame_to_store"
            )
        finally:
            self.conn.unregister("frame_to_store")
        return self.row_count(table)

    def replace_rows(self, table: str, rows: str, key: str) -> int:
        conn = self.conn
        name, new, column = quote(table), quote(rows), quote(key)
        with transaction(conn):
            conn.execute(f"create table if not exists {name} as select * from {new} with no data")
            existing = set(self.column_types(table))
            for added, data_type, *_ in conn.execute(f"describe {new}").fetchall():
                if added not in existing:
                    conn.execute(f"alter table {name} add column {quote(added)} {data_type}")
            conn.execute(f"delete from {name} where {column} in (select {column} from {new})")
            conn.execute(f"insert into {name} by name select * from {new}")
        return self.row_count(table)

    def row_count(self, table: str) -> int:
        return self.conn.execute(f"select count(*) from {quote(table)}").fetchall()[0][0]

    def table_exists(self, table: str) -> bool:
        found = self.conn.execute(
            "select count(*) from duckdb_tables() where table_name = ? and database_name = current_database()",
            [table],
        ).fetchall()[0][0]
        return found > 0

    def table_names(self) -> list[str]:
        rows = self.conn.execute(
            "select table_name from duckdb_tables() "
            "where database_name = current_database() and not temporary order by table_name"
        ).fetchall()
        return [name for (name,) in rows]

    def view_names(self) -> list[str]:
        rows = self.conn.execute(
            "select view_name from duckdb_views() where database_name = current_database() "
            "and schema_name = 'main' and not temporary and not internal order by view_name"
        ).fetchall()
        return [name for (name,) in rows]

    def column_types(self, table: str) -> dict[str, str]:
        return dict(self.conn.execute(
            "select column_name, data_type from duckdb_columns() where table_name = ? and schema_name = 'main' "
            "and database_name = current_database() order by column_index",
            [table],
        ).fetchall())

    def comment_on(self, table: str, kind: str, description: str, columns: dict[str, str]) -> None:
        self.conn.execute(f"comment on {'view' if kind == 'view' else 'table'} {quote(table)} is {literal(description)}")
        for column, text in columns.items():
            self.conn.execute(f"comment on column {quote(table)}.{quote(column)} is {literal(text)}")

    def query_columns(self, select: str) -> list[str]:
        return [row[0] for row in self.conn.execute(f"describe {select}").fetchall()]


# --- faults an operator can act on ------------------------------------------------------------

_MEMORY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)\s*$", re.IGNORECASE)
_UNITS = {unit.lower(): unit for unit in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")}


def parse_memory_limit(text: str) -> str | None:
    """A memory size re-rendered from its number and unit (`1.5 gb` -> `1.5GB`), or None if it is
    not one: what reaches DuckDB is built from parsed parts, never the raw setting."""
    match = _MEMORY_SIZE.match(text or "")
    if not match:
        return None
    number, unit = match.groups()
    return f"{float(number):g}{_UNITS[unit.lower()]}"


def explain_duckdb_error(error: duckdb.Error, database: str, setting: str, memory_limit: str) -> str | None:
    """One line that says what to do about a DuckDB error caused by the machine rather than the
    data, or None for any other error."""
    said = str(error).strip().splitlines()[0]
    if isinstance(error, duckdb.OutOfMemoryException):
        number, unit = _MEMORY_SIZE.match(parse_memory_limit(memory_limit)).groups()
        return (
            f"DuckDB ran out of memory with {setting}={memory_limit}: raise {setting} "
            f"(e.g. {setting}={float(number) * 2:g}{unit}) or free memory on the machine; "
            f"work that can spill already does, to {Path(database).parent / 'spill'}. DuckDB said: {said}"
        )
    lock = re.search(r"Could not set lock on file .*\(PID (\d+)\)", str(error))
    if lock:
        pid = int(lock.group(1))
        return (
            f"the warehouse {database} is held open by another process, PID {pid} ({process_command(pid)}): "
            "close it and start the run again (analysts read exports/current/lifecycle.duckdb, which no run locks)"
        )
    if "No space left on device" in str(error):
        return f"the disk is full under {Path(database).parent}: free space and start the run again. DuckDB said: {said}"
    return None


def process_command(pid: int) -> str:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "no longer running"
    return " ".join(" ".join(arguments).split())[:200] or "command unknown"
