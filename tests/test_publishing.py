"""Publishing for analysts: each night whole in its own folder, `current` switched only to a whole
night, a crash at any point leaving the previous night readable, and no path ever spliced into SQL."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, connect, materialize, write_config

from assets.publish.publishing import (
    MANIFEST,
    complete_nights,
    current_night,
    publish_exports,
    read_manifest,
)

HEADER = "order_id,customer_id,order_ts,product_id,quantity,unit_price\n"


def small_shop(folder: Path, lines: list[str], **settings) -> Path:
    (folder / "in").mkdir(parents=True, exist_ok=True)
    (folder / "in" / "p1.csv").write_text(HEADER + "".join(line + "\n" for line in lines))
    return write_config(folder, {"sources": {"purchases": {"path": "in"}}, **settings})


SHOP = ["O1,C1,2024-01-02,P1,1,2.00", "O2,C1,2024-01-09,P1,1,2.00", "O3,C2,2024-01-05,P2,2,3.50"]


def assert_current_is_one_whole_night(exports: Path) -> dict:
    """`current` names a night whose manifest lists exactly its files, with their sizes, each table's
    Parquet rows and the snapshot's rows as listed; returns the manifest."""
    night = current_night(exports)
    assert night is not None and night.parent == exports / "nights"
    manifest = read_manifest(night)
    assert manifest["night"] == night.name
    on_disk = {p.relative_to(night).as_posix() for p in night.rglob("*") if p.is_file()} - {MANIFEST}
    assert {entry["path"] for entry in manifest["files"]} == on_disk
    with duckdb.connect(str(night / "lifecycle.duckdb"), read_only=True) as snapshot:
        for entry in manifest["files"]:
            path = night / entry["path"]
            assert path.stat().st_size == entry["bytes"], entry
            if "table" in entry:
                parquet_rows = duckdb.execute("select count(*) from read_parquet($p)", {"p": str(path)}).fetchone()[0]
                snapshot_rows = snapshot.execute(f'select count(*) from "{entry["table"]}"').fetchone()[0]
                assert parquet_rows == snapshot_rows == entry["rows"], entry
    return manifest


def generations(night: Path) -> set[int]:
    """The generation every table of a night's Parquet files and snapshot says it is from."""
    seen = set()
    for parquet in night.glob("*.parquet"):
        seen |= {g for (g,) in duckdb.execute("select distinct generation from read_parquet($p)", {"p": str(parquet)}).fetchall()}
    with duckdb.connect(str(night / "lifecycle.duckdb"), read_only=True) as snapshot:
        for table in ("sales", "returns", "stock"):
            seen |= {g for (g,) in snapshot.execute(f"select distinct generation from {table}").fetchall()}
    return seen


def write_generation(warehouse: Path, generation: int) -> None:
    """Three tables whose every row says which night they belong to, with a row count that grows."""
    with duckdb.connect(str(warehouse)) as conn:
        for table in ("sales", "returns", "stock"):
            conn.execute(
                f"create or replace table {table} as select $g as generation, range as n from range($g * 1000)",
                {"g": generation},
            )


def test_a_clean_run_publishes_one_night_and_points_current_and_the_old_paths_at_it(tmp_path, home):
    result = materialize(small_shop(tmp_path, SHOP), home)
    assert result.success
    exports = home / "exports"
    manifest = assert_current_is_one_whole_night(exports)
    with connect(home) as warehouse:
        tables = {name for (name,) in warehouse.execute("select table_name from duckdb_tables()").fetchall()}
    assert {entry["table"] for entry in manifest["files"] if "table" in entry} == tables
    assert (manifest["run_id"], manifest["as_of"], manifest["warnings"]) == (result.run_id, "2024-01-09", [])
    assert any(entry["path"].startswith("charts/") for entry in manifest["files"])
    # the paths analysts used before nights existed lead into the current night
    assert (exports / "lifecycle.duckdb").resolve() == current_night(exports) / "lifecycle.duckdb"
    assert (exports / "purchases.parquet").resolve() == current_night(exports) / "purchases.parquet"
    assert duckdb.execute("select count(*) from read_parquet($p)", {"p": str(exports / "purchases.parquet")}).fetchone()[0] == 3
    assert (exports / "charts").is_dir()
    # the morning report, made after publishing from the same warehouse, joins the night and its manifest
    assert (exports / "morning_report.html").resolve() == current_night(exports) / "morning_report.html"
    listed = {entry["path"] for entry in manifest["files"]}
    assert "morning_report.html" in listed and any(path.startswith("actions/") for path in listed)
    assert not (exports / "report").is_symlink() and (exports / "report" / "2024-01-09.html").is_file()


