"""The Spark engine: its config, the translation of the project's DuckDB SQL, and the tables the SQL
stages build on Spark, equal to DuckDB's.

On the shipped sample the source files are loaded on Spark by the Spark loader and every table the
SQL stages build is then built on Spark by the stages' own build functions; on the Online Retail
data the source tables are copied from the DuckDB run. The fitted CLV models and survey segments are
taken from the DuckDB run (the per-customer CLV scoring runs on Spark). Each table is compared with
DuckDB's: same columns, types up to the engines' names, row counts and values (exact for counts,
ids, dates and labels, floating values within 1e-9 relative).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from bench.compare import type_family
from common.config import ConfigError, load_settings
from tests.conftest import REPO, connect, materialize, requires_shared_data, write_config

# --- config ------------------------------------------------------------------------------------


def sample_config(tmp_path: Path, **extra) -> Path:
    return write_config(tmp_path, {"sources": {"purchases": {"path": str(REPO / "data/sample/purchases")}}, **extra})


def test_the_engine_is_duckdb_unless_the_config_says_spark(tmp_path):
    settings = load_settings(sample_config(tmp_path))
    assert settings.engine == "duckdb"
    assert settings.spark.master == "local[*]" and settings.spark.remote is None
    spark = load_settings(sample_config(tmp_path, engine="spark", spark={"master": "spark://10.0.0.5:7077", "conf": {"spark.executor.memory": "4g"}}))
    assert (spark.engine, spark.spark.master, spark.spark.conf) == ("spark", "spark://10.0.0.5:7077", {"spark.executor.memory": "4g"})


@pytest.mark.parametrize(
    ("spark", "message"),
    [
        ({"master": "localhost"}, "'spark.master': 'localhost' is not a Spark master URL"),
        ({"remote": "http://host:15002"}, "'spark.remote': 'http://host:15002' is not a Spark Connect URL"),
        ({"master": "local[2]", "remote": "sc://host:15002"}, "give either 'master'"),
        ({"cores": 4}, "unknown key 'spark.cores'"),
    ],
)
def test_a_spark_section_that_cannot_work_is_a_config_error_naming_the_key(tmp_path, spark, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_settings(sample_config(tmp_path, engine="spark", spark=spark))


def test_an_engine_that_does_not_exist_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'engine'"):
        load_settings(sample_config(tmp_path, engine="postgres"))


def test_the_environment_chooses_the_engine_and_the_cluster(tmp_path, monkeypatch):
    config = sample_config(tmp_path, spark={"remote": "sc://gateway:15002"})
    monkeypatch.setenv("LIFECYCLE_ENGINE", "spark")
    monkeypatch.setenv("LIFECYCLE_SPARK_MASTER", "spark://127.0.0.1:7077")
    settings = load_settings(config)
    assert (settings.engine, settings.spark.master, settings.spark.remote) == ("spark", "spark://127.0.0.1:7077", None)


def test_a_run_over_spark_connect_stops_at_start_saying_to_give_a_master_before_writing_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_ENGINE", "spark")
    monkeypatch.setenv("LIFECYCLE_SPARK_REMOTE", "sc://gateway:15002")
    home = tmp_path / "home"
    with pytest.raises(Exception, match=r"'spark.remote' \(sc://gateway:15002\): the nightly graph does not run over Spark Connect yet.*give 'spark.master' instead"):
        materialize(REPO / "lifecycle.yaml", home, selection="analysis_scope")
    assert not (home / "warehouse").exists() and not (home / "exports").exists()


# --- translation -------------------------------------------------------------------------------

# DuckDB expressions whose Spark translation must mean the same: each is evaluated on both engines
# over the same little table and must give the same value.
SAME_MEANING = {
    "a date minus a date (columns named as dates are) is a number of days": "max(order_date) - min(order_date)",
    "a difference of dates compares with a number": "(max(order_date) - min(order_date)) > 30",
    "dividing decimals gives a double": "sum(amount) / 3",
    "dividing integers gives a double": "count(*) / 4",
    "the average of decimals is a double": "avg(amount)",
    "quantile_cont interpolates": "quantile_cont(amount, 0.3)",
    "quantile_disc picks a value": "quantile_disc(n, 0.4)",
    "a list of quantiles, indexed from 1": "quantile_disc(n, [0.2, 0.8])[2]",
    "the median": "median(n)",
    "format with placeholders": "format('{} of {:.2f}', count(*), avg(amount))",
    "the latest value": "arg_max(n, order_date)",
    "a filtered count": "count(*) filter (where n > 2)",
    "integer division": "max(n) // 2",
    "a list in order, counted from the end": "list(n order by order_date)[-2]",
    "any_value skips nulls": "any_value(case when n > 3 then n end)",
    "a sum in a fixed order": "sum(amount::double / 3 order by order_date)",
    "a filtered integer sum in a fixed order": "sum(n order by order_date) filter (where n > 2)",
    "a sum in a fixed order of nothing is null": "sum(n order by order_date) filter (where n > 9)",
    "an average in a fixed order": "avg(amount::double order by n desc)",
}
SAMPLE_ROWS = "select * from (values (1, date '2024-01-05', 10.25::decimal(18, 4)), (2, date '2024-03-01', 3.5::decimal(18, 4)), (3, date '2024-02-10', 7.125::decimal(18, 4)), (4, date '2024-01-20', 1.0::decimal(18, 4)), (5, date '2024-04-30', 2.0::decimal(18, 4))) as rows(n, order_date, amount)"


@pytest.mark.parametrize("expression", SAME_MEANING.values(), ids=SAME_MEANING.keys())
def test_duckdb_sql_means_the_same_on_spark(spark, expression):
    from common.spark import SparkConnection

    query = f"select {expression} as value from ({SAMPLE_ROWS})"
    with duckdb.connect() as duck:
        expected = duck.execute(query).fetchall()[0][0]
    actual = SparkConnection(spark).execute(query).fetchone()[0]
    assert_equal_values(expected, actual)


def test_a_numbering_in_no_order_gives_every_row_a_key_of_its_own_on_both_engines(spark):
    """`row_number() over ()` (chain_breakers' day id): Spark numbers rows only in an order, so there
    it is monotonically_increasing_id(), unique as well."""
    from common.spark import SparkConnection

    query = f"select count(distinct row_key) = count(*) and count(*) = 5 from (select row_number() over () as row_key from ({SAMPLE_ROWS}))"
    with duckdb.connect() as duck:
        assert duck.execute(query).fetchone()[0] is True
    assert SparkConnection(spark).execute(query).fetchone()[0] is True


def test_a_duckdb_macro_is_expanded_where_it_is_used(spark):
    from common.spark import SparkConnection

    conn = SparkConnection(spark)
    conn.execute(
        "create or replace temp macro days_between(start_date, end_date) as end_date - start_date;"
        "create or replace temp macro late(a, b) as days_between(a, b) > 30"
    )
    assert conn.execute("select late(date '2024-01-01', date '2024-03-01'), days_between(date '2024-01-01', $day)", {"day": "2024-01-11"}).fetchone() == (True, 10)


# --- the SQL stages on Spark, equal to DuckDB ----------------------------------------------------

# What the SQL stages read that other steps produce: the canonical source tables (ingestion), the
# fitted CLV models (fitted on the driver from compact rows; the per-customer scoring runs on Spark)
# and the survey segments.
INPUTS = [
    "purchases", "products", "customers", "events", "service_scores", "survey_responses",
    "purchases_quarantine", "products_quarantine", "customers_quarantine", "events_quarantine",
    "service_scores_quarantine", "survey_responses_quarantine", "load_audit",
    "clv_model", "survey_segments", "survey_segment_quality",
]
# Every table the SQL stages build, in build order.
SQL_TABLES = [
    "analysis_scope", "customer_purchase_days", "customer_rfm", "customer_clv", "purchase_chains", "chain_breakers",
    "customer_chain_summary", "repeat_timing", "cohort_retention", "lifecycle_history", "customer_abc",
    "new_vs_established", "lifecycle_transitions", "customer_lifecycle", "pareto", "customer_categories",
    "cross_sell_candidates", "repurchase_windows", "next_best_action", "customer_profile",
]


DATA_SETS = {
    "sample": (REPO / "lifecycle.yaml", None),
    "online_retail": (REPO / "examples" / "online_retail.yaml", "online_retail/online_retail.csv.gz"),
}
# Where the Spark run's source tables come from: on the sample, the files themselves, loaded by the
# Spark loader (assets/ingest/spark_loading.py), so the tables are built from the files to the end on
# Spark; on Online Retail (half a million lines, loaded alike by the loader's own tests), copies of
# DuckDB's, to keep the test's time in bounds.
LOADED_FROM_FILES = {"sample"}
MODEL_OUTPUTS = ["clv_model", "survey_segments", "survey_segment_quality"]


@pytest.fixture(scope="module", params=DATA_SETS)
def duckdb_run(request, tmp_path_factory) -> tuple[Path, Path]:
    """The whole graph on DuckDB over a data set: its config and output root."""
    config, shared = DATA_SETS[request.param]
    if shared:
        requires_shared_data(shared)
    home = tmp_path_factory.mktemp(f"duckdb-{request.param}") / "home"
    materialize(config, home)
    return config, home, request.param in LOADED_FROM_FILES


@pytest.fixture(scope="module")
def spark_tables(spark, duckdb_run):
    """The SQL stages' tables built on Spark from the DuckDB run's inputs: each table's outcome,
    built or the error that stopped it."""
    from common.spark import SparkConnection

    spark.sql("drop database if exists main cascade")
    conn = SparkConnection(spark)
    return conn, build_on_spark(conn, *duckdb_run)


@pytest.mark.parametrize("table", SQL_TABLES)
def test_spark_builds_the_same_table_as_duckdb(duckdb_run, spark_tables, table):
    conn, outcomes = spark_tables
    if outcomes[table] is not None:
        raise outcomes[table]
    with connect(duckdb_run[1]) as duck:
        assert_same_table(duck, conn, table)


def build_on_spark(conn, config: Path, duckdb_home: Path, from_files: bool = False, tables: list[str] = SQL_TABLES) -> dict:
    """The inputs of a DuckDB run in Spark (the source tables loaded from the files by the Spark
    loader, or copied), then `tables` built there with the stages' own build functions; each
    table's outcome: None when built, else the error that stopped it."""
    from assets.ingest.spark_loading import sync_source_spark
    from common.sources import plan_sources

    from assets.customer_value.modeling import build_customer_clv, load_fit
    from assets.ingest.assets import SQL as INGEST
    from common.warehouse import create_table, create_view
    from tests.fixtures import build

    settings = load_settings(config)
    night = duckdb_home / "exports" / "current"
    if from_files:
        started = datetime.now()
        for plan in plan_sources(settings).values():
            sync_source_spark(conn.spark, plan, started)
    for table in MODEL_OUTPUTS if from_files else INPUTS:
        conn.spark.read.parquet(str(night / f"{table}.parquet")).write.mode("overwrite").saveAsTable(f"main.{table}")
    outcomes = {}
    for table in tables:
        try:
            if table in ("analysis_scope", "customer_purchase_days"):
                create_table(conn, table, INGEST / f"{table}.sql", {"as_of": settings.as_of, "time_unit": settings.time_unit})
                if table == "analysis_scope":
                    create_view(conn, "purchase_lines", INGEST / "purchase_lines.sql")
            elif table == "customer_clv":
                build_customer_clv(conn, load_fit(conn), settings.time_unit, settings.customer_value)
            else:
                build(conn, table, chains=settings.chains, lifecycle=settings.lifecycle, actions=settings.actions)
            outcomes[table] = None
        except Exception as error:  # noqa: BLE001 (reported by the table's own test)
            outcomes[table] = error
    return outcomes


def assert_same_table(duck: duckdb.DuckDBPyConnection, conn, table: str) -> None:
    """Same columns, types up to the engines' names, rows and values in DuckDB and on Spark."""
    expected = duck.execute(f"select * from {table}")
    duck_types = [(column[0], column[1]) for column in expected.description]
    duck_rows = expected.fetchall()
    spark_types = conn.columns(table)
    assert [name for name, _ in spark_types] == [name for name, _ in duck_types]
    # a column DuckDB could give no type (NULL: nothing but nulls, e.g. the survey segment without a survey) takes any on Spark
    assert [type_family(str(kind)) for (_, kind), (_, duck_kind) in zip(spark_types, duck_types, strict=True) if str(duck_kind) != '"NULL"'] == [
        type_family(str(kind)) for _, kind in duck_types if str(kind) != '"NULL"'
    ]
    spark_rows = conn.execute(f"select * from {table}").fetchall()
    assert len(spark_rows) == len(duck_rows)
    for duck_row, spark_row in zip(sorted(duck_rows, key=row_order), sorted(spark_rows, key=row_order), strict=True):
        for name, expected_value, actual_value in zip([name for name, _ in duck_types], duck_row, spark_row, strict=True):
            assert_equal_values(expected_value, actual_value, f"{table}.{name}")


# --- a real cluster ------------------------------------------------------------------------------

# Enough of the graph to cross every kind of translation (macros, windows, quantiles, lists, the CLV
# lookup frames) on executors that are separate processes from the driver.
CLUSTER_TABLES = [
    "analysis_scope", "customer_purchase_days", "customer_rfm", "customer_clv", "purchase_chains",
    "lifecycle_history", "customer_lifecycle", "customer_categories",
]


@pytest.mark.parametrize("duckdb_run", ["sample"], indirect=True)
def test_on_a_standalone_cluster_spark_builds_the_same_tables_as_duckdb(duckdb_run, standalone_cluster, tmp_path):
    """A driver in its own process against spark://127.0.0.1:<port>, executors in the workers' processes."""
    config, duckdb_home, _ = duckdb_run
    run = subprocess.run(
        [sys.executable, "-m", "tests.test_spark_engine", standalone_cluster, str(config), str(duckdb_home), str(tmp_path / "warehouse")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=900,
    )
    report = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-3000:]
    assert run.returncode == 0, report
    assert json.loads(report) == {"master": standalone_cluster, "executors": 2, **dict.fromkeys(CLUSTER_TABLES, "equal")}


def compare_on_cluster(master: str, config: Path, duckdb_home: Path, warehouse: Path) -> int:
    """The cluster test's driver: build CLUSTER_TABLES on the cluster, compare each with DuckDB,
    print one JSON line of outcomes."""
    from common.config import SparkSettings
    from common.spark import SparkConnection, spark_session

    conf = {"spark.executor.memory": "768m", "spark.driver.host": "127.0.0.1", "spark.ui.showConsoleProgress": "false"}
    spark = spark_session(SparkSettings(master=master, conf=conf), warehouse, app_name="retail-lifecycle-cluster-test")
    spark.sparkContext.setLogLevel("ERROR")
    conn = SparkConnection(spark)
    outcomes = build_on_spark(conn, config, duckdb_home, tables=CLUSTER_TABLES)
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # less the driver
    report = {"master": master, "executors": executors}
    with duckdb.connect(str(duckdb_home / "warehouse" / "lifecycle.duckdb"), read_only=True) as duck:
        for table in CLUSTER_TABLES:
            try:
                if outcomes[table] is not None:
                    raise outcomes[table]
                assert_same_table(duck, conn, table)
                report[table] = "equal"
            except Exception as error:  # noqa: BLE001 (reported in the test's assertion)
                report[table] = str(error).splitlines()[0][:500] if str(error) else repr(error)
    spark.stop()
    print(json.dumps(report))
    return 0


# --- comparing values across engines -----------------------------------------------------------

def row_order(row: tuple):
    """Exact values first, floats last and rounded, so that rows equal up to float rounding sort alike."""
    exact = [(value is None, str(value)) for value in row if not isinstance(value, float)]
    floats = [(value is None or math.isnan(value), 0.0 if value is None or math.isnan(value) else float(f"{value:.6g}")) for value in row if isinstance(value, float)]
    return exact, floats


def assert_equal_values(expected, actual, where: str = "value") -> None:
    if isinstance(expected, float) or isinstance(actual, float):
        if expected is None or actual is None:
            assert expected is None and actual is None, f"{where}: {expected!r} != {actual!r}"
        elif math.isnan(float(expected)):
            assert math.isnan(float(actual)), f"{where}: {expected!r} != {actual!r}"
        else:
            assert float(actual) == pytest.approx(float(expected), rel=1e-9, abs=1e-12), f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, Decimal) and isinstance(actual, Decimal):
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, list) and isinstance(actual, list):
        assert len(expected) == len(actual), f"{where}: {expected!r} != {actual!r}"
        for left, right in zip(expected, actual, strict=True):
            assert_equal_values(left, right, where)
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


if __name__ == "__main__":
    sys.exit(compare_on_cluster(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
