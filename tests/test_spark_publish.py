"""The warehouse's checks, publishing and morning report on the Spark engine, equal to DuckDB's.

The whole graph runs once on DuckDB over the shipped sample; its tables are copied into a local
Spark session (the SQL stages building them on Spark is test_spark_engine's business). Then the
same plain functions the assets call run on both engines: the contract checks and the
great-expectations suites give the same outcomes with the same counts (also on a table with a
planted fault), publishing on Spark writes the same Parquet files as on DuckDB (bench.compare:
names, columns, types, rows, values) with a snapshot of views that answers the same queries, and
the morning report shows the same numbers.
"""

from __future__ import annotations

import shutil
from datetime import datetime
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


