"""Table contracts and lineage: deps read from the SQL, every asset selectable with its upstream,
checks on every published table, and the documentation analysts find inside the data."""

from dataclasses import replace
from datetime import datetime

import dagster as dg
import duckdb
import pytest
from dagster._core.execution.api import create_execution_plan

from assets.ingest.checks import Expectation, plausible, trustworthy, validate_table
from common.contracts import (
    ASSETS,
    README,
    contract,
    contract_checks,
    load_contracts,
    render_readme,
    run_check,
    sql_reads,
)
from common.lineage import scratch_reads, warehouse_reads
from common.resources import build_resources
from conftest import REPO, connect, materialize, write_config
from pipelines.definitions import defs

GRAPH = defs.resolve_asset_graph()
ASSET_KEYS = sorted(key.to_user_string() for key in GRAPH.get_all_asset_keys())


def parents(asset: str) -> set[str]:
    return {key.to_user_string() for key in GRAPH.get(dg.AssetKey(asset)).parent_keys}


# --- lineage ------------------------------------------------------------------------------------


def test_the_parser_finds_warehouse_tables_and_leaves_out_ctes_temps_and_table_functions():
    sql = """
        create or replace temp macro gaps() as table select * from main.customer_purchase_days;
        with recent as (select * from main.customer_rfm where recency_days < $days)
        select * from recent join main.customer_clv using (customer_id)
        cross join range(3) join clv_summary using (customer_id) join gaps() using (customer_id)
    """
    assert warehouse_reads(sql) == {"customer_purchase_days", "customer_rfm", "customer_clv"}
    assert scratch_reads(sql) == {"clv_summary"}


def test_customer_profile_depends_on_all_thirteen_tables_its_sql_reads():
    assert parents("customer_profile") == {
        "customer_lifecycle", "next_best_action", "customers", "customer_rfm", "customer_clv", "customer_abc",
        "customer_chain_summary", "repurchase_windows", "customer_categories", "events", "service_scores",
        "survey_segments", "analysis_scope",
    }


@pytest.mark.parametrize("table", sorted(load_contracts()))
def test_every_table_an_assets_sql_reads_is_an_asset_it_depends_on(table):
    reads = sql_reads(table)
    assert reads <= set(ASSET_KEYS), f"{table} reads {reads - set(ASSET_KEYS)}, which no asset writes"
    assert reads <= parents(table)
    assert not scratch_reads_of(table) & set(ASSET_KEYS), f"{table} reads a published table without main."


def scratch_reads_of(table: str) -> set[str]:
    return set().union(*(scratch_reads(path) for path in contract(table).sql_files))


def test_every_sql_file_that_reads_the_warehouse_is_run_by_an_asset_that_declares_it():
    claimed = {path for declared in load_contracts().values() for path in declared.sql_files}
    # quarantine.sql and the report's action_list.sql still take formatted identifiers: no SQL to parse
    parsed = [path for path in ASSETS.glob("*/sql/*.sql") if "{" not in path.read_text()]
    unclaimed = [path for path in parsed if warehouse_reads(path) and path not in claimed]
    # the morning report reads the published night: it runs after analyst_exports, after every table
    assert "analyst_exports" in parents("morning_report")
    assert [path.relative_to(ASSETS) for path in unclaimed if path.parent.parent.name != "report"] == []


def test_every_step_runs_after_the_steps_that_write_what_it_reads():
    order = [step.key for step in create_execution_plan(defs.resolve_implicit_global_asset_job_def()).get_steps_to_execute_in_topo_order()]
    position = {key: index for index, key in enumerate(order)}
    for table in ASSET_KEYS:
        step = GRAPH.get(dg.AssetKey(table)).assets_def.node_def.name
        for upstream in parents(table):
            upstream_step = GRAPH.get(dg.AssetKey(upstream)).assets_def.node_def.name
            assert upstream_step == step or position[upstream_step] < position[step], (upstream, table)


def upstream_selection(asset: str) -> set[dg.AssetKey]:
    """What `dagster asset materialize --select '*<asset>'` selects, resolved as the CLI does."""
    return dg.AssetSelection.from_coercible([f"*{asset}"]).resolve(GRAPH)


