"""Every input row ends in exactly one place: its canonical table or the quarantine, with a reason."""

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, requires_shared_data, write_config

from assets.ingest.loading import sync_source
from common.config import load_settings
from common.sources import plan_sources

NOW = datetime(2025, 6, 1, 12, 0)
HEADER = "order_id,customer_id,order_ts,product_id,quantity,unit_price\n"

# (line, where it must end up)
MESSY_LINES = [
    ("O1,C1,2024-01-01 10:00:00,P1,2,5.00", "loaded"),
    ("O1,C1,2024-01-01 10:00:00,P1,2,5.00", "exact duplicate of an earlier row"),
    ("O2,,2024-01-02 10:00:00,P1,1,5.00", "missing customer_id"),
    ("O3,C2,2024-13-45,P1,1,5.00", "unparseable order_ts"),
    ("O4,C2,2024-01-03 10:00:00,P1,one,5.00", "non-numeric quantity"),
    ("O5,C2,2024-01-03 10:00:00,P2,1,abc", "non-numeric unit_price"),
    ("C6,C1,2024-01-05 10:00:00,P1,-1,5.00", "loaded"),
    ("O7,C3,2099-01-01 10:00:00,P1,1,5.00", "order_ts in the future"),
    ("O8,C3,2024-01-06 10:00:00,P1,1,0", "zero price"),
    ("O9,C3,2024-01-06 10:00:00,POST,1,3.00", "loaded"),
    ("O10,C3,2024-01-07,P1,1,2.50,surplus", "unreadable line (too many columns)"),
    ("O11,C\xe94,2024-01-07 10:00:00,P1,1,2.50", "unreadable line (invalid encoding)"),
    ("O12,C4,2024-01-08,P3,3,1.50", "loaded"),
]


def write_messy_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = HEADER + "".join(line + "\n" for line, _ in MESSY_LINES)
    (folder / "messy.csv").write_bytes(body.encode("latin-1"))
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text(HEADER)


def purchases_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        {
            "sources": {
                "purchases": {
                    "path": "in",
                    "return_order_prefix": "C",
                    "non_product_ids": ["POST"],
                }
            }
        },
    )


def sync_purchases(config_path: Path, conn: duckdb.DuckDBPyConnection, now: datetime = NOW):
    return sync_source(conn, plan_sources(load_settings(config_path))["purchases"], now)


