"""Table-by-table equality of two sets of published tables: proof that speed work changed no value.

`python -m bench.compare OLD NEW` compares two nights (folders of `<table>.parquet`, e.g.
`exports/current`) or two DuckDB files: the same table names, and per table the same columns in
the same order with the same types, the same row count and the same rows (as multisets, every value
equal; rows need no order). It prints one line per difference and exits 1 when there is any.

`python -m bench.compare --against COMMIT [--log CSV ...]` builds both sides itself: it checks
COMMIT out into a temporary worktree, runs the whole graph there and in this checkout, on the
shipped sample and on each purchase log given, each in a fresh home, and compares what each
published.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from common.spark import UNFINISHED
from common.warehouse import literal, quote

REPO = Path(__file__).resolve().parent.parent
# Logs of runs, not of the data: rows appended per run with its clock (compared by their columns
# only), and the clock of each load.
RUN_LOGS = frozenset({"run_history", "clv_model_selection_history"})
RUN_CLOCK_COLUMNS = frozenset({"loaded_at", "quarantined_at"})
# Doubles that differ only past this many significant digits differ by the order a parallel sum
# added its terms in (it differs between two runs of one commit too): a note, not a difference.
SIGNIFICANT_DIGITS = 12
FLOATING = ("DOUBLE", "FLOAT")
# Across engines (DuckDB and Spark): types equal up to the engines' names for them, doubles within
# about 1e-9 relative (the engines add a sum's terms in different orders), the fitted model
# parameters within about 1e-6 (an optimizer stops within its tolerance of the optimum).
ACROSS_ENGINES_DIGITS = 9
MODEL_PARAMETER_DIGITS = 6
MODEL_TABLES = frozenset({"clv_model", "clv_model_selection", "clv_model_selection_history", "clv_backtest"})
# Columns whose values are type names (the data dictionary's): compared up to the engines' names too.
TYPE_NAME_COLUMNS = frozenset({"data_type"})
TYPE_FAMILIES = {
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
                "INT", "LONG", "SHORT", "BYTE"),
    "float": ("DOUBLE", "FLOAT", "REAL"),
    "decimal": ("DECIMAL", "NUMERIC", "NUMBER"),
    "text": ("VARCHAR", "STRING"),
    "date": ("DATE",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP_NTZ", "DATETIME", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS"),
    "boolean": ("BOOLEAN", "BOOL"),
}


def type_family(name: str) -> str:
    """A column type up to the engine's name for it (DuckDB's HUGEINT and Spark's bigint are both
    integers; a list is its element's family)."""
    base = str(name).upper().strip()
    if base.endswith("[]"):
        return type_family(base[:-2]) + "[]"
    base = base.split("(")[0].strip()
    for family, names in TYPE_FAMILIES.items():
        if base in names:
            return family
    return base.lower()


@dataclass
class Comparison:
    """What differs between two sides; empty when every table is the same."""

    problems: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # the tables both sides have, compared
    notes: list[str] = field(default_factory=list)  # doubles equal to SIGNIFICANT_DIGITS, not to the last bit

    @property
    def equal(self) -> bool:
        return not self.problems


