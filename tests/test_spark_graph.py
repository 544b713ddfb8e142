"""The whole nightly graph on `engine: spark`: the warehouse resource, the catalog that outlives the
process, and the published tables equal to DuckDB's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from bench.compare import Comparison, compare
from common.contracts import load_contracts
from tests.conftest import REPO, java_missing, requires_shared_data, write_config


def run_in_new_process(config: Path, home: Path, selection: str, **environment: str) -> subprocess.CompletedProcess:
    """`dagster asset materialize` in a process of its own (as a nightly run or one launched from
    the UI is), on the Spark engine."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIFECYCLE_CONFIG": str(config), "LIFECYCLE_HOME": str(home),
           "LIFECYCLE_ENGINE": "spark", "DAGSTER_HOME": str(home / "dagster"), "PYSPARK_PYTHON": sys.executable,
           **environment}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
         "--select", selection],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )


def spark_table(home: Path, table: str, query: str = "select * from rows order by all") -> list[tuple]:
    """The rows of a table of the Spark warehouse, read from its Parquet files."""
    with duckdb.connect() as conn:
        files = conn.read_parquet(str(home / "warehouse" / "spark" / "main.db" / table / "*.parquet"))
        return files.query("rows", query).fetchall()


# --- the whole graph on Spark publishes the tables DuckDB publishes --------------------------------

# Every table a night publishes (views are not published: their rows are another table's).
PUBLISHED = sorted(table for table, declared in load_contracts().items() if not declared.is_view)
DATA_SETS = {
    "sample": (REPO / "lifecycle.yaml", None),
    "online_retail": (REPO / "examples" / "online_retail.yaml", "online_retail/online_retail.csv.gz"),
}


def spark_tables(home: Path) -> Path:
    """What a Spark run published (`exports/current`), or, when publishing did not finish, its
    warehouse tables (the Spark database's folder of Parquet tables)."""
    night = home / "exports" / "current"
    return night.resolve() if night.exists() else home / "warehouse" / "spark" / "main.db"


