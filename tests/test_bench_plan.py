"""`make bench ARGS="--rows N"`: which contenders a large run leaves out, and that a run the disk
cannot hold stops before it writes anything."""

import shutil
from collections import namedtuple

import pytest

from bench.__main__ import PLAN, check_disk, chosen


def names(plan):
    return [name for name, _, _ in plan]


def test_the_default_run_has_every_contender_and_a_large_one_leaves_out_the_pandas_baselines():
    assert names(chosen(10_000_000, [], [])) == names(PLAN)
    large = names(chosen(100_000_000, [], []))
    assert "pandas_lifetimes" not in large and "pandas_read_csv" not in large
    assert "project_whole_graph" in large and "duckdb_read_csv" in large


def test_only_and_skip_choose_contenders_by_name_in_the_plan_order():
    assert names(chosen(10_000_000, ["project_whole_graph", "duckdb_read_csv"], [])) == ["duckdb_read_csv", "project_whole_graph"]
    assert "pandas_lifetimes" not in names(chosen(10_000_000, [], ["pandas_lifetimes"]))
    with pytest.raises(SystemExit, match="no contender named project_whole_grahp"):
        chosen(10_000_000, ["project_whole_grahp"], [])


def test_a_run_the_disk_cannot_hold_stops_naming_what_it_needs(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 40 * 10**9))
    check_disk(tmp_path, 20_000_000, tmp_path / "purchases_20000000.csv")
    with pytest.raises(SystemExit, match=r"100,000,000 lines need about 100 GB .* and 40 GB are free"):
        check_disk(tmp_path, 100_000_000, tmp_path / "purchases_100000000.csv")