def open_side(conn: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """One side as schema or database `name`: a DuckDB file attached read-only, or a folder whose
    Parquet files become views named after them, or a Spark warehouse database (`main.db`) whose
    table folders of Parquet parts do."""
    if path.is_dir():
        conn.execute(f"create schema {quote(name)}")
        for parquet in sorted(path.glob("*.parquet")):
            conn.execute(
                f"create view {quote(name)}.{quote(parquet.stem)} as "
                f"select * from read_parquet({literal(str(parquet.resolve()))})"
            )
        for folder in sorted(path.iterdir()) if path.suffix == ".db" else ():
            if folder.is_dir() and not folder.name.endswith(UNFINISHED) and any(folder.glob("*.parquet")):
                conn.execute(
                    f"create view {quote(name)}.{quote(folder.name)} as "
                    f"select * from read_parquet({literal(str(folder.resolve() / '*.parquet'))})"
                )
    else:
        conn.execute(f"attach {literal(str(path))} as {quote(name)} (read_only)")


def columns_of(conn: duckdb.DuckDBPyConnection, side: str) -> dict[str, list[tuple[str, str]]]:
    """Per table (or view) of one side: its columns and types, in order."""
    rows = conn.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where (database_name = $side or schema_name = $side) order by table_name, column_index",
        {"side": side},
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def compare(old: Path, new: Path, across_engines: bool = False) -> Comparison:
    """Every difference between the tables at `old` and those at `new`. `across_engines`: the two
    sides were built by different engines, so column types are compared up to the engines' names
    and doubles to ACROSS_ENGINES_DIGITS significant digits (model parameters to
    MODEL_PARAMETER_DIGITS); a column of nothing but nulls, which DuckDB types NULL, takes any type."""
    conn = duckdb.connect()
    conn.create_function("type_family", type_family, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"))
    open_side(conn, old, "old")
    open_side(conn, new, "new")
    old_tables, new_tables = columns_of(conn, "old"), columns_of(conn, "new")
    result = Comparison()
    for table in sorted(old_tables.keys() - new_tables.keys()):
        result.problems.append(f"{table}: only in {old}")
    for table in sorted(new_tables.keys() - old_tables.keys()):
        result.problems.append(f"{table}: only in {new}")
    for table in sorted(old_tables.keys() & new_tables.keys()):
        result.tables.append(table)
        compare_table(conn, table, old_tables[table], new_tables[table], result, across_engines)
    return result


def compare_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    old_columns: list[tuple[str, str]],
    new_columns: list[tuple[str, str]],
    result: Comparison,
    across_engines: bool = False,
) -> None:
    if (same_columns_across_engines(old_columns, new_columns) if across_engines else old_columns == new_columns) is False:
        result.problems.append(f"{table}: columns differ: {old_columns} -> {new_columns}")
        return
    if table in RUN_LOGS:  # as many rows as runs, each with its clock
        return
    old_rows, new_rows = (conn.execute(f"select count(*) from {side}.{quote(table)}").fetchone()[0] for side in ("old", "new"))
    if old_rows != new_rows:
        result.problems.append(f"{table}: {old_rows:,} rows -> {new_rows:,} rows")
        return
    compared = [(column, data_type) for column, data_type in old_columns if column not in RUN_CLOCK_COLUMNS]
    expressions = [
        type_name(table, column) if across_engines and column in TYPE_NAME_COLUMNS else quote(column)
        for column, _ in compared
    ]
    only_old, only_new = rows_only_on_each_side(conn, table, expressions)
    if not (only_old or only_new):
        return
    differing = f"{only_old:,} rows only in the old tables, {only_new:,} only in the new"
    digits = (MODEL_PARAMETER_DIGITS if table in MODEL_TABLES else ACROSS_ENGINES_DIGITS) if across_engines else SIGNIFICANT_DIGITS
    if any(data_type in FLOATING for _, data_type in compared) and rows_only_on_each_side(
        conn, table, [significant(column, digits) if data_type in FLOATING else expression
                      for (column, data_type), expression in zip(compared, expressions, strict=True)]
    ) == (0, 0):
        result.notes.append(f"{table}: {differing}, all equal to {digits} significant digits")
    else:
        result.problems.append(f"{table}: {differing}")


def same_columns_across_engines(old_columns: list[tuple[str, str]], new_columns: list[tuple[str, str]]) -> bool:
    """The same column names in the same order, each of the same type family (a column DuckDB
    could type only NULL, holding nothing but nulls, matches any)."""
    if [name for name, _ in old_columns] != [name for name, _ in new_columns]:
        return False
    return all(
        '"NULL"' in (old_type, new_type) or type_family(old_type) == type_family(new_type)
        for (_, old_type), (_, new_type) in zip(old_columns, new_columns, strict=True)
    )


def rows_only_on_each_side(conn: duckdb.DuckDBPyConnection, table: str, expressions: list[str]) -> tuple[int, int]:
    """Rows of `table` (as the expressions give them) only in the old tables and only in the new."""
    selected = ", ".join(expressions)
    return tuple(
        conn.execute(
            f"select count(*) from (select {selected.replace('{other}', b)} from {a}.{quote(table)} as this "
            f"except all select {selected.replace('{other}', a)} from {b}.{quote(table)} as this)"
        ).fetchone()[0]
        for a, b in (("old", "new"), ("new", "old"))
    )


def type_name(table: str, column: str) -> str:
    """A column of type names (the data dictionary's, keyed by table_name and column_name) up to the
    engines' names. Where either side gave a column no type (DuckDB's NULL type: it holds nothing but
    nulls) the row's type matches any: written `any` on both sides. Formatted once per side ({other})."""
    name = quote(column)
    other = (
        f"(select that.{name} from {{other}}.{quote(table)} as that "
        "where that.table_name = this.table_name and that.column_name = this.column_name)"
    )
    return f"""case when {name} = '"NULL"' or {other} = '"NULL"' then 'any' else type_family({name}) end as {name}"""


def significant(column: str, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A double column rounded to `digits` significant digits (zero, infinities, NaN and null as they are)."""
    name = quote(column)
    return (
        f"case when isfinite({name}) and {name} <> 0 "
        f"then round({name}, ({int(digits)} - ceil(log10(abs({name}))))::integer) else {name} end as {name}"
    )


def publish(checkout: Path, config: Path, home: Path) -> Path:
    """Run the whole graph of `checkout` on `config` into a fresh `home`; the night it published."""
    shutil.rmtree(home, ignore_errors=True)
    (home / "dagster").mkdir(parents=True)
    shutil.copy(checkout / "pipelines" / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {**os.environ, "PYTHONPATH": str(checkout), "LIFECYCLE_CONFIG": str(config),
           "LIFECYCLE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    run = subprocess.run([sys.executable, "-m", "pipelines.run"], cwd=checkout, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"the run of {checkout} on {config} failed:\n{run.stderr[-3000:]}")
    return (home / "exports" / "current").resolve()


def against(commit: str, logs: list[Path], work: Path) -> bool:
    """Publish with `commit` and with this checkout, on the sample and on each log; compare. Both
    read the same input files through the same config, so the source paths and file times that
    the source tables and load_audit record are the same too."""
    from bench.__main__ import write_config

    old_checkout = work / "old"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old_checkout), commit], check=True)
    try:
        inputs = [("sample", REPO / "lifecycle.yaml")]
        for log in logs:
            folder = work / log.stem
            folder.mkdir(parents=True, exist_ok=True)
            inputs.append((log.stem, write_config(folder, log.resolve())))
        equal = True
        for name, config in inputs:
            print(f"{name}: publishing with {commit} and with this checkout ...", flush=True)
            old = publish(old_checkout, config, work / name / "old_home")
            new = publish(REPO, config, work / name / "new_home")
            equal &= report(name, compare(old, new))
        return equal
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_checkout)], check=True)


def report(name: str, result: Comparison) -> bool:
    for problem in result.problems:
        print(f"  {name}: {problem}")
    for note in result.notes:
        print(f"  {name} (note): {note}")
    print(f"{name}: {len(result.tables)} tables compared, " + ("all equal" if result.equal else f"{len(result.problems)} differ"))
    return result.equal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sides", nargs="*", type=Path, help="OLD NEW: two folders of Parquet files or two DuckDB files")
    parser.add_argument("--against", metavar="COMMIT", help="publish with COMMIT and with this checkout, then compare")
    parser.add_argument("--log", type=Path, action="append", default=[], help="a purchase log (CSV) to run both on")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary one, removed)")
    args = parser.parse_args()
    if args.against:
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
            return 0 if against(args.against, args.log, args.work) else 1
        with tempfile.TemporaryDirectory(prefix="compare-") as work:
            return 0 if against(args.against, args.log, Path(work)) else 1
    if len(args.sides) != 2:
        parser.error("give OLD and NEW, or --against COMMIT")
    return 0 if report("tables", compare(*args.sides)) else 1


if __name__ == "__main__":
    sys.exit(main())
