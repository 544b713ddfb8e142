"""The warehouse's checks, publishing and morning report on the Spark engine, equal to DuckDB's.

The whole graph runs once on DuckDB over the shipped sample; its tables are copied into a local
Spark session (the graph building them on Spark is test_spark_graph's business). Then the
same plain functions the assets call run on both engines: the contract checks and the
great-expectations suites give the same outcomes with the same counts (also on a table with a
planted fault), publishing on Spark writes the same Parquet files as on DuckDB (bench.compare:
names, columns, types, rows, values) with a snapshot of views that answers the same queries, and
the morning report shows the same numbers.
"""

from __future__ import annotations

import json
import shutil
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from assets.ingest.checks import PLAUSIBLE_TABLES, plausible, trustworthy, validate_table
from common.contracts import load_contracts, run_check
from common.warehouse import table_names
from tests.conftest import REPO, connect, materialize

NOW = datetime(2026, 1, 1)
SOURCE_TABLES = ("purchases", "products", "customers", "events", "service_scores", "survey_responses")


@pytest.fixture(scope="module")
def duckdb_home(tmp_path_factory) -> Path:
    """The whole graph on DuckDB over the shipped sample: its output root."""
    home = tmp_path_factory.mktemp("duckdb-sample") / "home"
    materialize(REPO / "lifecycle.yaml", home)
    return home


def copy_into_spark(spark, night: Path, database: str = "main", with_views: bool = True):
    """Every table of a published night as a Parquet table in a fresh Spark database, and the
    warehouse's view over them; a connection to it."""
    from assets.ingest.assets import SQL as INGEST
    from common.spark import SparkConnection
    from common.warehouse import create_view

    spark.sql(f"drop database if exists {database} cascade")
    conn = SparkConnection(spark, database)
    for parquet in sorted(night.glob("*.parquet")):
        spark.read.parquet(str(parquet)).write.format("parquet").saveAsTable(f"{database}.{parquet.stem}")
    if with_views:
        create_view(conn, "purchase_lines", INGEST / "purchase_lines.sql")
    return conn


@pytest.fixture(scope="module")
def spark_warehouse(spark, duckdb_home):
    """The DuckDB run's tables in Spark."""
    return copy_into_spark(spark, duckdb_home / "exports" / "current")


def check_outcomes(conn, tables) -> dict[tuple[str, str], tuple[bool, int]]:
    """(table, check) -> (passed, failing rows) of every contract check of the tables."""
    contracts = load_contracts()
    outcomes = {}
    for table in tables:
        for check in contracts[table].checks:
            result = run_check(conn, table, check)
            outcomes[(table, check.name)] = (result.passed, result.metadata["failing_rows"].value)
    return outcomes


def suite_outcomes(conn, tables) -> dict[tuple[str, str], list[tuple[str, str, int]]]:
    """(table, suite) -> (expectation, column, unexpected rows) of the great-expectations suites."""
    outcomes = {}
    for table in tables:
        suites = {"trustworthy": trustworthy(table)} | ({"plausible": plausible(table, NOW)} if table in PLAUSIBLE_TABLES else {})
        for name, expectations in suites.items():
            frame = validate_table(conn, table, expectations)
            outcomes[(table, name)] = list(frame[["expectation", "column", "unexpected"]].itertuples(index=False, name=None))
    return outcomes


# --- checks ------------------------------------------------------------------------------------


def test_every_contract_check_gives_the_same_outcome_and_count_on_spark(duckdb_home, spark_warehouse):
    with connect(duckdb_home) as duck:
        tables = sorted(set(load_contracts()) & set(table_names(duck)))
        expected = check_outcomes(duck, tables)
    assert len(expected) > 50
    assert check_outcomes(spark_warehouse, tables) == expected


def test_the_great_expectations_suites_judge_spark_dataframes_as_they_judge_duckdb_batches(duckdb_home, spark_warehouse):
    with connect(duckdb_home) as duck:
        expected = suite_outcomes(duck, SOURCE_TABLES)
    assert suite_outcomes(spark_warehouse, SOURCE_TABLES) == expected


