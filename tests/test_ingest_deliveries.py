"""Deliveries: the same file delivered twice is loaded once, a line repeated in another file is caught
like one repeated in its own file, and a file counts as changed when its content does."""

import os
import shutil
from pathlib import Path

import duckdb
from test_ingest_loading import HEADER, NOW, purchase_files, sync_purchases

from assets.ingest.loading import sync_source
from common.config import load_settings
from common.sources import plan_sources

JANUARY = HEADER + "O1,C1,2024-01-02 10:00:00,P1,2,5.00\nO2,C2,2024-01-03 10:00:00,P2,1,7.50\n"
FEBRUARY = HEADER + "O3,C1,2024-02-02 10:00:00,P1,1,5.00\nO1,C1,2024-01-02 10:00:00,P1,2,5.00\n"


def audit(conn) -> dict[str, tuple]:
    rows = conn.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, duplicate_of from load_audit"
    ).fetchall()
    return {Path(name).name: (read, loaded, quarantined, other and Path(other).name) for name, read, loaded, quarantined, other in rows}


def revenue(conn) -> float:
    return conn.execute("select sum(amount) from purchases").fetchone()[0]


def test_a_file_delivered_again_under_another_name_is_accounted_as_duplicates_of_the_first(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY, "2024-01 (copy).csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    first = str(tmp_path / "in" / "2024-01 (copy).csv")  # files load in name order: this one comes first
    assert audit(conn) == {"2024-01 (copy).csv": (2, 2, 0, None), "2024-01.csv": (2, 0, 2, "2024-01 (copy).csv")}
    assert revenue(conn) == 17.5
    assert conn.execute("select distinct reason from purchases_quarantine").fetchall() == [
        (f"duplicate delivery: same content as {first}",)
    ]


def test_when_the_first_delivery_goes_its_copy_is_loaded_in_its_place(tmp_path):
    config = purchase_files(tmp_path, {"a.csv": JANUARY, "b.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    (tmp_path / "in" / "a.csv").unlink()
    report = sync_purchases(config, conn)
    assert [Path(f.source_file).name for f in report.loaded] == ["b.csv"]
    assert audit(conn) == {"b.csv": (2, 2, 0, None)}
    assert revenue(conn) == 17.5


def test_a_line_repeated_in_a_later_file_is_quarantined_naming_the_file_it_repeats(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    (tmp_path / "in" / "2024-02.csv").write_text(FEBRUARY)  # its second line is January's first again
    sync_purchases(config, conn)
    assert audit(conn)["2024-02.csv"] == (2, 1, 1, None)
    assert conn.execute("select source_row, reason from purchases_quarantine").fetchall() == [
        (2, f"exact duplicate of a row loaded from {tmp_path / 'in' / '2024-01.csv'}")
    ]
    assert revenue(conn) == 22.5


def test_a_source_that_keeps_exact_duplicates_keeps_them_across_files_too(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY, "2024-02.csv": FEBRUARY}, keep_exact_duplicates=True)
    conn = duckdb.connect()
    sync_purchases(config, conn)
    assert conn.execute("select count(*) from purchases").fetchone()[0] == 4


def test_a_file_whose_content_changed_is_reloaded_even_with_its_old_size_and_time(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    path = tmp_path / "in" / "2024-01.csv"
    before = path.stat()
    path.write_text(JANUARY.replace("7.50", "9.50"))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    report = sync_purchases(config, conn)
    assert [Path(f.source_file).name for f in report.loaded] == ["2024-01.csv"]
    assert revenue(conn) == 19.5


def test_an_unchanged_file_copied_over_itself_with_a_new_time_is_not_reloaded(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    path = tmp_path / "in" / "2024-01.csv"
    shutil.copyfile(path, tmp_path / "copy.csv")
    os.replace(tmp_path / "copy.csv", path)
    os.utime(path, (path.stat().st_atime + 60, path.stat().st_mtime + 60))
    report = sync_purchases(config, conn)
    assert report.loaded == [] and [Path(name).name for name in report.unchanged] == ["2024-01.csv"]


def test_when_the_file_a_copy_repeated_changes_the_copy_is_loaded_on_its_own(tmp_path):
    config = purchase_files(tmp_path, {"a.csv": JANUARY, "b.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    (tmp_path / "in" / "a.csv").write_text(FEBRUARY)  # the file b.csv repeated now holds February
    sync_purchases(config, conn)
    # as from scratch: a.csv loads first, and b.csv's first line repeats a line a.csv now has
    assert audit(conn) == {"a.csv": (2, 2, 0, None), "b.csv": (2, 1, 1, None)}
    assert revenue(conn) == 22.5


def test_a_copy_is_not_taken_for_a_duplicate_of_what_its_original_no_longer_holds(tmp_path):
    config = purchase_files(tmp_path, {"b.csv": JANUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    (tmp_path / "in" / "a.csv").write_text(JANUARY)  # a late copy, whose name sorts first
    sync_purchases(config, conn)
    assert audit(conn)["a.csv"] == (2, 0, 2, "b.csv")
    (tmp_path / "in" / "b.csv").write_text(FEBRUARY)
    sync_purchases(config, conn)
    assert audit(conn) == {"a.csv": (2, 2, 0, None), "b.csv": (2, 1, 1, None)}
    assert revenue(conn) == 22.5


def test_a_line_quarantined_as_a_repeat_loads_once_the_line_it_repeated_is_gone(tmp_path):
    config = purchase_files(tmp_path, {"2024-01.csv": JANUARY, "2024-02.csv": FEBRUARY})
    conn = duckdb.connect()
    sync_purchases(config, conn)
    (tmp_path / "in" / "2024-01.csv").write_text(HEADER + "O2,C2,2024-01-03 10:00:00,P2,1,7.50\n")  # O1 corrected away
    report = sync_purchases(config, conn)
    assert sorted(Path(f.source_file).name for f in report.loaded) == ["2024-01.csv", "2024-02.csv"]
    assert audit(conn)["2024-02.csv"] == (2, 2, 0, None)
    assert revenue(conn) == 22.5


def test_a_key_quarantined_as_loaded_from_another_file_loads_once_that_file_drops_it(tmp_path):
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "a.csv").write_text("product_id,category\nP1,tools\nP2,paint\n")
    (tmp_path / "products" / "b.csv").write_text("product_id,category\nP1,garden\n")
    config = purchase_files(tmp_path, {"p.csv": JANUARY})
    config.write_text(config.read_text() + "  products:\n    path: products\n")
    conn = duckdb.connect()
    sync_source(conn, plan_sources(load_settings(config))["products"], NOW)
    assert conn.execute("select product_id, category from products order by 1").fetchall() == [("P1", "tools"), ("P2", "paint")]
    (tmp_path / "products" / "a.csv").write_text("product_id,category\nP2,paint\n")
    sync_source(conn, plan_sources(load_settings(config))["products"], NOW)
    assert conn.execute("select product_id, category from products order by 1").fetchall() == [("P1", "garden"), ("P2", "paint")]
