"""Operating the nightly run: config mistakes stopped with one message, faults of the machine named
with what to do, one writer at a time, failed runs alerted, a missed night visible in the UI."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
from conftest import REPO, connect, free_port, graphql, materialize, stop_process_group, write_config

from common.config import ConfigError, load_settings
from common.resources import (
    OperationsConfig,
    Warehouse,
    build_resources,
    warehouse_path,
)
from pipelines.definitions import defs
from pipelines.sensors import alert_on_failure, new_source_files

HEADER = "order_id,customer_id,order_ts,product_id,quantity,unit_price\n"
SHOP = ["O1,C1,2024-01-02,P1,1,2.00", "O2,C1,2024-01-09,P1,1,2.00", "O3,C2,2024-01-05,P2,2,3.50"]


def small_shop(folder: Path, **settings) -> Path:
    (folder / "in").mkdir(parents=True, exist_ok=True)
    (folder / "in" / "p1.csv").write_text(HEADER + "".join(line + "\n" for line in SHOP))
    return write_config(folder, {"sources": {"purchases": {"path": "in"}}, **settings})


def config_error(tmp_path: Path, **settings) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(small_shop(tmp_path, **settings))
    return str(raised.value)


def run_failure_message(result) -> str:
    return result.get_run_failure_event().event_specific_data.error.message


# --- config ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "named"), [
    ({"customer_value": {"holdout_fraction": 1.5}}, "'customer_value.holdout_fraction': 1.5 is out of range"),
    ({"customer_value": {"holdout_fraction": 0}}, "'customer_value.holdout_fraction': 0 is out of range"),
    ({"customer_value": {"annual_discount_rate": -0.1}}, "'customer_value.annual_discount_rate': -0.1 is out of range"),
    ({"customer_value": {"min_customers": 0}}, "'customer_value.min_customers': 0 is out of range"),
    ({"chains": {"window_days": -3}}, "'chains.window_days': -3 is out of range"),
    ({"lifecycle": {"vip_top_share": 5}}, "'lifecycle.vip_top_share': 5 is out of range"),
    ({"lifecycle": {"lapsed_days": -10}}, "'lifecycle.lapsed_days': -10 is out of range"),
    ({"lifecycle": {"lapsed_p_alive": 0.6, "at_risk_p_alive": 0.5}}, "lapsed_p_alive (0.6) is above at_risk_p_alive (0.5)"),
    ({"survey": {"k_min": 6, "k_max": 3}}, "'survey': k_min (6) is larger than k_max (3)"),
    ({"survey": {"k": 1}}, "'survey.k': 1 is out of range"),
    ({"survey": {"max_missing_share": 1}}, "'survey.max_missing_share': 1 is out of range"),
    ({"survey": {"scale_min": 5, "scale_max": 1}}, "scale_min (5) must be below scale_max (1)"),
    ({"actions": {"welcome_days": 0}}, "'actions.welcome_days': 0 is out of range"),
    ({"publish": {"keep_nights": 0}}, "'publish.keep_nights': 0 is out of range"),
    ({"schedule": {"timezone": "Europe/Berlln"}}, "'schedule.timezone': 'Europe/Berlln' is not an IANA time zone"),
    ({"schedule": {"cron": "0 2 * *"}}, "'schedule.cron': '0 2 * *' is not a cron schedule"),
    ({"alerts": {"webhook_url": "hooks.example.org"}}, "'alerts.webhook_url': 'hooks.example.org' is not an http(s) URL"),
])
def test_a_setting_out_of_its_range_is_a_config_error_naming_the_key(tmp_path, settings, named):
    assert named in config_error(tmp_path, **settings)


def test_the_defaults_and_the_shipped_configs_are_in_range():
    for config in [REPO / "lifecycle.yaml", *sorted((REPO / "examples").glob("*.yaml"))]:
        load_settings(config)


def test_an_as_of_after_the_runs_own_date_is_a_config_error_naming_both_dates(tmp_path):
    tomorrow = date.today() + timedelta(days=1)
    message = config_error(tmp_path, as_of=tomorrow.isoformat())
    assert f"'as_of': {tomorrow} is after the run's own date, {date.today()}" in message


def test_a_config_error_stops_the_run_with_one_message_before_anything_is_written(tmp_path, home):
    result = materialize(small_shop(tmp_path, chains={"window_days": -3}), home, raise_on_error=False)
    message = run_failure_message(result)
    assert message.startswith("Config error: ") and message.count("\n") == 1
    assert "'chains.window_days': -3 is out of range" in message
    assert not warehouse_path(home).exists()


def test_an_as_of_before_the_first_purchase_stops_the_run_naming_both_dates_and_keeps_the_scope(tmp_path, home):
    assert materialize(small_shop(tmp_path), home, selection=["purchases", "analysis_scope"]).success
    result = materialize(small_shop(tmp_path, as_of="2023-12-01"), home, raise_on_error=False)
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == "analysis_scope"
    description = failure.event_specific_data.user_failure_data.description
    assert "as_of 2023-12-01" in description and "before the first purchase, 2024-01-02" in description
    with connect(home) as conn:
        assert str(conn.execute("select as_of from analysis_scope").fetchone()[0]) == "2024-01-09"


def test_a_config_error_through_the_dagster_cli_is_printed_once_without_a_trace(tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "pipelines" / "dagster.yaml", dagster_home)
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(dagster_home),
        "LIFECYCLE_CONFIG": str(small_shop(tmp_path, customer_value={"holdout_fraction": 1.5})),
        "LIFECYCLE_HOME": str(tmp_path / "home"),
    }
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "pipelines.definitions", "--select", "*"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    output = cli.stdout + cli.stderr
    assert cli.returncode != 0
    assert output.count("'customer_value.holdout_fraction': 1.5 is out of range") == 1
    failure = output[output.index("RUN_FAILURE"):]
    assert failure.splitlines()[2].startswith("Config error: ")
    assert "Stack Trace" not in output and "Traceback" not in output


# --- faults of the machine ----------------------------------------------------------------------


def warehouse_at(tmp_path: Path, memory: str = "1GB", load_memory: str = "1500MB") -> Warehouse:
    database = tmp_path / "warehouse" / "lifecycle.duckdb"
    database.parent.mkdir(parents=True, exist_ok=True)
    return Warehouse(database=str(database), memory_limit=memory, load_memory_limit=load_memory)


@pytest.mark.parametrize(("connection", "setting"), [
    ("get_connection", "LIFECYCLE_DUCKDB_MEMORY=16MB"),
    ("get_loading_connection", "LIFECYCLE_DUCKDB_LOAD_MEMORY=16MB"),
])
def test_running_out_of_memory_names_the_setting_to_raise_and_its_value(tmp_path, connection, setting):
    warehouse = warehouse_at(tmp_path, memory="16MB", load_memory="16MB")
    with pytest.raises(dg.Failure) as raised, getattr(warehouse, connection)() as conn:
        conn.execute("select list(range) from range(20000000)").fetchall()
    description = raised.value.description
    assert description.startswith(f"DuckDB ran out of memory with {setting}: raise")
    assert "=32MB" in description and "Out of Memory Error" in description


def test_work_larger_than_the_memory_limit_spills_to_disk_instead_of_failing(tmp_path):
    with warehouse_at(tmp_path, memory="64MB").get_connection() as conn:
        rows = conn.execute(
            "select count(*) from (select range % 3000000 as k, count(*) from range(6000000) group by k)"
        ).fetchone()[0]
    assert rows == 3_000_000


HOLDER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
"""


