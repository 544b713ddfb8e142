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


def test_a_run_in_a_new_process_sees_the_tables_of_the_run_before_and_skips_unchanged_files(tmp_path):
    if java_missing():
        pytest.skip(java_missing())
    sample = yaml.safe_load((REPO / "lifecycle.yaml").read_text())["sources"]["purchases"]
    config = write_config(tmp_path, {"sources": {"purchases": {**sample, "path": str(REPO / sample["path"])}}})
    home = tmp_path / "home"
    first = run_in_new_process(config, home, "purchases")
    assert first.returncode == 0, first.stderr[-3000:]
    audit_before = spark_table(home, "load_audit")
    purchases = spark_table(home, "purchases", "select count(*) from rows")
    assert len(audit_before) >= 1 and purchases[0][0] > 0

    second = run_in_new_process(config, home, "purchases")
    assert second.returncode == 0, second.stderr[-3000:]
    registered = re.search(r"\((\d+) from earlier runs registered\)", second.stderr)
    assert registered and int(registered.group(1)) >= 3  # purchases, its quarantine, load_audit
    # the files were not loaded again: their audit rows (with the time they were loaded) are the first run's
    assert spark_table(home, "load_audit") == audit_before
    assert spark_table(home, "purchases", "select count(*) from rows") == purchases


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


@pytest.fixture(scope="module", params=DATA_SETS)
def both_engines(request, tmp_path_factory) -> tuple[Comparison, subprocess.CompletedProcess]:
    """The whole graph run once per data set on DuckDB and once on Spark local mode; what differs."""
    if java_missing():
        pytest.skip(java_missing())
    config, shared = DATA_SETS[request.param]
    if shared:
        requires_shared_data(shared)
    work = tmp_path_factory.mktemp(f"graph-{request.param}")
    on_duckdb = run_graph(config, work / "duckdb", LIFECYCLE_ENGINE="duckdb")
    assert on_duckdb.returncode == 0, on_duckdb.stderr[-3000:]
    on_spark = run_graph(config, work / "spark", LIFECYCLE_ENGINE="spark", LIFECYCLE_SPARK_MASTER="local[2]")
    return compare(publish_folder(work / "duckdb"), spark_tables(work / "spark"), across_engines=True), on_spark


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
