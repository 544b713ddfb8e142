"""The table-by-table comparison that proves speed work changed no published value: it finds a
changed value, type, row or table, and nothing when only the row order differs."""

from pathlib import Path

import duckdb
import pytest

from bench.compare import compare

CUSTOMERS = "select * from (values ('c1', 10.5::double, 2), ('c2', 3.0, 1), ('c3', 7.25, 4)) as t(customer_id, spend, days)"


def publish(folder: Path, tables: dict[str, str]) -> Path:
    """A night folder with one Parquet file per table, each written from a SELECT."""
    folder.mkdir()
    with duckdb.connect() as conn:
        for table, select in tables.items():
            conn.execute(f"copy ({select}) to '{folder / table}.parquet' (format parquet)")
    return folder


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return publish(tmp_path / "old", {"customer_rfm": CUSTOMERS, "pareto": "select 1 as rank"})


def test_the_same_rows_in_another_order_are_equal(old, tmp_path):
    new = publish(tmp_path / "new", {"customer_rfm": f"select * from ({CUSTOMERS}) order by customer_id desc",
                                     "pareto": "select 1 as rank"})
    result = compare(old, new)
    assert result.equal and result.tables == ["customer_rfm", "pareto"]


@pytest.mark.parametrize(
    "changed, problem",
    [
        (f"select customer_id, case when customer_id = 'c2' then 3.0000001 else spend end as spend, days from ({CUSTOMERS})",
         "customer_rfm: 1 rows only in the old tables, 1 only in the new"),
        (f"select customer_id, spend, days::bigint as days from ({CUSTOMERS})", "customer_rfm: columns differ"),
        (f"select customer_id, days, spend from ({CUSTOMERS})", "customer_rfm: columns differ"),
        (f"select * from ({CUSTOMERS}) where customer_id <> 'c3'", "customer_rfm: 3 rows -> 2 rows"),
        (f"select * from ({CUSTOMERS}) union all select * from ({CUSTOMERS}) where customer_id = 'c1' "
         f"except all select * from ({CUSTOMERS}) where customer_id = 'c2'",
         "customer_rfm: 1 rows only in the old tables, 1 only in the new"),
    ],
    ids=["value", "type", "column order", "row count", "a row repeated instead of another"],
)
def test_a_changed_value_type_or_row_is_found(old, tmp_path, changed, problem):
    new = publish(tmp_path / "new", {"customer_rfm": changed, "pareto": "select 1 as rank"})
    result = compare(old, new)
    assert not result.equal
    assert [found for found in result.problems if found.startswith(problem)], result.problems


def test_a_table_published_on_one_side_only_is_found(old, tmp_path):
    new = publish(tmp_path / "new", {"customer_rfm": CUSTOMERS, "pareto_chart": "select 1 as rank"})
    assert compare(old, new).problems == [f"pareto: only in {old}", f"pareto_chart: only in {new}"]


def test_two_warehouse_files_compare_like_two_nights(tmp_path):
    for name, spend in (("old", 1.5), ("new", 2.5)):
        with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as conn:
            conn.execute(f"create table customer_rfm as select 'c1' as customer_id, {spend}::double as spend")
    assert compare(tmp_path / "old.duckdb", tmp_path / "old.duckdb").equal
    assert compare(tmp_path / "old.duckdb", tmp_path / "new.duckdb").problems == [
        "customer_rfm: 1 rows only in the old tables, 1 only in the new"
    ]


def test_run_logs_and_load_clocks_are_compared_by_their_columns_only(tmp_path):
    """run_history gains a row per run and load_audit records when each file loaded: neither is data."""
    old = publish(tmp_path / "old", {"run_history": "select 1 as night", "load_audit": "select 'a.csv' as source_file, now() as loaded_at"})
    new = publish(tmp_path / "new", {"run_history": "select night::integer as night from range(2) as t(night)",
                                     "load_audit": "select 'a.csv' as source_file, now() + interval 1 hour as loaded_at"})
    assert compare(old, new).equal
    renamed = publish(tmp_path / "renamed", {"run_history": "select 1 as night_id", "load_audit": "select 'b.csv' as source_file, now() as loaded_at"})
    assert [problem.split(":")[0] for problem in compare(old, renamed).problems] == ["load_audit", "run_history"]


def test_doubles_that_differ_only_in_their_last_bits_are_a_note_not_a_difference(old, tmp_path):
    """A parallel sum adds its terms in any order: 82088.56343734023 in one run, ...024 in the next."""
    last_bit = f"select customer_id, case when customer_id = 'c1' then nextafter(spend, 1e9) else spend end as spend, days from ({CUSTOMERS})"
    result = compare(old, publish(tmp_path / "new", {"customer_rfm": last_bit, "pareto": "select 1 as rank"}))
    assert result.equal and result.notes == [
        "customer_rfm: 1 rows only in the old tables, 1 only in the new, all equal to 12 significant digits"
    ]