def test_the_morning_report_is_not_added_to_a_night_published_before_its_run(tmp_path, home):
    config_path = small_shop(tmp_path, SHOP)
    assert materialize(config_path, home).success
    night = current_night(home / "exports")
    page = (night / "morning_report.html").read_bytes()
    result = materialize(config_path, home, selection=["run_history", "morning_report"], raise_on_error=False)
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == "morning_report"
    assert "is not published yet" in failure.event_specific_data.user_failure_data.description
    assert current_night(home / "exports") == night and (night / "morning_report.html").read_bytes() == page


def test_each_run_adds_a_night_and_only_the_newest_keep_nights_stay(tmp_path, home):
    config_path = small_shop(tmp_path, SHOP, publish={"keep_nights": 2})
    nights = []
    for _ in range(3):
        assert materialize(config_path, home, selection="analyst_exports" if nights else "*").success
        nights.append(current_night(home / "exports").name)
    assert len(set(nights)) == 3
    assert [night.name for night in complete_nights(home / "exports")] == nights[:0:-1]


def test_an_as_of_long_after_the_last_purchase_is_warned_about_in_the_manifest(tmp_path, home):
    result = materialize(small_shop(tmp_path, [*SHOP, "O4,C2,2024-01-07,P1,1,2.00"], as_of="2024-03-01"), home)
    assert result.success
    (warning,) = read_manifest(current_night(home / "exports"))["warnings"]
    assert "2024-03-01" in warning and "52 days after the last purchase (2024-01-09)" in warning
    (scope,) = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == "analysis_scope"]
    assert scope.materialization.metadata["warnings"].value == [warning]


ANALYST = """
import sys, duckdb
snapshot = duckdb.connect(sys.argv[1], read_only=True)
print(snapshot.execute("select count(*) from sales").fetchone()[0], flush=True)
sys.stdin.readline()
print(snapshot.execute("select count(*) from sales").fetchone()[0], flush=True)
"""


