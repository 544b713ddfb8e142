"""Ingestion on Spark keeps DuckDB's promise: on the same files, the Spark loader leaves the same
canonical rows, the same quarantine rows (reasons, row and line numbers, raw values) and the same
load_audit as the DuckDB loader, through first loads, re-runs, and changed, removed, repeated and
badly formed files. Each test runs both loaders on the same plan and compares every table whole."""

import gzip
import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, requires_shared_data, write_config
from test_ingest_deliveries import FEBRUARY, JANUARY
from test_ingest_loading import HEADER, MESSY_LINES, purchase_files, purchases_config, write_messy_folder

from assets.ingest.loading import sync_source
from assets.ingest.reading import InputError
from assets.ingest.spark_loading import sync_source_spark
from common.config import load_settings
from common.sources import SourcePlan, plan_sources

NOW = datetime(2025, 6, 1, 12, 0)


@pytest.fixture
def engines(spark):
    """A fresh DuckDB warehouse and an empty Spark database `main`."""
    spark.sql("drop database if exists main cascade")
    with duckdb.connect() as conn:
        yield conn, spark


def sync_both(engines, plan: SourcePlan, now: datetime = NOW):
    """Sync one source on both engines; both must report the same and leave the same tables."""
    conn, spark = engines
    on_duckdb = sync_source(conn, plan, now)
    on_spark = sync_source_spark(spark, plan, now)
    assert summary(on_spark) == summary(on_duckdb)
    for table in (plan.spec.table, plan.spec.quarantine_table, "load_audit"):
        assert_same_table(conn, spark, table)
    return on_spark


def summary(report) -> tuple:
    """What a sync did, down to how each file was read (DuckDB's read mode, which decides what a
    line with too many or too few values becomes)."""
    files = [(f.source_file, f.rows_read, f.rows_loaded, f.rows_quarantined, f.duplicate_of, f.read_mode) for f in report.loaded]
    return report.table, files, report.unchanged, report.removed, report.full_reload


def assert_same_table(conn, spark, table: str) -> None:
    duckdb_types = conn.execute(
        "select column_name, data_type from duckdb_columns() where table_name = ? order by column_index", [table]
    ).fetchall()
    spark_types = [(field.name, field.dataType.simpleString()) for field in spark.table(f"main.{table}").schema]
    assert spark_types == [(name, spark_type(data_type)) for name, data_type in duckdb_types], table
    on_duckdb = conn.execute(f'select * from "{table}"').fetchall()
    on_spark = [tuple(row) for row in spark.table(f"main.{table}").collect()]
    assert sorted(on_spark, key=row_order) == sorted(on_duckdb, key=row_order), table


def spark_type(duckdb_type: str) -> str:
    """DuckDB's name of a column type as Spark names the same type."""
    names = {"VARCHAR": "string", "BIGINT": "bigint", "TIMESTAMP": "timestamp_ntz", "DATE": "date", "BOOLEAN": "boolean", "DOUBLE": "double"}
    return names.get(duckdb_type) or duckdb_type.lower().replace(" ", "")


def row_order(row: tuple) -> tuple:
    return tuple((value is None, str(value)) for value in row)


def plan_of(config: Path, source: str = "purchases") -> SourcePlan:
    return plan_sources(load_settings(config))[source]


def test_the_shipped_sample_loads_the_same_on_both_engines(engines):
    for plan in plan_sources(load_settings(REPO / "lifecycle.yaml")).values():
        sync_both(engines, plan, NOW.replace(year=2026))


def test_bad_rows_unreadable_lines_and_empty_files_end_in_the_same_place(engines, tmp_path):
    write_messy_folder(tmp_path / "in")
    plan = plan_of(purchases_config(tmp_path))
    report = sync_both(engines, plan)
    assert [f.rows_read for f in report.loaded] == [0, 0, len(MESSY_LINES)]
    again = sync_both(engines, plan)
    assert again.loaded == [] and len(again.unchanged) == 3