def purchase_files(tmp_path: Path, files: dict[str, str | bytes], **purchases) -> Path:
    """Write purchase files (text or bytes) into `in/` and a config reading that folder."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    top_level = {key: purchases.pop(key) for key in ("timezone",) if key in purchases}
    return write_config(tmp_path, {**top_level, "sources": {"purchases": {"path": "in", **purchases}}})


@pytest.fixture
def messy(tmp_path):
    write_messy_folder(tmp_path / "in")
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield tmp_path, conn
    conn.close()


def test_loaded_plus_quarantined_equals_rows_read_for_every_file(messy):
    tmp_path, conn = messy
    sync_purchases(purchases_config(tmp_path), conn)
    audit = conn.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined from load_audit order by source_file"
    ).fetchall()
    by_file = {Path(name).name: counts for name, *counts in audit}
    assert by_file == {
        "empty.csv": [0, 0, 0],
        "header_only.csv": [0, 0, 0],
        "messy.csv": [13, 4, 9],
    }
    tables = conn.execute(
        "select (select count(*) from purchases), (select count(*) from purchases_quarantine)"
    ).fetchone()
    assert tables == (4, 9)


def test_each_bad_row_is_quarantined_with_its_reason(messy):
    tmp_path, conn = messy
    sync_purchases(purchases_config(tmp_path), conn)
    reasons = sorted(row[0] for row in conn.execute("select reason from purchases_quarantine").fetchall())
    expected = sorted(where for _, where in MESSY_LINES if where != "loaded")
    assert [reason.split(":")[0] for reason in reasons] == expected


def test_quarantined_rows_keep_their_raw_values_and_position(messy):
    tmp_path, conn = messy
    sync_purchases(purchases_config(tmp_path), conn)
    row, raw = conn.execute(
        "select source_row, raw_record from purchases_quarantine where reason = 'non-numeric quantity'"
    ).fetchone()
    assert row == 5
    assert '"quantity":"one"' in raw
    line, raw_line = conn.execute(
        "select source_line, raw_line from purchases_quarantine where reason like 'unreadable line (too many%'"
    ).fetchone()
    assert line == 12 and raw_line.startswith("O10,C3")


def test_returns_are_kept_flagged_with_negative_amounts_and_non_product_lines_flagged(messy):
    tmp_path, conn = messy
    sync_purchases(purchases_config(tmp_path), conn)
    rows = conn.execute(
        "select order_id, quantity, amount, is_return, is_non_product from purchases order by order_id"
    ).fetchall()
    assert rows == [
        ("C6", -1.0, -5.0, True, False),
        ("O1", 2.0, 10.0, False, False),
        ("O12", 3.0, 4.5, False, False),
        ("O9", 1.0, 3.0, False, True),
    ]


def test_values_padded_with_spaces_or_tabs_read_like_clean_ones_and_blank_numbers_are_missing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "padded.csv").write_text(
        HEADER
        + "O1, C1 , 2024-01-01 ,P1, 2 ,\t5.00\t\n"  # padded text, bare date, numbers
        + "O2,C1,2024-01-02 10:00:00,P1,  ,5.00\n"  # blank quantity: no amount can be worked out
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        sync_purchases(purchases_config(tmp_path), conn)
        loaded = conn.execute("select customer_id, order_ts, quantity, unit_price, amount from purchases").fetchall()
        reasons = conn.execute("select reason from purchases_quarantine").fetchall()
    assert loaded == [("C1", datetime(2024, 1, 1), 2.0, 5.0, 10.0)]
    assert reasons == [("missing amount (neither amount nor quantity and unit_price)",)]


def test_a_rerun_on_the_same_files_changes_nothing(messy):
    tmp_path, conn = messy
    config_path = purchases_config(tmp_path)
    sync_purchases(config_path, conn)
    before = conn.execute("select * from purchases order by all").fetchall()
    again = sync_purchases(config_path, conn)
    assert again.loaded == [] and len(again.unchanged) == 3
    assert conn.execute("select * from purchases order by all").fetchall() == before
    assert conn.execute("select count(*) from purchases_quarantine").fetchone()[0] == 9


def test_a_new_file_is_loaded_without_reloading_the_others(messy):
    tmp_path, conn = messy
    config_path = purchases_config(tmp_path)
    sync_purchases(config_path, conn)
    (tmp_path / "in" / "later.csv").write_text(HEADER + "O20,C9,2024-02-01 09:00:00,P1,1,4.00\n")
    report = sync_purchases(config_path, conn)
    assert [Path(f.source_file).name for f in report.loaded] == ["later.csv"]
    assert conn.execute("select count(*) from purchases").fetchone()[0] == 5


def test_a_changed_file_replaces_its_earlier_rows_and_a_removed_file_takes_its_rows_along(messy):
    tmp_path, conn = messy
    config_path = purchases_config(tmp_path)
    later = tmp_path / "in" / "later.csv"
    later.write_text(HEADER + "O20,C9,2024-02-01 09:00:00,P1,1,4.00\n")
    sync_purchases(config_path, conn)
    later.write_text(HEADER + "O21,C9,2024-02-02 09:00:00,P1,2,4.00\nO22,C9,2024-02-03 09:00:00,P1,1,4.00\n")
    os.utime(later, (later.stat().st_atime, later.stat().st_mtime + 10))
    sync_purchases(config_path, conn)
    orders = conn.execute("select order_id from purchases where customer_id = 'C9' order by 1").fetchall()
    assert orders == [("O21",), ("O22",)]
    later.unlink()
    report = sync_purchases(config_path, conn)
    assert [Path(name).name for name in report.removed] == ["later.csv"]
    assert conn.execute("select count(*) from purchases where customer_id = 'C9'").fetchone()[0] == 0
    assert conn.execute("select count(*) from load_audit").fetchone()[0] == 3


def test_duplicate_keys_in_reference_sources_are_quarantined(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "purchases.csv").write_text(HEADER + "O1,C1,2024-01-01,P1,1,2\n")
    (tmp_path / "products.csv").write_text("sku,category\nP1,tools\nP1,paint\nP2,\n")
    config_path = write_config(
        tmp_path,
        {
            "sources": {
                "purchases": {"path": "in"},
                "products": {"path": "products.csv", "columns": {"product_id": "sku"}},
            }
        },
    )
    with duckdb.connect() as conn:
        sync_source(conn, plan_sources(load_settings(config_path))["products"], NOW)
        assert conn.execute("select product_id, category from products").fetchall() == [("P1", "tools")]
        reasons = conn.execute("select reason from products_quarantine order by source_row").fetchall()
        assert reasons == [("duplicate product_id",), ("missing category",)]


def test_the_online_retail_file_is_fully_accounted_for(tmp_path):
    requires_shared_data("online_retail/online_retail.csv.gz")
    settings = load_settings(REPO / "examples" / "online_retail.yaml")
    with duckdb.connect() as conn:
        report = sync_source(conn, plan_sources(settings)["purchases"], datetime.now())
        (load,) = report.loaded
        assert load.rows_read == 541_909
        assert load.rows_loaded + load.rows_quarantined == 541_909
        reasons = dict(conn.execute("select reason, count(*) from purchases_quarantine group by 1").fetchall())
        assert reasons["missing customer_id"] == 135_080
        assert reasons["exact duplicate of an earlier row"] > 5_000
        loaded = conn.execute(
            "select count(distinct customer_id), count(*) filter (where is_return), "
            "count(*) filter (where not is_return and not is_non_product) from purchases"
        ).fetchone()
        assert loaded[0] == 4_371
        assert loaded[1] > 8_000  # cancellations are kept, as returns
        assert loaded[2] > 390_000


def test_the_shipped_sample_loads_with_exactly_its_planted_mess_quarantined():
    plans = plan_sources(load_settings(REPO / "lifecycle.yaml"))
    with duckdb.connect() as conn:
        for plan in plans.values():
            sync_source(conn, plan, NOW.replace(year=2026))
        reasons = dict(conn.execute("select reason, count(*) from purchases_quarantine group by 1").fetchall())
        assert reasons == {
            "unparseable order_ts": 5,
            "missing customer_id": 3,
            "exact duplicate of an earlier row": 3,
            "non-numeric unit_price": 2,
            "zero price": 2,
        }
        survey = conn.execute("select reason, count(*) from survey_responses_quarantine group by 1").fetchall()
        assert survey == [("exact duplicate of an earlier row", 2)]
        counts = conn.execute(
            "select (select count(*) from purchases), (select count(*) from products), "
            "(select count(*) from customers), (select count(*) from survey_responses)"
        ).fetchone()
        assert counts == (51_139, 189, 3_530, 600)