@pytest.mark.parametrize("asset", ASSET_KEYS)
def test_every_asset_can_be_materialized_with_its_upstream(asset):
    """The CLI's path: resolve the selection, take the implicit job for those assets, subset it,
    and plan the run."""
    repository = defs.get_repository_def()
    selected = upstream_selection(asset)
    job = repository.get_implicit_job_def_for_assets(selected)
    plan = create_execution_plan(job.get_subset(asset_selection=selected))
    assert GRAPH.get(dg.AssetKey(asset)).assets_def.node_def.name in {step.key for step in plan.steps}


def test_a_deep_selection_with_its_upstream_materializes_on_the_sample(home):
    result = materialize(REPO / "lifecycle.yaml", home, selection="*customer_lifecycle")
    assert result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {"purchases", "customers", "customer_rfm", "customer_clv", "customer_lifecycle"} <= materialized
    assert all(check.passed for check in result.get_asset_check_evaluations())


# --- checks ---------------------------------------------------------------------------------------


def test_every_published_table_but_the_keyless_view_has_a_key_check():
    for table, declared in load_contracts().items():
        names = [check.name for check in declared.checks]
        assert ("key" in names) != declared.is_view, table


@pytest.fixture(scope="module")
def customers_with_a_repeated_id(tmp_path_factory):
    """1.5M customers, one id at row 10 and again at row 1,200,000: in different 1M-row batches."""
    conn = duckdb.connect(str(tmp_path_factory.mktemp("dup") / "w.duckdb"))
    conn.execute(
        "create table customers as select case when range = 1199999 then 'C10' else 'C' || (range + 1) end as customer_id, "
        "null::timestamp as registered_at, 'f.csv' as source_file, range + 1 as source_row from range(1500000)"
    )
    return conn


def test_a_key_repeated_across_a_million_rows_is_caught(customers_with_a_repeated_id):
    (key,) = [check for check in contract("customers").checks if check.name == "key"]
    result = run_check(customers_with_a_repeated_id, "customers", key)
    assert not result.passed and result.metadata["failing_rows"].value == 1
    assert "C10" in result.metadata["examples"].value
    # the row-level expectations still pass, batch by batch: they never judged uniqueness
    assert validate_table(customers_with_a_repeated_id, "customers", trustworthy("customers"))["unexpected"].sum() == 0


def test_implausible_dates_and_prices_are_counted_in_every_batch_and_shown_as_dates():
    """1.5M purchase lines (two batches), three dated outside 1990..today (one in 1500, beyond what
    nanosecond datetimes hold, one a day after the run), one with a negative price, one without a
    timestamp: each expectation counts its rows, and the examples read as the dates they are."""
    conn = duckdb.connect()
    conn.execute(
        "create table purchases as select 'C' || range as customer_id, "
        "case range when 5 then date '1500-03-01' when 1200000 then date '1989-12-31' "
        "when 1400000 then date '2026-11-30' else date '2024-01-01' + (range % 700)::int end as order_date, "
        "case when range = 7 then null else timestamp '2024-01-01 10:00:00' end as order_ts, "
        "case when range = 9 then -1.5 else 2.25 end::decimal(18,4) as unit_price, "
        "0::decimal(18,4) as discount, 2.25::decimal(18,4) as amount, false as is_return from range(1500000)"
    )
    plausible_now = validate_table(conn, "purchases", plausible("purchases", datetime(2026, 11, 29, 12)))
    assert plausible_now.set_index("column")["unexpected"].to_dict() == {"order_date": 3, "unit_price": 1, "discount": 0}
    assert plausible_now.set_index("column").loc["order_date", "examples"] == "1500-03-01, 1989-12-31, 2026-11-30"
    assert plausible_now.set_index("column").loc["unit_price", "examples"] == "-1.5"
    trusted = validate_table(conn, "purchases", trustworthy("purchases"))
    assert trusted.set_index("column")["unexpected"].to_dict() == {
        "(table)": 0, "customer_id": 0, "order_ts": 1, "amount": 0, "is_return": 0,
    }


