"""Reproducible nights: every warehouse table is the same whether the purchase files came in one run
or over two, and a re-run with nothing changed gives the same tables again (on the shipped sample,
whole graph)."""

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, materialize

from bench.compare import compare
from common.resources import warehouse_path

SAMPLE = REPO / "data" / "sample"


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


def differences(left: Path, right: Path) -> list[str]:
    """Every table of the two warehouses compared as the benchmark's comparison does (bench/compare.py):
    columns, row counts and rows as multisets, run logs and load clocks left out."""
    result = compare(left, right)
    assert {"purchases", "load_audit", "customer_rfm", "clv_model", "customer_abc", "customer_profile"} <= set(result.tables)
    return result.problems


def test_an_incremental_load_and_a_load_from_scratch_give_the_same_tables(warehouses):
    assert differences(warehouses["incremental"], warehouses["rerun"]) == []


def test_a_rerun_with_nothing_changed_gives_the_same_tables(warehouses):
    assert differences(warehouses["first_run"], warehouses["rerun"]) == []