def test_the_same_bad_values_are_quarantined_for_the_same_reasons(engines, tmp_path):
    lines = [
        *(f"O{i},C1,2024-03-06,P1,1,{price}" for i, price in enumerate(["inf", "-inf", "NaN", "1e400", "1e20", "abc"])),
        "O7,C1,2024-03-06,P1,inf,2.00",
        "O8, C1 , 2024-01-01 ,P1, 2 ,\t5.00\t",  # padded values and a bare date
        "O9,C1,2024-01-02 10:00:00,P1,  ,5.00",  # blank quantity
        "O10,C1,2024-03-06,P1,1,0.10",
        "O10,C1,2024-03-06,P2,3,1.15",  # 3 x 1.15 is 3.4499999999999997 in binary floating point
        "O11,C1,2024-03-06T23:30:00-05:00,P1,1,2.00",
        "O12,C1,2024-03-06T23:30:00Z,P1,1,2.00",
        "O13,C1,2024-03-06 23:30:00,P1,1,2.00",
        "O14,C1,2024-03-06 23:30:00.250,P1,1,2.00",
        "O15,C2,2099-01-01 10:00:00,P1,1,5.00",
        "O16,C2,2024-13-45,P1,1,5.00",
        "O17,C2,2024-01-07,P1,1,2.50,surplus",
        "O18,C2,2024-01-07,P1,1",
        'O19,"C2, the second",2024-01-07,P1,1,2.50',
        'O20,"C""3""",2024-01-07,P1,1,2.50',
        "O21,C2,2024-01-07,P1,1," + "9" * 2_100_000,
        "",
        "R22,C2,2024-01-08,P1,1,2.50",
        "O23,C2,2024-01-08,POST,1,2.50",
        "O24,C2,2024-01-08,P1,0,2.50",
        "O25,C2,2024-01-08,P1,-2,2.50",
    ]
    config = purchase_files(
        tmp_path, {"p.csv": HEADER + "".join(line + "\n" for line in lines)},
        timezone="America/New_York", return_order_prefix="R", non_product_ids=["POST"],
    )
    report = sync_both(engines, plan_of(config))
    assert report.loaded[0].rows_read == len(lines) - 1  # the blank line is no row


def test_configured_formats_encodings_and_delimiters_read_the_same(engines, tmp_path):
    latin_1 = ("order_id;customer_id;order_ts;product_id;quantity;unit_price\n"
               "O1;Café Noir;06/03/2024 23:30 -0500;P1;1;2,00\nO2;C2;7/3/2024 9:05 +0100;P1;1;3.00\n")
    config = purchase_files(
        tmp_path, {"p.csv": latin_1.encode("latin-1")}, encoding="latin-1", delimiter=";",
        timestamp_format="%d/%m/%Y %H:%M %z",
    )
    sync_both(engines, plan_of(config))
    not_utf_8 = tmp_path / "other"
    not_utf_8.mkdir()
    (not_utf_8 / "p.csv").write_bytes((HEADER + "O1,Caf\xe9 Noir,2024-03-06,P1,1,2.00\nO2,C2,2024-03-06,P1,1,3.00\n").encode("latin-1"))
    sync_both(engines, plan_of(write_config(not_utf_8, {"sources": {"purchases": {"path": "p.csv"}}})))


def test_deliveries_changes_and_removals_over_several_runs(engines, tmp_path):
    folder = tmp_path / "in"
    config = purchase_files(tmp_path, {"a.csv": JANUARY, "b.csv": JANUARY})
    first = sync_both(engines, plan_of(config))
    assert first.loaded[1].duplicate_of == str(folder / "a.csv")
    (folder / "c.csv").write_text(FEBRUARY)  # its second line repeats January's first
    sync_both(engines, plan_of(config))
    (folder / "a.csv").write_text(HEADER + "O2,C2,2024-01-03 10:00:00,P2,1,7.50\n")  # same size, new content
    os.utime(folder / "a.csv", (0, (folder / "a.csv").stat().st_mtime + 10))
    changed = sync_both(engines, plan_of(config))
    assert sorted(Path(f.source_file).name for f in changed.loaded) == ["a.csv", "b.csv", "c.csv"]
    (folder / "b.csv").unlink()
    removed = sync_both(engines, plan_of(config))
    assert [Path(name).name for name in removed.removed] == ["b.csv"]
    config = purchase_files(tmp_path, {}, keep_exact_duplicates=True)
    assert sync_both(engines, plan_of(config)).full_reload