def test_a_planted_fault_fails_the_same_checks_with_the_same_counts_on_both_engines(spark, duckdb_home, tmp_path):
    """Three purchases lose their customer and one customer is listed twice: purchases_trustworthy
    and the customers' key check fail on both engines, counting the same rows."""
    from common.spark import SparkConnection

    warehouse = tmp_path / "planted.duckdb"
    shutil.copyfile(duckdb_home / "warehouse" / "lifecycle.duckdb", warehouse)
    with duckdb.connect(str(warehouse)) as duck:
        duck.execute("update purchases set customer_id = null where rowid in (select rowid from purchases order by source_file, source_row limit 3)")
        duck.execute("insert into customers select * from customers order by customer_id limit 1")
        duck.execute("checkpoint")
    night = tmp_path / "night"
    night.mkdir()
    with duckdb.connect(str(warehouse), read_only=True) as duck:
        for table in ("purchases", "customers"):
            duck.execute(f"copy {table} to $path (format parquet)", {"path": str(night / f"{table}.parquet")})
        expected_suites = suite_outcomes(duck, ["purchases"])
        expected_checks = check_outcomes(duck, ["customers"])
    conn = copy_into_spark(spark, night, "planted", with_views=False)
    try:
        assert suite_outcomes(conn, ["purchases"]) == expected_suites
        assert check_outcomes(conn, ["customers"]) == expected_checks
    finally:
        spark.sql("drop database if exists planted cascade")
        SparkConnection(spark, "main")
    assert ("purchases", "trustworthy") in expected_suites
    assert ("not_null", "customer_id", 3) in expected_suites[("purchases", "trustworthy")]
    assert expected_checks[("customers", "key")] == (False, 1)




def test_the_data_dictionary_reads_the_same_columns_types_and_descriptions_on_spark(duckdb_home, spark_warehouse):
    """Types as DuckDB names them (what the published files read back as), whichever engine holds the table."""
    from common.contracts import data_dictionary

    tables = [table for table in table_names(spark_warehouse) if table in load_contracts()]
    with connect(duckdb_home) as duck:
        expected = data_dictionary(duck, tables)
    assert data_dictionary(spark_warehouse, tables).equals(expected)


# --- publishing --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_night(spark_warehouse, tmp_path_factory) -> tuple[Path, dict]:
    """The Spark warehouse published as a night: its folder and manifest."""
    from assets.publish.publishing import NIGHTS, publish_exports

    # a quote in the path: it reaches the views snapshot's SQL only as a literal
    exports = tmp_path_factory.mktemp("spark-exports") / "o'brien's exports; drop view customer_rfm"
    manifest = publish_exports(spark_warehouse, exports, run_id="spark-run", as_of=None)
    return exports / NIGHTS / manifest["night"], manifest


def test_publishing_on_spark_writes_the_same_parquet_files_as_duckdb(duckdb_home, spark_night):
    """Same file names, columns, types, rows and values (bench.compare), each a single Parquet file."""
    from bench.compare import compare

    duck_night = (duckdb_home / "exports" / "current").resolve()
    night, manifest = spark_night
    result = compare(duck_night, night)
    assert result.problems == []
    assert sorted(result.tables) == sorted(path.stem for path in duck_night.glob("*.parquet"))
    assert all(path.is_file() for path in night.glob("*.parquet"))
    assert not [path.name for path in night.iterdir() if path.name.startswith(".")]
    rows = {entry["table"]: entry["rows"] for entry in manifest["files"] if "table" in entry}
    duck_manifest = json.loads((duck_night / "manifest.json").read_text())
    assert rows == {entry["table"]: entry["rows"] for entry in duck_manifest["files"] if "table" in entry}