def test_an_analyst_holding_the_snapshot_open_keeps_reading_it_while_new_nights_are_published(tmp_path):
    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    warehouse.execute("create table sales as select 1 as amount")
    exports = tmp_path / "exports"
    publish_exports(warehouse, exports, run_id=str(uuid.uuid4()), keep_nights=1)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(exports / "current" / "lifecycle.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert analyst.stdout.readline().strip() == "1"
    for _ in range(2):  # with keep_nights 1, the night the analyst holds is removed meanwhile
        warehouse.execute("insert into sales values (2)")
        publish_exports(warehouse, exports, run_id=str(uuid.uuid4()), keep_nights=1)
    still_reading, _ = analyst.communicate("\n", timeout=60)
    assert still_reading.strip() == "1"
    with duckdb.connect(str(exports / "current" / "lifecycle.duckdb"), read_only=True) as fresh:
        assert fresh.execute("select count(*) from sales").fetchone()[0] == 3


def test_the_snapshot_holds_every_table_and_view_also_from_an_in_memory_warehouse(tmp_path):
    for name, warehouse in [("file", duckdb.connect(str(tmp_path / "w.duckdb"))), ("memory", duckdb.connect())]:
        warehouse.execute("create table sales as select 1 as amount; insert into sales values (2)")
        warehouse.execute("create view big_sales as select * from main.sales where amount > 1")
        exports = tmp_path / name
        publish_exports(warehouse, exports, run_id=str(uuid.uuid4()))
        with duckdb.connect(str(exports / "current" / "lifecycle.duckdb"), read_only=True) as snapshot:
            assert snapshot.execute("select count(*), (select count(*) from big_sales) from sales").fetchone() == (2, 1)


def test_the_files_of_the_layout_before_nights_are_replaced_by_links_into_current(tmp_path):
    exports = tmp_path / "exports"
    (exports / "charts").mkdir(parents=True)
    (exports / "charts" / "old.png").write_bytes(b"png")
    (exports / "sales.parquet").write_bytes(b"stale")
    (exports / "dropped_table.parquet").write_bytes(b"stale")
    (exports / "lifecycle.duckdb").write_bytes(b"stale")
    (exports / ".sales.parquet.partial").write_bytes(b"half")
    unpublished = tmp_path / "unpublished"
    (unpublished / "charts").mkdir(parents=True)
    (unpublished / "charts" / "pareto.png").write_bytes(b"png")
    warehouse = duckdb.connect()
    warehouse.execute("create table sales as select 1 as amount")
    publish_exports(warehouse, exports, run_id=str(uuid.uuid4()), unpublished=unpublished)
    assert sorted(p.name for p in exports.iterdir()) == [
        "charts", "current", "lifecycle.duckdb", "manifest.json", "nights", "sales.parquet",
    ]
    assert all((exports / name).is_symlink() for name in ("charts", "lifecycle.duckdb", "sales.parquet"))
    assert sorted(p.name for p in (exports / "charts").iterdir()) == ["pareto.png"]


# --- killed while publishing --------------------------------------------------------------------

KILLER = """
import os, signal, sys
from pathlib import Path
import duckdb
import assets.publish.publishing as publishing

function, when, nth, warehouse, exports, run_id = sys.argv[1:]
original, calls = getattr(publishing, function), []

def killing(*args, **kwargs):
    calls.append(1)
    this_call = len(calls)
    if when == "before" and this_call == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if when == "after" and this_call == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(publishing, function, killing)
with duckdb.connect(warehouse) as conn:
    publishing.publish_exports(conn, Path(exports), run_id=run_id, unpublished=Path(warehouse).parent / "unpublished", keep_nights=2)
print("finished")
"""

# (function, before or after its nth call): every stage of a publish, and inside the longer ones
KILL_POINTS = [
    ("write_table", "after", 1),
    ("write_table", "after", 2),
    ("write_snapshot", "after", 1),
    ("copy_unpublished", "after", 1),
    ("sync", "after", 3),  # flushing the night's files, the manifest not yet written
    ("write_manifest", "after", 1),  # the night is whole, `current` not yet switched
    ("switch_current", "after", 1),
    ("link_top_level", "before", 1),
    ("remove_night", "before", 1),  # pruning the oldest night
]


def test_a_publish_killed_at_any_point_leaves_current_on_one_whole_night_and_the_next_cleans_up(tmp_path):
    warehouse, exports = tmp_path / "w.duckdb", tmp_path / "exports"
    (tmp_path / "unpublished" / "charts").mkdir(parents=True)
    (tmp_path / "unpublished" / "charts" / "pareto.png").write_bytes(b"png")
    write_generation(warehouse, 1)
    with duckdb.connect(str(warehouse)) as conn:
        publish_exports(conn, exports, run_id=str(uuid.uuid4()), unpublished=tmp_path / "unpublished")
    published = 1
    for generation, (function, when, nth) in enumerate(KILL_POINTS, start=2):
        write_generation(warehouse, generation)
        killed = subprocess.run(
            [sys.executable, "-c", KILLER, function, when, str(nth), str(warehouse), str(exports), str(uuid.uuid4())],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120, check=False,
        )
        assert killed.returncode == -signal.SIGKILL, (function, killed.stderr)
        assert_current_is_one_whole_night(exports)
        if (function, when) in {("switch_current", "after"), ("link_top_level", "before"), ("remove_night", "before")}:
            published = generation
        assert generations(current_night(exports)) == {published}, function
        # the paths of the layout before nights stay readable throughout
        with duckdb.connect(str(exports / "lifecycle.duckdb"), read_only=True) as snapshot:
            assert snapshot.execute("select count(*) from sales").fetchone()[0] >= 1000

    write_generation(warehouse, 99)
    with duckdb.connect(str(warehouse)) as conn:
        publish_exports(conn, exports, run_id=str(uuid.uuid4()), keep_nights=2)
    assert generations(current_night(exports)) == {99}
    nights = list((exports / "nights").iterdir())
    assert all((night / MANIFEST).is_file() for night in nights) and len(nights) == 2
    assert not [p for p in exports.iterdir() if p.name.startswith(".")]


def test_a_publish_that_fails_midway_leaves_current_on_the_previous_night(tmp_path, monkeypatch):
    from assets.publish import publishing

    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    warehouse.execute("create table sales as select 1 as amount")
    exports = tmp_path / "exports"
    publish_exports(warehouse, exports, run_id=str(uuid.uuid4()))
    before = current_night(exports)

    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(publishing, "write_snapshot", disk_full)
    warehouse.execute("insert into sales values (2)")
    with pytest.raises(OSError):
        publish_exports(warehouse, exports, run_id=str(uuid.uuid4()))
    assert current_night(exports) == before
    assert duckdb.execute("select count(*) from read_parquet($p)", {"p": str(exports / "sales.parquet")}).fetchone()[0] == 1


# --- paths are never SQL ------------------------------------------------------------------------


def warehouse_tables(home: Path) -> set[str]:
    with connect(home) as conn:
        return {name for (name,) in conn.execute("select table_name from duckdb_tables()").fetchall()}


@pytest.fixture(scope="module")
def plain_home(tmp_path_factory) -> Path:
    """The small shop run under an ordinary path, to compare with."""
    folder = tmp_path_factory.mktemp("plain")
    assert materialize(small_shop(folder, SHOP), folder / "home").success
    return folder / "home"


@pytest.mark.parametrize("home_name", ["o'brien", "x'); create table pwned(i int); --"])
def test_an_output_home_with_a_quote_or_sql_in_its_name_is_only_ever_a_path(tmp_path, plain_home, home_name):
    config_path = small_shop(tmp_path / "inputs", SHOP)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    repo_before = sorted(os.listdir(REPO))

    crafted = tmp_path / home_name
    assert materialize(config_path, crafted).success

    assert warehouse_tables(crafted) == warehouse_tables(plain_home)
    outside_home = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p != crafted and crafted not in p.parents)
    assert outside_home == before
    assert sorted(os.listdir(REPO)) == repo_before
    manifest = assert_current_is_one_whole_night(crafted / "exports")
    expected = read_manifest(current_night(plain_home / "exports"))
    assert [(f["path"], f.get("rows")) for f in manifest["files"]] == [(f["path"], f.get("rows")) for f in expected["files"]]


def test_a_memory_setting_with_sql_in_it_is_a_config_error_naming_the_variable(tmp_path, home, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_DUCKDB_MEMORY", "1GB'; create table pwned(i int); --")
    result = materialize(small_shop(tmp_path, SHOP), home, raise_on_error=False)
    assert not result.success
    message = result.get_run_failure_event().event_specific_data.error.message
    assert message.startswith("Config error: LIFECYCLE_DUCKDB_MEMORY=")
    assert "is not a memory size" in message
    assert not (home / "warehouse" / "lifecycle.duckdb").exists()