def test_a_warehouse_held_open_by_another_process_fails_at_once_naming_that_process(tmp_path, home):
    config_path = small_shop(tmp_path)
    assert materialize(config_path, home).success
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse_path(home))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        result = materialize(config_path, home, raise_on_error=False)
        assert time.monotonic() - started < 30
    finally:
        holder.communicate("\n", timeout=30)
    message = run_failure_message(result)
    assert message.startswith(f"the warehouse {warehouse_path(home)} is held open by another process, PID {holder.pid} (")
    assert "python" in message and message.count("\n") == 1


LOCK_HOLDER = """
import logging, sys
from pathlib import Path
from common.resources import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire("a-scheduled-run", logging.getLogger())
print("held", flush=True)
sys.stdin.readline()
lock.release()
"""


def test_make_run_waits_while_another_run_writes_the_warehouse(tmp_path):
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "pipelines" / "dagster.yaml", dagster_home)
    (home / "warehouse").mkdir(parents=True)
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(dagster_home),
        "LIFECYCLE_CONFIG": str(small_shop(tmp_path)), "LIFECYCLE_HOME": str(home),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(home / "warehouse" / "writer.lock")],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    log = tmp_path / "make_run.log"
    with log.open("w") as output:
        run = subprocess.Popen([sys.executable, "-m", "pipelines.run"], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while "waiting for the warehouse" not in log.read_text():
                assert run.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            assert "a-scheduled-run" in log.read_text()
            assert not warehouse_path(home).exists()
        finally:
            holder.communicate("\n", timeout=30)
        assert run.wait(timeout=300) == 0, log.read_text()
    assert (home / "exports" / "current" / "manifest.json").is_file()


# --- alerts -------------------------------------------------------------------------------------


@pytest.fixture
def webhook():
    """A local HTTP endpoint on the loopback interface that records what is posted to it."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def failed_run(tmp_path: Path, config_path: Path, instance: dg.DagsterInstance):
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        resources=build_resources(str(config_path), tmp_path / "home"),
        instance=instance,
        raise_on_error=False,
    )


def failure_context(instance, result):
    """What the run-failure sensor is handed for the failed run `result`."""
    return dg.build_run_status_sensor_context(
        sensor_name="alert_on_failure",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_a_failed_run_is_posted_to_the_configured_webhook_with_the_reason(tmp_path, webhook):
    url, received = webhook
    config_path = small_shop(tmp_path, as_of="2023-12-01", alerts={"webhook_url": url})
    with dg.instance_for_test() as instance:
        result = failed_run(tmp_path, config_path, instance)
        context = failure_context(instance, result)
        alert_on_failure(context, operations_config=OperationsConfig(config_path=str(config_path)))
    (alert,) = received
    assert alert["run_id"] == result.run_id
    assert list(alert["failed_steps"]) == ["analysis_scope"]
    assert alert["text"].startswith(f"Lifecycle run {result.run_id[:8]} (__ephemeral_asset_job__) failed: analysis_scope: as_of 2023-12-01")
    assert "before the first purchase, 2024-01-02" in alert["text"]


def test_a_config_error_is_alerted_too_and_the_environment_names_the_webhook(tmp_path, webhook):
    url, received = webhook
    config_path = small_shop(tmp_path, customer_value={"holdout_fraction": 1.5})
    with dg.instance_for_test() as instance:
        result = failed_run(tmp_path, config_path, instance)
        context = failure_context(instance, result)
        skipped = alert_on_failure(context, operations_config=OperationsConfig(config_path=str(config_path)))
        assert isinstance(skipped, dg.SkipReason) and not received
        alert_on_failure(context, operations_config=OperationsConfig(config_path=str(config_path), webhook_from_environment=url))
    (alert,) = received
    assert alert["failed_steps"] == {}
    assert "failed: Config error: " in alert["text"] and "'customer_value.holdout_fraction': 1.5" in alert["text"]


def test_the_file_sensor_says_why_it_skips_when_the_config_is_broken(tmp_path):
    config_path = small_shop(tmp_path, customer_value={"holdout_fraction": 1.5})
    with dg.build_sensor_context(resources={"operations_config": OperationsConfig(config_path=str(config_path))}) as context:
        skipped = new_source_files(context)
    assert isinstance(skipped, dg.SkipReason)
    assert "'customer_value.holdout_fraction': 1.5 is out of range" in skipped.skip_message


# --- the UI as `make ui` starts it ----------------------------------------------------------------

UI_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name cronSchedule executionTimezone }
        sensors { name sensorState { status } }
      }
    }
  }
  assetNodes(assetKeys: [{path: ["analyst_exports"]}]) {
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
    freshnessStatusInfo { freshnessStatus }
  }
}
"""



def record_old_publish(dagster_home: Path, hours_ago: float) -> None:
    """The last night published `hours_ago`, as the run history would hold it."""
    from dagster._core.events import (
        DagsterEvent,
        DagsterEventType,
        StepMaterializationData,
    )
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name=RUNLESS_JOB_NAME,
            message="",
            event_specific_data=StepMaterializationData(dg.AssetMaterialization("analyst_exports")),
        )
        instance.report_dagster_event(event, run_id=RUNLESS_RUN_ID, timestamp=time.time() - hours_ago * 3600)


