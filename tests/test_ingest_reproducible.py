"""Reproducible nights: every warehouse table is the same whether the purchase files came in one run
or over two, and a re-run with nothing changed gives the same tables again (on the shipped sample,
whole graph)."""

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import REPO, materialize

from common.resources import warehouse_path

SAMPLE = REPO / "data" / "sample"
RUN_CLOCK_COLUMNS = {"loaded_at", "quarantined_at"}  # when a row was loaded, which differs by design
RUN_LOGS = {"run_history", "clv_model_selection_history"}  # rows appended per run or night, with their clock: logs of runs, not of the data


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reproducible")
    inputs = root / "sample"
    shutil.copytree(SAMPLE, inputs, ignore=shutil.ignore_patterns("purchases_2025_*"))
    settings = yaml.safe_load((REPO / "lifecycle.yaml").read_text())
    for source in settings["sources"].values():
        source["path"] = source["path"].replace("data/sample", str(inputs))
    config = root / "lifecycle.yaml"
    config.write_text(yaml.safe_dump(settings))

    assert materialize(config, root / "incremental").success  # 2024's purchase files
    for path in sorted((SAMPLE / "purchases").glob("purchases_2025_*")):
        shutil.copy2(path, inputs / "purchases" / path.name)
    assert materialize(config, root / "incremental").success  # and 2025's, a night later
    assert materialize(config, root / "from_scratch").success  # all of them at once
    first = root / "first_run.duckdb"
    shutil.copy(warehouse_path(root / "from_scratch"), first)
    assert materialize(config, root / "from_scratch").success  # again, nothing changed
    return {"incremental": warehouse_path(root / "incremental"), "first_run": first,
            "rerun": warehouse_path(root / "from_scratch")}


def differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows only in the left warehouse and rows only in the right one (as multisets)."""
    conn = duckdb.connect()
    conn.execute("attach ? as left_db (read_only)", [str(left)])
    conn.execute("attach ? as right_db (read_only)", [str(right)])
    columns: dict[str, dict[str, list[str]]] = {}
    for database in ("left_db", "right_db"):
        columns[database] = {}
        for table, column in conn.execute(
            "select table_name, column_name from duckdb_columns() where database_name = ? order by column_index",
            [database],
        ).fetchall():
            columns[database].setdefault(table, []).append(column)
    assert columns["left_db"] == columns["right_db"]
    assert {"purchases", "load_audit", "customer_rfm", "clv_model", "customer_abc", "customer_profile"} <= columns["left_db"].keys()
    found = {}
    for table, names in sorted(columns["left_db"].items()):
        if table in RUN_LOGS:
            continue
        compared = ", ".join(f'"{name}"' for name in names if name not in RUN_CLOCK_COLUMNS)
        left_only, right_only = (
            conn.execute(
                f'select count(*) from (select {compared} from {a}."{table}" except all select {compared} from {b}."{table}")'
            ).fetchone()[0]
            for a, b in (("left_db", "right_db"), ("right_db", "left_db"))
        )
        if left_only or right_only:
            found[table] = (left_only, right_only)
    return found


def test_an_incremental_load_and_a_load_from_scratch_give_the_same_tables(warehouses):
    assert differences(warehouses["incremental"], warehouses["rerun"]) == {}


def test_a_rerun_with_nothing_changed_gives_the_same_tables(warehouses):
    assert differences(warehouses["first_run"], warehouses["rerun"]) == {}