def test_the_key_checks_quick_answer_passes_only_a_table_whose_full_check_passes():
    """The distinct-hash count answers first; it may only say 'passed' where the grouping would find
    nothing: a repeated key (also one with its nullable part missing) and a missing key part each
    make it defer to the full check, which then counts them."""
    conn = duckdb.connect()
    (lifecycle_key,) = [check for check in contract("lifecycle_history").checks if check.name == "key"]
    (breakers_key,) = [check for check in contract("chain_breakers").checks if check.name == "key"]
    conn.execute(
        "create table clean as select (date '2025-01-31' + to_months(range % 3))::date as snapshot_date, "
        "'C' || (range // 3) as customer_id from range(30)"
    )
    conn.execute("create table lifecycle_history as from clean")
    conn.execute("create table chain_breakers as select * from (values ('channel', null), ('channel', 'store')) v(dimension, value)")
    assert conn.execute(lifecycle_key.passes_if).fetchone()[0] and run_check(conn, "lifecycle_history", lifecycle_key).passed
    assert conn.execute(breakers_key.passes_if).fetchone()[0] and run_check(conn, "chain_breakers", breakers_key).passed
    for fault, failing in [
        ("insert into lifecycle_history values (date '2025-02-28', 'C4')", 1),
        ("insert into lifecycle_history values (date '2025-02-28', null)", 1),
        ("insert into lifecycle_history values (null, 'C4')", 1),
        ("insert into lifecycle_history select * from clean", 30),
    ]:
        conn.execute("create or replace table lifecycle_history as from clean")
        conn.execute(fault)
        assert not conn.execute(lifecycle_key.passes_if).fetchone()[0], fault
        result = run_check(conn, "lifecycle_history", lifecycle_key)
        assert not result.passed and result.metadata["failing_rows"].value == failing, fault
    conn.execute("insert into chain_breakers values ('channel', null)")
    assert not conn.execute(breakers_key.passes_if).fetchone()[0]
    assert run_check(conn, "chain_breakers", breakers_key).metadata["failing_rows"].value == 1


def test_a_missing_key_is_caught_and_a_nullable_key_part_is_allowed():
    conn = duckdb.connect()
    conn.execute("create table customer_rfm as select * from (values ('C1'), (null)) v(customer_id)")
    conn.execute(
        "create table chain_breakers as select * from (values ('channel', null), ('channel', 'store')) v(dimension, value)"
    )
    (rfm_key,) = [check for check in contract("customer_rfm").checks if check.name == "key"]
    (breakers_key,) = [check for check in contract("chain_breakers").checks if check.name == "key"]
    assert not run_check(conn, "customer_rfm", rfm_key).passed
    assert run_check(conn, "chain_breakers", breakers_key).passed


@pytest.mark.parametrize(
    ("table", "expected_from", "check_name"),
    [
        ("customer_clv", "customer_rfm", "one_row_per_customer"),
        ("next_best_action", "customer_lifecycle", "one_action_per_customer_and_prospect"),
        ("customer_profile", "customer_lifecycle", "one_row_per_customer_and_prospect"),
    ],
)
def test_a_customer_missing_from_either_side_of_a_coverage_check_is_a_failing_row(table, expected_from, check_name):
    """C2 is expected but absent, C4 present but not expected, and each side has a row without an id
    (which matches nothing): four failing rows, each once. C1, present twice, is the key check's
    business, not this one's."""
    conn = duckdb.connect()
    conn.execute(f"create table {expected_from} as "
                 "select * from (values ('C1'), ('C2'), ('C3'), (null)) v(customer_id)")
    conn.execute(f"create table {table} as select * from (values ('C1'), ('C1'), ('C3'), ('C4'), (null)) v(customer_id)")
    (check,) = [check for check in contract(table).checks if check.name == check_name]
    result = run_check(conn, table, check)
    assert not result.passed and result.metadata["failing_rows"].value == 4
    failing = conn.execute(f"select customer_id from ({check.failing_rows}) order by all").fetchall()
    assert failing == [("C2",), ("C4",), (None,), (None,)]
    conn.execute(f"delete from {expected_from} where customer_id is null")
    conn.execute(f"delete from {table} where customer_id is null or customer_id = 'C4'")
    conn.execute(f"insert into {table} values ('C2')")
    assert run_check(conn, table, check).passed