def run_graph(config: Path, home: Path, **environment: str) -> subprocess.CompletedProcess:
    """The nightly job (`pipelines.run`, execute_in_process) in a process of its own, nice'd."""
    shutil.rmtree(home, ignore_errors=True)
    (home / "dagster").mkdir(parents=True)
    shutil.copy(REPO / "pipelines" / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIFECYCLE_CONFIG": str(config), "LIFECYCLE_HOME": str(home),
           "DAGSTER_HOME": str(home / "dagster"), "PYSPARK_PYTHON": sys.executable, **environment}
    return subprocess.run(["nice", "-n", "10", sys.executable, "-m", "pipelines.run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600, check=False)


@pytest.fixture(scope="module")
def duckdb_night(tmp_path_factory):
    """What the whole graph on DuckDB publishes for a data set, run once per data set."""
    nights: dict[str, Path] = {}

    def night(data_set: str) -> Path:
        if data_set not in nights:
            config, shared = DATA_SETS[data_set]
            if shared:
                requires_shared_data(shared)
            home = tmp_path_factory.mktemp(f"duckdb-{data_set}") / "home"
            run = run_graph(config, home, LIFECYCLE_ENGINE="duckdb")
            assert run.returncode == 0, run.stderr[-3000:]
            nights[data_set] = publish_folder(home)
        return nights[data_set]

    return night


@pytest.fixture(scope="module")
def spark_night(tmp_path_factory):
    """The whole graph on Spark local mode for a data set, run once per data set: its home and run."""
    runs: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}

    def night(data_set: str) -> tuple[Path, subprocess.CompletedProcess]:
        if java_missing():
            pytest.skip(java_missing())
        if data_set not in runs:
            config, shared = DATA_SETS[data_set]
            if shared:
                requires_shared_data(shared)
            home = tmp_path_factory.mktemp(f"spark-{data_set}") / "home"
            runs[data_set] = home, run_graph(config, home, LIFECYCLE_ENGINE="spark", LIFECYCLE_SPARK_MASTER="local[2]")
        return runs[data_set]

    return night


@pytest.fixture(scope="module", params=DATA_SETS)
def both_engines(request, duckdb_night, spark_night) -> tuple[Comparison, subprocess.CompletedProcess]:
    """What the whole graph publishes on Spark local mode compared with what it publishes on DuckDB."""
    home, run = spark_night(request.param)
    return compare(duckdb_night(request.param), spark_tables(home), across_engines=True), run


def publish_folder(home: Path) -> Path:
    return (home / "exports" / "current").resolve()


@pytest.mark.parametrize("table", PUBLISHED)
def test_the_graph_on_spark_publishes_the_table_duckdb_publishes(both_engines, table):
    comparison, run = both_engines
    assert table in comparison.tables, f"{table} not published on Spark: {failures(run)}"
    assert [problem for problem in comparison.problems if problem.startswith(f"{table}:")] == []


def failures(run: subprocess.CompletedProcess) -> str:
    """The run's failed steps as `pipelines.run` prints them."""
    return " | ".join(line for line in run.stderr.splitlines() if line.startswith("FAILED"))[:2000] or run.stderr[-1000:]


def test_on_a_standalone_cluster_the_graph_publishes_the_tables_duckdb_publishes(duckdb_night, standalone_cluster, tmp_path):
    """The driver in its own process against spark://127.0.0.1:<port>, the executors in the two
    workers' processes: nothing assumes driver-local state beyond the shared files."""
    home = tmp_path / "home"
    # the executors' memory within the workers' 1 GB, given the way spark-submit takes it: the config
    # stays the sample's own, whose source settings load_audit fingerprints
    submit = "--conf spark.executor.memory=768m --conf spark.driver.host=127.0.0.1 pyspark-shell"
    run = run_graph(DATA_SETS["sample"][0], home, LIFECYCLE_ENGINE="spark", LIFECYCLE_SPARK_MASTER=standalone_cluster,
                    SPARK_LOCAL_IP="127.0.0.1", PYSPARK_SUBMIT_ARGS=submit)
    assert f"engine: spark on {standalone_cluster}" in run.stdout + run.stderr
    comparison = compare(duckdb_night("sample"), spark_tables(home), across_engines=True)
    assert comparison.problems == [], failures(run)
    assert sorted(comparison.tables) == PUBLISHED


@pytest.fixture(scope="module")
def over_spark_connect(duckdb_night, spark_connect_server, tmp_path_factory) -> tuple[Comparison, subprocess.CompletedProcess]:
    """The whole graph on the sample as a Spark Connect client of a server on loopback, compared with
    DuckDB's night. The client is given no Spark installation to start a JVM from (SPARK_HOME an
    empty folder): everything it does goes through the server, and the files it lists, hashes and
    moves itself are in the folders both see at the same path."""
    home = tmp_path_factory.mktemp("spark-connect-sample") / "home"
    no_spark = tmp_path_factory.mktemp("no-spark-home")
    run = run_graph(DATA_SETS["sample"][0], home, LIFECYCLE_ENGINE="spark", LIFECYCLE_SPARK_REMOTE=spark_connect_server,
                    SPARK_HOME=str(no_spark))
    assert f"engine: spark on {spark_connect_server}" in run.stderr, run.stderr[-3000:]
    return compare(duckdb_night("sample"), spark_tables(home), across_engines=True), run


@pytest.mark.parametrize("table", PUBLISHED)
def test_over_spark_connect_the_graph_publishes_the_table_duckdb_publishes(over_spark_connect, table):
    comparison, run = over_spark_connect
    assert table in comparison.tables, f"{table} not published over Spark Connect: {failures(run)}"
    assert [problem for problem in comparison.problems if problem.startswith(f"{table}:")] == []


def test_a_setting_a_spark_connect_session_cannot_change_stops_the_run_at_start_naming_it(spark_connect_server, tmp_path):
    """spark.executor.memory is the server's to set when it starts; pyspark's builder would drop it
    without a word. The session's own settings (spark.sql.*) are set."""
    purchases = yaml.safe_load((REPO / "lifecycle.yaml").read_text())["sources"]["purchases"]
    config = write_config(tmp_path, {
        "sources": {"purchases": {**purchases, "path": str(REPO / purchases["path"])}},
        "spark": {"conf": {"spark.sql.shuffle.partitions": 4, "spark.executor.memory": "2g"}},
    })
    home = tmp_path / "home"
    run = run_in_new_process(config, home, "analysis_scope", LIFECYCLE_SPARK_REMOTE=spark_connect_server)
    assert run.returncode != 0
    assert (f"the Spark Connect server at {spark_connect_server} does not let a session set spark.executor.memory "
            "(CANNOT_MODIFY_CONFIG); give them where the server is started") in run.stderr
    assert "spark.sql.shuffle.partitions" not in run.stderr
    assert not (home / "warehouse" / "spark").exists()


def test_a_second_warehouse_on_the_same_spark_connect_server_stops_at_start(over_spark_connect, spark_connect_server, tmp_path):
    """The server's catalog is one for all its clients: another warehouse's run would take the
    first one's database `main` and write its tables there."""
    home = tmp_path / "home"
    run = run_in_new_process(DATA_SETS["sample"][0], home, "analysis_scope", LIFECYCLE_SPARK_REMOTE=spark_connect_server)
    assert run.returncode != 0
    assert "the Spark session's database 'main' is at " in run.stderr
    assert f"not in this run's warehouse {home / 'warehouse' / 'spark' / 'main.db'}" in run.stderr
    assert not (home / "warehouse" / "spark").exists()


def test_a_run_in_a_new_process_sees_the_tables_of_the_runs_before_and_skips_unchanged_files(spark_night):
    home, _ = spark_night("sample")
    audit_before = spark_table(home, "load_audit")
    purchases = spark_table(home, "purchases", "select count(*) from rows")
    assert len(audit_before) >= 5 and purchases[0][0] > 0

    again = run_in_new_process(DATA_SETS["sample"][0], home, "purchases", LIFECYCLE_SPARK_MASTER="local[2]")
    assert again.returncode == 0, again.stderr[-3000:]
    registered = re.search(r"\((\d+) from earlier runs registered\)", again.stderr)
    tables = [folder for folder in (home / "warehouse" / "spark" / "main.db").iterdir() if any(folder.glob("*.parquet"))]
    assert registered and int(registered.group(1)) == len(tables) > 40
    # the files were not loaded again: their audit rows (with the time they were loaded) are the first run's
    assert spark_table(home, "load_audit") == audit_before
    assert spark_table(home, "purchases", "select count(*) from rows") == purchases