def parquet_types(path: Path) -> list[tuple]:
    """How a Parquet file stores each column: physical type, annotation (a plain 64- or 32-bit
    integer needs none, so DuckDB's INT_64 and Spark's none mean the same), a decimal's scale and
    precision, a timestamp's unit and whether it is adjusted to UTC. Not whether a column is
    REQUIRED: DuckDB marks its NOT NULL columns so, Spark writes every column OPTIONAL."""
    with duckdb.connect() as conn:
        return conn.execute(
            "select name, type, case when converted_type not in ('INT_64', 'INT_32') then converted_type end, "
            "scale, precision, case when logical_type like 'TimestampType%' then logical_type end "
            "from parquet_schema($path) where type is not null",
            {"path": str(path)},
        ).fetchall()


def test_the_parquet_files_store_every_column_as_duckdb_stores_it(duckdb_home, spark_night):
    """Timestamps as INT64 microseconds without a zone (not Spark's INT96), decimals, dates and
    integers of the same width: what the files say, not only what a reader makes of them."""
    duck_night = (duckdb_home / "exports" / "current").resolve()
    night, _ = spark_night
    differing = {
        path.name: (parquet_types(duck_night / path.name), parquet_types(path))
        for path in sorted(night.glob("*.parquet"))
        if parquet_types(duck_night / path.name) != parquet_types(path)
    }
    assert differing == {}


SNAPSHOT_QUERIES = [
    "select stage, count(*) from customer_lifecycle group by stage order by stage",
    "select value_tier, count(*), sum(clv_12m) from customer_clv group by 1 order by 1",
    "select count(*), count(distinct order_id), sum(amount) from purchase_lines",
    "select action, count(*) from next_best_action join customer_rfm using (customer_id) group by 1 order by 1",
    "select table_name, count(*) from data_dictionary group by 1 order by 1",
]


