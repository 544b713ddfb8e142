"""Reading: a file DuckDB's sniffer cannot read is read with its dialect spelled out (then tolerantly),
so only truly unreadable lines are quarantined, each with its real line number and the reader's own
message; a file that cannot be read at all, or an empty purchases file, fails the step saying why."""

import gzip

import duckdb
import pytest
from conftest import materialize
from test_ingest_loading import HEADER, purchase_files, sync_purchases

from assets.ingest.reading import InputError

LINES = [f"O{i},C{i % 7},2024-01-0{1 + i % 9} 10:00:00,P1,1,2.50" for i in range(1, 60)]


def load_file(tmp_path, content: bytes) -> tuple[duckdb.DuckDBPyConnection, object]:
    conn = duckdb.connect()
    report = sync_purchases(purchase_files(tmp_path, {"p.csv": content}), conn)
    return conn, report.loaded[0]


def quarantined(conn) -> list[tuple]:
    return conn.execute("select source_row, source_line, reason, raw_line from purchases_quarantine order by all").fetchall()


def test_a_crlf_file_ending_in_a_bare_newline_loads_every_row(tmp_path):
    content = "\r\n".join([HEADER.strip(), *LINES]) + "\r\n\n"
    with pytest.raises(duckdb.Error, match="Error when sniffing file"):  # what DuckDB alone makes of it
        duckdb.sql("select * from read_csv(?)", params=[str(write(tmp_path / "alone.csv", content))])
    conn, load = load_file(tmp_path, content.encode())
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (59, 59, 0)
    assert conn.execute("select max(unit_price), count(distinct order_id) from purchases").fetchone() == (2.5, 59)


def test_in_the_tolerant_read_a_line_with_surplus_values_is_quarantined_not_cut(tmp_path):
    lines = list(LINES)
    lines[5] = "O6,C6,2024-01-01,P1,1,2.50,surplus"
    conn, load = load_file(tmp_path, ("\r\n".join([HEADER.strip(), *lines]) + "\r\n\n").encode())
    assert load.read_mode == "tolerant"
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (59, 58, 1)
    assert conn.execute("select reason, raw_record from purchases_quarantine").fetchone() == (
        "unreadable line (too many columns): more values than the header has",
        '{"customer_id":"C6","order_ts":"2024-01-01","order_id":"O6","product_id":"P1","category":null,"channel":null,'
        '"store_id":null,"quantity":"1","unit_price":"2.50","amount":null,"discount":null,"promo":null,'
        '"is_return":null,"(surplus values)":"surplus"}',
    )


def test_an_over_long_line_among_the_first_is_quarantined_with_its_real_line_number(tmp_path):
    lines = list(LINES)
    lines[40] = "O41,C1,2024-01-01,P1,1," + "9" * 3_000_000  # line 42 of the file, header included
    conn, load = load_file(tmp_path, ("\n".join([HEADER.strip(), *lines]) + "\n").encode())
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (59, 58, 1)
    ((row, line, reason, raw_line),) = quarantined(conn)
    assert (row, line) == (None, 42)
    assert reason == (
        "unreadable line (line size over maximum): "
        "Maximum line size of 2000000 bytes exceeded. Actual Size:3000023 bytes."
    )
    assert raw_line.startswith("O41,C1,2024-01-01,P1,1,999")


def test_the_line_number_of_an_unreadable_line_counts_the_lines_of_the_file(tmp_path):
    lines = list(LINES)
    lines[3] = 'O4,"C4\nwho wrote two lines",2024-01-01,P1,1,2.50'  # one row on lines 5 and 6
    lines[20] = "O21,C1,2024-01-01,P1,1,2.50,surplus"  # line 23 of the file: DuckDB counts it as row 22
    conn, _ = load_file(tmp_path, ("\n".join([HEADER.strip(), *lines]) + "\n").encode())
    assert quarantined(conn) == [
        (None, 23, "unreadable line (too many columns): Expected Number of Columns: 6 Found: 7",
         "O21,C1,2024-01-01,P1,1,2.50,surplus"),
    ]


def test_a_file_that_cannot_be_read_fails_with_one_line_naming_file_and_reason(tmp_path):
    rows = "".join(f"O{i},C{i % 977},2024-01-02 10:00:00,P{i % 13},1,2.50\n" for i in range(300_000))
    packed = gzip.compress((HEADER + rows).encode())
    config = purchase_files(tmp_path, {"p.csv.gz": packed[: len(packed) // 2]})  # cut off in transfer
    with pytest.raises(InputError) as raised:
        sync_purchases(config, duckdb.connect())
    summary = str(raised.value).splitlines()[0]
    assert summary == f"{tmp_path / 'in' / 'p.csv.gz'}: Unexpected end of GZIP stream: {tmp_path / 'in' / 'p.csv.gz'}"


def test_an_empty_purchases_file_fails_the_step_saying_so(tmp_path, home):
    config = purchase_files(tmp_path, {"p.csv": b""})
    result = materialize(config, home, selection="key:purchases", raise_on_error=False)
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.event_specific_data.error.message.strip().endswith(f"no rows: {tmp_path / 'in' / 'p.csv'} is empty")
    assert not result.success


def write(path, content: str):
    path.write_bytes(content.encode())
    return path
