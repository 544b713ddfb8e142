"""The Dagster graph as operators use it: blocking checks, publishing for analysts, the file sensor."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import connect, materialize, write_config

from assets.publish.publishing import publish_exports
from common.resources import LifecycleConfig
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


ANALYST = """
import sys, duckdb
snapshot = duckdb.connect(sys.argv[1], read_only=True)
print(snapshot.execute("select count(*) from sales").fetchone()[0], flush=True)
sys.stdin.readline()
print(snapshot.execute("select count(*) from sales").fetchone()[0], flush=True)
"""


def test_an_analyst_holding_the_snapshot_open_keeps_reading_it_while_a_new_one_is_published(tmp_path):
    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    warehouse.execute("create table sales as select 1 as amount")
    exports = tmp_path / "exports"
    publish_exports(warehouse, exports)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(exports / "lifecycle.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert analyst.stdout.readline().strip() == "1"
    warehouse.execute("insert into sales values (2)")
    publish_exports(warehouse, exports)
    still_reading, _ = analyst.communicate("\n", timeout=60)
    assert still_reading.strip() == "1"
    with duckdb.connect(str(exports / "lifecycle.duckdb"), read_only=True) as fresh:
        assert fresh.execute("select count(*) from sales").fetchone()[0] == 2


def test_a_publish_that_fails_midway_leaves_the_previous_files_whole(tmp_path, monkeypatch):
    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    warehouse.execute("create table sales as select 1 as amount")
    exports = tmp_path / "exports"
    publish_exports(warehouse, exports)
    before = (exports / "lifecycle.duckdb").read_bytes()

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    warehouse.execute("insert into sales values (2)")
    with pytest.raises(OSError):
        publish_exports(warehouse, exports)
    assert (exports / "lifecycle.duckdb").read_bytes() == before
    assert duckdb.execute(f"select count(*) from '{exports / 'sales.parquet'}'").fetchone()[0] == 1


def test_the_snapshot_holds_every_table_and_view_also_from_an_in_memory_warehouse(tmp_path):
    for name, warehouse in [("file", duckdb.connect(str(tmp_path / "w.duckdb"))), ("memory", duckdb.connect())]:
        warehouse.execute("create table sales as select 1 as amount; insert into sales values (2)")
        warehouse.execute("create view big_sales as select * from main.sales where amount > 1")
        exports = tmp_path / name
        publish_exports(warehouse, exports)
        with duckdb.connect(str(exports / "lifecycle.duckdb"), read_only=True) as snapshot:
            assert snapshot.execute("select count(*), (select count(*) from big_sales) from sales").fetchone() == (2, 1)


def test_the_sensor_starts_a_run_only_when_a_source_file_is_new_or_changed(tmp_path):
    config_path = small_shop(tmp_path, ["O1,C1,2024-01-02,P1,1,2.00"])
    resource = LifecycleConfig(config_path=str(config_path), home=str(tmp_path / "home"))
    with dg.build_sensor_context(resources={"lifecycle_config": resource}) as context:
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
