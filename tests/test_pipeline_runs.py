"""The Dagster graph as operators use it: blocking checks, publishing for analysts, the file sensor."""

from pathlib import Path

import dagster as dg
import duckdb
from conftest import connect, materialize, write_config

from common.resources import OperationsConfig
from pipelines.definitions import defs
from pipelines.sensors import new_source_files

HEADER = "order_id,customer_id,order_ts,product_id,quantity,unit_price\n"


def small_shop(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "p1.csv").write_text(HEADER + "".join(line + "\n" for line in lines))
    return write_config(tmp_path, {"sources": {"purchases": {"path": "in"}}})


def test_a_failing_blocking_check_stops_everything_downstream(tmp_path, home):
    config_path = small_shop(tmp_path, ["O1,C1,01/02/2024,P1,1,2.00", "O2,C2,01/03/2024,P1,1,2.00"])
    result = materialize(config_path, home, raise_on_error=False)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "purchases_trustworthy"]
    assert not check.passed
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert "purchases" in materialized
    assert "analysis_scope" not in materialized
    assert "analyst_exports" not in materialized


def test_a_clean_run_publishes_every_table_as_parquet_and_a_snapshot(tmp_path, home):
    config_path = small_shop(tmp_path, ["O1,C1,2024-01-02,P1,1,2.00", "O2,C1,2024-01-09,P1,1,2.00"])
    assert materialize(config_path, home).success
    exports = home / "exports"
    with duckdb.connect(str(exports / "lifecycle.duckdb"), read_only=True) as snapshot:
        tables = [row[0] for row in snapshot.execute("select table_name from duckdb_tables()").fetchall()]
        assert snapshot.execute("select count(*) from purchases").fetchone()[0] == 2
    for table in tables:
        assert (exports / f"{table}.parquet").exists(), table
    assert not list(exports.glob(".*partial"))


def test_the_sensor_starts_a_run_only_when_a_source_file_is_new_or_changed(tmp_path):
    config_path = small_shop(tmp_path, ["O1,C1,2024-01-02,P1,1,2.00"])
    resource = OperationsConfig(config_path=str(config_path))
    with dg.build_sensor_context(resources={"operations_config": resource}) as context:
        first = new_source_files(context)
        assert isinstance(first, dg.SkipReason)
        assert isinstance(new_source_files(context), dg.SkipReason)
        (tmp_path / "in" / "p2.csv").write_text(HEADER + "O2,C2,2024-01-03,P1,1,2.00\n")
        request = new_source_files(context)
        assert isinstance(request, dg.RunRequest)
        assert isinstance(new_source_files(context), dg.SkipReason)


def test_runs_that_write_the_warehouse_are_tagged_to_queue_one_at_a_time():
    job = defs.resolve_job_def("nightly_lifecycle")
    assert job.tags["lifecycle/warehouse"] == "write"
    (schedule,) = [s for s in defs.schedules if s.name == "nightly_schedule"]
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_warehouse_of_a_run_can_be_read_while_no_run_writes(tmp_path, home):
    config_path = small_shop(tmp_path, ["O1,C1,2024-01-02,P1,1,2.00"])
    assert materialize(config_path, home).success
    with connect(home) as conn:
        assert conn.execute("select as_of from analysis_scope").fetchone()[0].isoformat() == "2024-01-02"
