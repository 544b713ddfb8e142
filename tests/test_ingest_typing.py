"""Typing: numbers that are not finite are quarantined, money is exact, timestamps land in one zone,
and files in other encodings are read (or their unreadable lines kept byte for byte)."""

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
from conftest import connect, materialize, write_config
from test_ingest_loading import HEADER, purchase_files, sync_purchases


def load(tmp_path, lines: list[str], **purchases) -> duckdb.DuckDBPyConnection:
    config = purchase_files(tmp_path, {"p.csv": HEADER + "".join(line + "\n" for line in lines)}, **purchases)
    conn = duckdb.connect()
    sync_purchases(config, conn)
    return conn


def reasons(conn) -> dict[int, str]:
    return dict(conn.execute("select source_row, reason from purchases_quarantine").fetchall())


def test_infinite_nan_and_overflowing_numbers_are_quarantined_as_non_finite(tmp_path):
    prices = ["inf", "-inf", "NaN", "Infinity", "-Infinity", "1e400"]
    conn = load(tmp_path, [
        *(f"O{i},C1,2024-03-06,P1,1,{price}" for i, price in enumerate(prices, start=1)),
        "O7,C1,2024-03-06,P1,inf,2.00",
        "O8,C1,2024-03-06,P1,1,1e20",  # finite, but beyond the 14 digits money has before the point
        "O9,C1,2024-03-06,P1,1,abc",
        "O10,C1,2024-03-06,P1,1,2.00",
    ])
    assert reasons(conn) == {
        **{row: "non-finite unit_price" for row in range(1, 7)},
        7: "non-finite quantity",
        8: "unit_price out of range",
        9: "non-numeric unit_price",
    }
    assert conn.execute("select order_id from purchases").fetchall() == [("O10",)]


def test_money_and_quantities_are_stored_as_exact_decimals(tmp_path):
    conn = load(tmp_path, [
        "O1,C1,2024-03-06,P1,1,0.10",
        "O1,C1,2024-03-06,P2,1,0.20",
        "O2,C1,2024-03-07,P3,3,1.15",  # 3 x 1.15 is 3.4499999999999997 in binary floating point
    ])
    types = dict(conn.execute("select column_name, data_type from duckdb_columns() where table_name = 'purchases'").fetchall())
    assert {types[column] for column in ("quantity", "unit_price", "amount", "discount")} == {"DECIMAL(18,4)"}
    assert conn.execute("select sum(amount) filter (where order_id = 'O1'), sum(amount) filter (where order_id = 'O2') from purchases").fetchone() == (
        Decimal("0.3"), Decimal("3.45"),
    )


def test_a_day_bought_and_returned_nets_to_exactly_zero_and_is_no_purchase_day(tmp_path, home):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p.csv").write_text(HEADER + "".join(line + "\n" for line in [
        "O1,A,2024-01-05 09:00,P1,1,124.26",
        "R1,A,2024-01-05 15:00,P1,-1,124.26",
        "O2,A,2024-01-10 09:00,P1,1,0.10",
        "O2,A,2024-01-10 09:00,P2,1,0.20",
        "O3,A,2024-02-10 09:00,P3,1,10.00",
    ]))
    config = write_config(tmp_path, {"as_of": "2024-03-31", "sources": {"purchases": {"path": "in", "return_order_prefix": "R"}}})
    assert materialize(config, home, selection="group:ingest or group:prepare or group:customer_value").success
    with connect(home) as conn:
        days = conn.execute(
            "select purchase_date, net_amount, is_purchase_day from customer_purchase_days order by purchase_date"
        ).fetchall()
        model_input = conn.execute("select frequency, repeat_monetary from customer_rfm where customer_id = 'A'").fetchone()
    assert days == [
        (date(2024, 1, 5), Decimal("0"), False),
        (date(2024, 1, 10), Decimal("0.3"), True),
        (date(2024, 2, 10), Decimal("10"), True),
    ]
    assert model_input == (2, 10.0)  # one repeat purchase day, worth 10.00: the cancelled day is none


@pytest.mark.parametrize(
    "timezone, expected",
    [
        ("UTC", [datetime(2024, 3, 7, 4, 30), datetime(2024, 3, 6, 23, 30), datetime(2024, 3, 6, 23, 30), datetime(2024, 3, 6, 22, 30)]),
        ("America/New_York", [datetime(2024, 3, 6, 23, 30), datetime(2024, 3, 6, 18, 30), datetime(2024, 3, 6, 23, 30), datetime(2024, 3, 6, 17, 30)]),
    ],
)
def test_timestamps_with_an_offset_are_converted_to_the_configured_zone_and_naive_ones_kept(tmp_path, timezone, expected):
    conn = load(tmp_path, [
        "O1,C1,2024-03-06T23:30:00-05:00,P1,1,2.00",
        "O2,C1,2024-03-06T23:30:00Z,P1,1,2.00",
        "O3,C1,2024-03-06 23:30:00,P1,1,2.00",  # naive: taken to be in the configured zone
        "O4,C1,2024-03-06T23:30+01,P1,1,2.00",
    ], timezone=timezone)
    stored = conn.execute("select order_ts, order_date from purchases order by order_id").fetchall()
    assert stored == [(ts, ts.date()) for ts in expected]


def test_a_timestamp_format_with_an_offset_is_converted_too(tmp_path):
    conn = load(tmp_path, ["O1,C1,06/03/2024 23:30 -0500,P1,1,2.00"], timestamp_format="%d/%m/%Y %H:%M %z")
    assert conn.execute("select order_ts from purchases").fetchone() == (datetime(2024, 3, 7, 4, 30),)


def test_the_configured_timezone_must_be_a_known_zone(tmp_path):
    from common.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="'Mars/Olympus' is not an IANA time zone"):
        load_settings(purchase_files(tmp_path, {"p.csv": HEADER}, timezone="Mars/Olympus"))


LATIN_1 = (HEADER + "O1,Café Noir,2024-03-06,P1,1,2.00\nO2,C2,2024-03-06,P1,1,3.00\n").encode("latin-1")


def test_a_latin_1_file_is_read_with_its_configured_encoding(tmp_path):
    conn = load_bytes(tmp_path, LATIN_1, encoding="latin-1")
    assert conn.execute("select customer_id from purchases order by 1").fetchall() == [("C2",), ("Café Noir",)]


def test_a_utf_16_file_is_read_with_its_configured_encoding(tmp_path):
    conn = load_bytes(tmp_path, (HEADER + "O1,Café Noir,2024-03-06,P1,1,2.00\n").encode("utf-16"), encoding="utf-16")
    assert conn.execute("select customer_id from purchases").fetchall() == [("Café Noir",)]


def test_a_line_that_is_not_utf_8_is_quarantined_with_its_bytes_kept_as_escapes(tmp_path):
    conn = load_bytes(tmp_path, LATIN_1)
    line, raw_line, reason = conn.execute("select source_line, raw_line, reason from purchases_quarantine").fetchone()
    assert (line, raw_line) == (2, "O1,Caf\\xe9 Noir,2024-03-06,P1,1,2.00")
    assert reason.startswith("unreadable line (invalid encoding)")
    assert conn.execute("select customer_id from purchases").fetchall() == [("C2",)]


def load_bytes(tmp_path, content: bytes, **purchases) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    sync_purchases(purchase_files(tmp_path, {"p.csv": content}, **purchases), conn)
    return conn
