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

from bench.compare import Comparison, compare
from common.contracts import load_contracts
from tests.conftest import REPO, java_missing, requires_shared_data


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
