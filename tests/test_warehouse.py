"""Materializing a stage's SQL as a table: all or nothing, and customer ids stored for fast writes."""

import inspect

import duckdb
import pytest

from common.spark import SparkConnection
from common.warehouse import (
    DuckDBEngine, Engine, Parts, create_table, create_table_in_parts, part_boundaries, part_ranges,
)


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def write_sql(tmp_path, name, text):
    path = tmp_path / f"{name}.sql"
    path.write_text(text)
    return path


def test_a_table_is_created_with_its_rows_and_replaced_on_the_next_run(conn, tmp_path):
    sql = write_sql(tmp_path, "numbers", "select range as n, 'C' || range as customer_id from range($upto)")
    assert create_table(conn, "numbers", sql, {"upto": 300_000}) == 300_000
    assert create_table(conn, "numbers", sql, {"upto": 5}) == 5
    assert conn.execute("select sum(n) from numbers where n > 2").fetchone()[0] == 7


def test_filtered_reads_see_every_row_of_a_freshly_created_table(conn, tmp_path):
    sql = write_sql(tmp_path, "days", "select range as n, 'C' || (range % 1000) as customer_id from range(500000)")
    create_table(conn, "days", sql)
    conn.close()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as reopened:
        assert reopened.execute("select count(*) from days where n >= 250000").fetchone()[0] == 250_000
        assert reopened.execute("select count(*) from days where customer_id = 'C7'").fetchone()[0] == 500



def test_a_large_grouped_table_without_id_columns_reads_back_every_row(conn, tmp_path):
    """DuckDB 2.0 loses such a table when it is made with `... with no data` and filled in the same
    transaction; create_table must not."""
    conn.execute(
        "create table source as select range % 1000 as f, (range % 977)::double as r, "
        "(range % 991)::double as t from range(1000000)"
    )
    sql = write_sql(tmp_path, "groups", "select f, r, t, count(*) as n from source group by all")
    assert create_table(conn, "groups", sql) == 1_000_000
    assert conn.execute("select count(*), sum(n) from groups").fetchone() == (1_000_000, 1_000_000)

def test_a_failing_query_keeps_the_previous_table(conn, tmp_path):
    good = write_sql(tmp_path, "good", "select range as n, 'C' || range as customer_id from range(10)")
    bad = write_sql(tmp_path, "bad", "select n, customer_id, cast('x' || n as integer) as broken from (" + good.read_text() + ")")
    create_table(conn, "kept", good)
    with pytest.raises(duckdb.ConversionException):
        create_table(conn, "kept", bad)
    assert conn.execute("select count(*), count(distinct customer_id) from kept").fetchone() == (10, 10)
    assert [column for (column,) in conn.execute("select column_name from duckdb_columns() where table_name = 'kept'").fetchall()] == ["n", "customer_id"]


def test_a_table_built_in_parts_has_each_row_of_its_sources_once(conn, tmp_path):
    """Each statement reads only the keys in_table_part(key) of every source; together the parts
    give each row once, joins matched within their part."""
    conn.execute("create table customers as select 'C' || range as customer_id, range as n from range(10000)")
    conn.execute("create table orders as select 'C' || (range % 10000) as customer_id, 1 as orders from range(30000)")
    sql = write_sql(tmp_path, "per_customer", """
        with mine as (select * from customers where in_table_part(customer_id)),
        my_orders as (select customer_id, sum(orders) as orders from orders where in_table_part(customer_id) group by 1)
        select mine.customer_id, mine.n, my_orders.orders from mine join my_orders using (customer_id)
    """)
    whole = None
    for rows_per_part in (2500, 700, 1_000_000):  # four parts, fifteen, one
        assert create_table_in_parts(conn, "per_customer", sql, Parts("customers", "customer_id", rows_per_part)) == 10_000
        built = conn.execute("select * from per_customer order by customer_id").fetchall()
        assert whole is None or built == whole
        whole = built
    assert conn.execute("select count(distinct customer_id), sum(n), min(orders), max(orders) from per_customer").fetchone() == (
        10_000, sum(range(10_000)), 3, 3,
    )