def test_make_ui_starts_without_the_unused_dagster_yaml_warning_and_shows_a_missed_night(tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "pipelines" / "dagster.yaml", dagster_home)
    record_old_publish(dagster_home, hours_ago=31)  # the last night's run published, this one did not
    config_path = small_shop(tmp_path, schedule={"cron": "30 1 * * *", "timezone": "Europe/Berlin", "late_after_hours": 4})
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(dagster_home), "LIFECYCLE_CONFIG": str(config_path),
        "LIFECYCLE_HOME": str(tmp_path / "home"), "FRESHNESS_DAEMON_INTERVAL_SECONDS": "1",
    }
    log = tmp_path / "ui.log"
    with log.open("w") as output:
        # what `make ui` runs, from the repository's folder
        ui = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline, status = time.monotonic() + 240, None
            while status != "DEGRADED":
                assert ui.poll() is None and time.monotonic() < deadline, (status, log.read_text()[-3000:])
                time.sleep(2)
                try:
                    data = graphql(port, UI_QUERY)
                except OSError:
                    continue
                (repository,), (exports,) = data["repositoriesOrError"]["nodes"], data["assetNodes"]
                status = (exports["freshnessStatusInfo"] or {}).get("freshnessStatus")
        finally:
            stop_process_group(ui)
    assert "will not be used" not in log.read_text()
    (schedule,) = repository["schedules"]
    assert (schedule["cronSchedule"], schedule["executionTimezone"]) == ("30 1 * * *", "Europe/Berlin")
    assert exports["internalFreshnessPolicy"]["failWindowSeconds"] == (24 + 4) * 3600
    assert {sensor["name"]: sensor["sensorState"]["status"] for sensor in repository["sensors"]} == {
        "new_source_files": "RUNNING", "alert_on_failure": "RUNNING",
    }