def test_a_failing_blocking_contract_check_stops_everything_downstream(tmp_path, home):
    """A separately defined blocking check holds back the assets downstream of its table in the same run."""
    strict = replace(
        contract("analysis_scope"),
        domain_checks=({"name": "never_passes", "description": "fails on purpose", "fails_where": "true"},),
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p.csv").write_text("order_id,customer_id,order_ts,product_id,quantity,unit_price\nO1,C1,2024-01-02,P1,1,2\n")
    config_path = write_config(tmp_path, {"sources": {"purchases": {"path": "in"}}})
    result = dg.materialize(
        [*defs.assets, contract_checks(strict, set(ASSET_KEYS))],
        selection="*customer_purchase_days",
        resources=build_resources(str(config_path), home),
        raise_on_error=False,
    )
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations() if c.asset_key == dg.AssetKey("analysis_scope")}
    assert checks["never_passes"] is False
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert "analysis_scope" in materialized and "customer_purchase_days" not in materialized


# --- documentation inside the data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("published") / "home"
    assert materialize(REPO / "lifecycle.yaml", home).success
    return home


def test_every_table_and_column_in_the_snapshot_carries_its_description(published):
    with duckdb.connect(str(published / "exports" / "lifecycle.duckdb"), read_only=True) as snapshot:
        tables = snapshot.execute(
            "select table_name, comment from duckdb_tables() union all "
            "select view_name, comment from duckdb_views() where not internal"
        ).fetchall()
        columns = snapshot.execute(
            "select table_name, column_name, comment from duckdb_columns() where database_name = current_database()"
        ).fetchall()
    assert len(tables) == len(load_contracts()) and all(comment for _, comment in tables)
    assert [(t, c) for t, c, comment in columns if not comment] == []


def test_the_data_dictionary_covers_every_published_column_with_its_stored_type(published):
    with connect(published) as conn:
        columns = conn.execute(
            "select table_name, column_name, data_type from duckdb_columns() where database_name = current_database()"
        ).fetchall()
        dictionary = {
            (row[0], row[1]): row[2:]
            for row in conn.execute("select table_name, column_name, data_type, description, is_key, checks from data_dictionary").fetchall()
        }
    assert {(t, c) for t, c, _ in columns} == set(dictionary)
    assert all(dictionary[(t, c)][0] == data_type and dictionary[(t, c)][1] for t, c, data_type in columns)
    assert dictionary[("customer_clv", "customer_id")][2:] == (True, "key, not_null, one_row_per_customer")
    assert dictionary[("customers", "customer_id")][3] == "key, customers_trustworthy"


def test_the_contracts_declare_the_columns_and_types_the_tables_have(published):
    with connect(published) as conn:
        actual = conn.execute(
            "select table_name, list(column_name order by column_index), list(data_type order by column_index) "
            "from duckdb_columns() where database_name = current_database() group by 1"
        ).fetchall()
    for table, names, types in actual:
        declared = contract(table)
        for name, data_type in zip(names, types):
            column = declared.column(name)
            assert column is not None and column.type == data_type, (table, name, data_type)
        assert {c.name for c in declared.columns if not c.is_pattern} <= set(names), table


def test_each_parquet_file_carries_the_descriptions(published):
    metadata = dict(
        duckdb.execute(
            "select key::varchar, value::varchar from parquet_kv_metadata(?)",
            [str(published / "exports" / "customer_clv.parquet")],
        ).fetchall()
    )
    assert metadata["table"] == contract("customer_clv").description
    assert metadata["key"] == "customer_id"
    assert metadata["column:p_alive"].startswith("probability that the customer is still active")


def test_every_asset_in_the_ui_but_the_file_writers_has_a_contract_and_a_column_schema():
    assert set(ASSET_KEYS) - set(load_contracts()) == {"analyst_exports", "morning_report"}
    for table in load_contracts():
        assert "dagster/column_schema" in GRAPH.get(dg.AssetKey(table)).metadata, table


def test_the_readme_column_tables_are_the_contracts():
    assert README.read_text() == render_readme(README.read_text()), "run python -m common.contracts"


def test_great_expectations_judges_exact_decimal_amounts_by_their_value():
    """Decimals reach GX as doubles (as Python objects they made the checks several times slower);
    a missing amount and a negative price are still found, and a price of 0.0001 is not negative."""
    conn = duckdb.connect()
    conn.execute(
        "create table purchases as select * from (values (1, 10.50::decimal(18,4)), (2, null), "
        "(3, -0.0001::decimal(18,4)), (4, 0.0001::decimal(18,4))) v(source_row, unit_price)"
    )
    outcome = validate_table(conn, "purchases", [
        Expectation("not_null", "unit_price"), Expectation("between", "unit_price", 0, None),
    ])
    assert outcome["unexpected"].tolist() == [1, 1]