def test_the_parts_cut_a_table_into_parts_of_about_the_rows_asked_for(conn):
    conn.execute("create table customers as select 'C' || range as customer_id from range(200000)")
    boundaries = part_boundaries(conn, "customers", "customer_id", 50_000)
    sizes = [
        conn.execute(
            "select count(*) from customers where customer_id >= $from and ($to is null or customer_id < $to)",
            {"from": part_from, "to": part_to},
        ).fetchone()[0]
        for part_from, part_to in part_ranges(boundaries)
    ]
    assert sum(sizes) == 200_000 and len(sizes) == 4
    assert all(40_000 < size < 60_000 for size in sizes), sizes
    assert part_boundaries(conn, "customers", "customer_id", 200_000) == []


def test_a_failing_part_keeps_the_previous_table(conn, tmp_path):
    conn.execute("create table customers as select 'C' || range as customer_id from range(100)")
    good = write_sql(tmp_path, "good", "select customer_id from customers where in_table_part(customer_id)")
    bad = write_sql(tmp_path, "bad", good.read_text() + " and error_in_last_part()")
    conn.execute("create macro error_in_last_part() as case when getvariable('part_is_last') then error('last part failed') else true end")
    create_table_in_parts(conn, "kept", good, Parts("customers", "customer_id", 40))
    with pytest.raises(duckdb.InvalidInputException, match="last part failed"):
        create_table_in_parts(conn, "kept", bad, Parts("customers", "customer_id", 40))
    assert conn.execute("select count(*) from kept").fetchone()[0] == 100


def test_customer_and_order_ids_are_stored_uncompressed_and_other_text_columns_compressed(conn, tmp_path):
    sql = write_sql(
        tmp_path, "customers",
        "select 'C' || lpad(range::varchar, 8, '0') as customer_id, 'O' || range as order_id, "
        "['Champions', 'Loyal', 'Lost'][range % 3 + 1] as segment, range::double as spend from range(300000)",
    )
    create_table(conn, "customers", sql)
    conn.execute("checkpoint")
    methods = dict(conn.execute(
        "select column_name, string_agg(distinct compression, ',') from pragma_storage_info('customers') "
        "where segment_type = 'VARCHAR' and compression <> 'Constant' group by 1"
    ).fetchall())
    assert methods["customer_id"] == methods["order_id"] == "Uncompressed"
    assert methods["segment"] != "Uncompressed"
    assert conn.execute("select typeof(spend) from customers limit 1").fetchone()[0] == "DOUBLE"


def test_an_unordered_table_has_every_row_and_later_tables_on_the_connection_keep_their_order(conn, tmp_path):
    grouped = write_sql(tmp_path, "grouped", "select range % 100000 as customer, count(*) as days from range(400000) group by all")
    assert create_table(conn, "per_customer", grouped, unordered=True) == 100_000
    assert conn.execute("select count(distinct customer), sum(days) from per_customer").fetchone() == (100_000, 400_000)
    failing = write_sql(tmp_path, "failing", "select cast('x' || range as integer) as broken from range(10)")
    with pytest.raises(duckdb.ConversionException):
        create_table(conn, "broken", failing, unordered=True)
    assert conn.execute("select current_setting('preserve_insertion_order')").fetchone()[0] is True
    ordered = write_sql(tmp_path, "ordered", "select range as n from range(300000)")
    create_table(conn, "in_order", ordered)
    assert conn.execute("select count(*) from (select n, row_number() over () - 1 as position from in_order) where n <> position").fetchone()[0] == 0


def test_both_engines_offer_every_table_operation_with_the_same_parameters():
    """A stage's helpers call the Engine protocol whatever the engine: each engine has every
    operation, taking the same parameters in the same order."""
    operations = [name for name in vars(Engine) if not name.startswith("_")]
    assert "create_table" in operations and "replace_rows" in operations
    for implementation in (DuckDBEngine, SparkConnection):
        for name in operations:
            declared = list(inspect.signature(getattr(Engine, name)).parameters)
            assert list(inspect.signature(getattr(implementation, name)).parameters) == declared, (implementation, name)