def test_the_snapshot_on_spark_is_views_over_the_nights_files_answering_as_duckdbs_does(duckdb_home, spark_night, tmp_path, monkeypatch):
    from assets.publish.publishing import SNAPSHOT

    night, _ = spark_night
    monkeypatch.chdir(tmp_path)  # an analyst opens the file from anywhere
    with duckdb.connect(str(duckdb_home / "exports" / "current" / SNAPSHOT), read_only=True) as duck, \
            duckdb.connect(str(night / SNAPSHOT), read_only=True) as views:
        tables = [name for (name,) in duck.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        assert [name for (name,) in views.execute(
            "select view_name from duckdb_views() where not internal and view_name <> 'purchase_lines' order by 1"
        ).fetchall()] == tables
        for table in tables:
            assert views.execute(f"select count(*) from {table}").fetchone() == duck.execute(f"select count(*) from {table}").fetchone()
        for query in SNAPSHOT_QUERIES:
            assert views.execute(query).fetchall() == duck.execute(query).fetchall(), query
        comment = "select comment from duckdb_columns() where table_name = 'customer_rfm' and column_name = 'frequency'"
        assert views.execute(comment).fetchone() == duck.execute(comment).fetchone() != (None,)


def test_analysts_open_a_table_published_on_spark_at_its_old_path_with_duckdb_pandas_and_pyarrow(spark_night):
    import pandas as pd
    import pyarrow.parquet as pq

    night, manifest = spark_night
    path = night.parent.parent / "customer_rfm.parquet"  # exports/<table>.parquet, through current
    rows = next(entry["rows"] for entry in manifest["files"] if entry.get("table") == "customer_rfm")
    with duckdb.connect() as conn:
        assert conn.execute("select count(*) from read_parquet($path)", {"path": str(path)}).fetchone()[0] == rows
    assert len(pd.read_parquet(path)) == pq.ParquetFile(path).metadata.num_rows == rows


def test_a_publish_on_spark_that_fails_midway_leaves_current_on_the_previous_night(spark_warehouse, spark_night, monkeypatch):
    """The same crash safety as on DuckDB: the unfinished night, its half-written parts included,
    never becomes current, and the next publish removes it."""
    from assets.publish.publishing import NIGHTS, current_night, publish_exports, remove_leftovers
    from common.spark import SparkConnection

    night, _ = spark_night
    exports = night.parent.parent
    written = []
    real_write = SparkConnection.write_file

    def dies_on_the_fifth_table(self, frame, target, *args, **kwargs):
        if len(written) == 4:
            target.with_name(f".{target.name}.parts").mkdir()
            raise OSError("No space left on device")
        written.append(target)
        return real_write(self, frame, target, *args, **kwargs)

    monkeypatch.setattr(SparkConnection, "write_file", dies_on_the_fifth_table)
    with pytest.raises(OSError, match="No space left"):
        publish_exports(spark_warehouse, exports, run_id="failing-run")
    assert current_night(exports) == night.resolve()
    (unfinished,) = [path for path in (exports / NIGHTS).iterdir() if path.name != night.name]
    assert not (unfinished / "manifest.json").exists()
    remove_leftovers(exports)
    assert [path.name for path in (exports / NIGHTS).iterdir()] == [night.name]


# --- the morning report ------------------------------------------------------------------------

BUILT_AT = datetime(2026, 1, 1, 6, 30)


def write_morning_report(conn, folder: Path):
    """The report's content and files from a warehouse, as the morning_report asset makes them."""
    import pandas as pd

    from assets.report.building import build_report, define_action_list
    from assets.report.history import latest_run_id
    from assets.report.rendering import write_report_files
    from common.config import load_settings

    settings = load_settings(REPO / "lifecycle.yaml")
    checks = pd.DataFrame({"asset": ["purchases"], "check_name": ["purchases_trustworthy"], "passed": [True], "severity": ["ERROR"]})
    define_action_list(conn, settings.report.contact_columns)
    report = build_report(conn, settings, latest_run_id(conn), checks, BUILT_AT)
    files = write_report_files(conn, folder, report, archive=folder / "report")
    conn.execute("drop table action_list")
    return report, files


@pytest.fixture(scope="module")
def both_reports(duckdb_home, spark_warehouse, tmp_path_factory):
    with connect(duckdb_home) as duck:
        duck_report = write_morning_report(duck, tmp_path_factory.mktemp("duckdb-report"))
    return duck_report, write_morning_report(spark_warehouse, tmp_path_factory.mktemp("spark-report"))


def test_the_morning_report_on_spark_shows_the_same_sections_figures_and_charts(both_reports):
    (duck_report, duck_files), (spark_report, spark_files) = both_reports
    assert [section.key for section in spark_report.sections] == [section.key for section in duck_report.sections]
    for duck_section, spark_section in zip(duck_report.sections, spark_report.sections, strict=True):
        assert spark_section == duck_section, duck_section.key
    # the night's run_history row, as pandas gives it from each engine (DuckDB: dates as Timestamps,
    # decimals as floats; Spark: as Python dates and Decimals)
    assert {key: normalized(value) for key, value in spark_report.headline.items()} == {
        key: normalized(value) for key, value in duck_report.headline.items()
    }
    assert spark_files.page.read_text() == duck_files.page.read_text()
    assert spark_files.data_dictionary.read_text() == duck_files.data_dictionary.read_text()


def test_the_action_lists_on_spark_are_the_same_csv_and_parquet_files(both_reports):
    from bench.compare import compare

    (_, duck_files), (_, spark_files) = both_reports
    duck_folder, spark_folder = duck_files.page.parent / "actions", spark_files.page.parent / "actions"
    assert sorted(path.name for path in spark_folder.iterdir()) == sorted(path.name for path in duck_folder.iterdir())
    assert len(list(duck_folder.glob("*.csv"))) >= 5
    for csv_file in sorted(duck_folder.glob("*.csv")):
        assert (spark_folder / csv_file.name).read_text() == csv_file.read_text(), csv_file.name
    assert compare(duck_folder, spark_folder).problems == []


def normalized(value):
    import pandas as pd

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return pd.Timestamp(value)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