def test_keys_repeated_within_and_across_files_are_quarantined_alike(engines, tmp_path):
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "a.csv").write_text("product_id,category,product_name\nP1,tools,Hammer\nP2,paint,\nP2,paint,\nP3,,Saw\n")
    (tmp_path / "products" / "b.csv").write_text("product_id,category,product_name\nP1,garden,Hose\nP4,garden,Rake\n")
    config = purchase_files(tmp_path, {"p.csv": JANUARY})
    config.write_text(config.read_text() + "  products:\n    path: products\n")
    sync_both(engines, plan_of(config, "products"))
    (tmp_path / "products" / "a.csv").write_text("product_id,category,product_name\nP2,paint,\n")
    sync_both(engines, plan_of(config, "products"))


def test_the_online_retail_file_loads_the_same_on_both_engines(engines, tmp_path):
    data = requires_shared_data("online_retail/online_retail.csv.gz")
    config = (REPO / "examples" / "online_retail.yaml").read_text().replace("../../shared/data/online_retail/online_retail.csv.gz", str(data))
    (tmp_path / "online_retail.yaml").write_text(config)
    report = sync_both(engines, plan_of(tmp_path / "online_retail.yaml"))
    assert report.loaded[0].rows_read == 541_909


READING_LINES = [f"O{i},C{i % 7},2024-01-0{1 + i % 9} 10:00:00,P1,1,2.50" for i in range(1, 60)]


def test_rows_over_two_lines_odd_line_endings_and_tolerant_reads_are_read_alike(engines, tmp_path):
    lines = list(READING_LINES)
    lines[3] = 'O4,"C4\nwho wrote two lines",2024-01-01,P1,1,2.50'  # one row on lines 5 and 6
    lines[20] = "O21,C1,2024-01-01,P1,1,2.50,surplus"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("\n".join([HEADER.strip(), *lines]) + "\n")
    (tmp_path / "in" / "b.csv").write_bytes(("\r\n".join([HEADER.strip(), *READING_LINES]) + "\r\n\n").encode())
    # mixed line endings: DuckDB reads this tolerantly, surplus values kept, missing ones padded
    lines = list(READING_LINES)
    lines[5] = "O6,C6,2024-01-01,P1,1,2.50,surplus"
    lines[9] = "O10,C6,2024-01-01,P1,1"
    (tmp_path / "in" / "c.csv").write_bytes(("\r\n".join([HEADER.strip(), *lines]) + "\r\n\n").encode())
    lines[30] = "O31,C1,2024-01-01,P1,1," + "9" * 2_100_000  # an over-long line: read with the dialect spelled out
    (tmp_path / "in" / "d.csv").write_text("\n".join([HEADER.strip(), *lines]) + "\n")
    report = sync_both(engines, plan_of(write_config(tmp_path, {"sources": {"purchases": {"path": "in"}}})))
    assert [(f.rows_read, f.read_mode) for f in report.loaded] == [
        (59, "sniffed"), (59, "tolerant"), (59, "tolerant"), (59, "explicit"),
    ]


def test_a_file_that_cannot_be_read_fails_with_the_same_first_line(engines, tmp_path):
    conn, spark = engines
    rows = "".join(f"O{i},C{i % 977},2024-01-02 10:00:00,P{i % 13},1,2.50\n" for i in range(300_000))
    packed = gzip.compress((HEADER + rows).encode())
    plan = plan_of(purchase_files(tmp_path, {"p.csv.gz": packed[: len(packed) // 2]}))  # cut off in transfer
    with pytest.raises(InputError) as on_duckdb:
        sync_source(conn, plan, NOW)
    with pytest.raises(InputError) as on_spark:
        sync_source_spark(spark, plan, NOW)
    assert str(on_spark.value).splitlines()[0] == str(on_duckdb.value).splitlines()[0]
