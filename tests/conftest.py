"""Shared test helpers: write a small config and input files, run assets, open the warehouse."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import socket
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from common.resources import build_resources, warehouse_path
from pipelines.definitions import defs

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows (dicts) as a CSV file with a header; columns default to the first row's keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_config(folder: Path, settings: dict) -> Path:
    path = folder / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def materialize(config_path: Path, home: Path, selection: str = "*", raise_on_error: bool = True):
    """Run the real asset graph (or a selection of it) on a config, writing under `home`."""
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=selection,
        resources=build_resources(str(config_path), home),
        raise_on_error=raise_on_error,
    )


def connect(home: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse_path(home)), read_only=read_only)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def requires_shared_data(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    """Ask a Dagster webserver on loopback a GraphQL query; its `data`."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def stop_process_group(process: subprocess.Popen, grace_seconds: float = 60) -> None:
    """Stop a server started in its own session (`dagster dev` and its daemon, webserver and code
    server): asked to stop first, killed if it has not within the grace period, so a slow shutdown
    cannot fail a test whose checks have passed."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def java_missing() -> str | None:
    """Why Spark cannot start here (no Java runtime), or None."""
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return None
    return "no Java runtime for Spark: install it (Debian: sudo apt-get install default-jre-headless) or set JAVA_HOME"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local Spark session for the test run: two cores, no UI, a warehouse in a temporary folder,
    few shuffle partitions (the test tables are small)."""
    reason = java_missing()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("retail-lifecycle-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A standalone Spark cluster on loopback, started with the scripts that ship in pyspark: one
    master, two workers of one core each. Its master URL; stopped afterwards."""
    import pyspark

    if java_missing():
        pytest.skip(java_missing())
    tmp_path = tmp_path_factory.mktemp("spark-cluster")
    spark_home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(tmp_path)}
    port, ui_port = free_port(), free_port()
    spark_class = str(spark_home / "bin" / "spark-class")
    started = []

    def start(name: str, *arguments: str) -> None:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (open while the process runs)
        started.append(subprocess.Popen([spark_class, *arguments], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port))
    master = f"spark://127.0.0.1:{port}"
    for number in (1, 2):
        start(f"worker{number}", "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1", "--cores", "1",
              "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(tmp_path / f"work{number}"))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
                    if json.load(response).get("aliveworkers") == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "master.log").read_text()[-2000:]
            time.sleep(1)
        yield master
    finally:
        for process in reversed(started):
            stop_process_group(process, grace_seconds=30)


@pytest.fixture(scope="module")
def spark_connect_server(tmp_path_factory):
    """A Spark Connect server on loopback, started in the foreground with the script that ships in
    pyspark (sbin/start-connect-server.sh, spark-connect's jar is in pyspark's jars) on local[2]:
    its sc:// URL once it accepts connections; stopped afterwards."""
    import pyspark

    if java_missing():
        pytest.skip(java_missing())
    tmp_path = tmp_path_factory.mktemp("spark-connect")
    spark_home = Path(pyspark.__file__).parent
    port = free_port()
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(tmp_path),
           "SPARK_PID_DIR": str(tmp_path), "PYSPARK_PYTHON": sys.executable}
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            ["nice", "-n", "10", str(spark_home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.ui.enabled=false"],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_process_group(server, grace_seconds=30)
