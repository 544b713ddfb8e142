"""A bad config stops the run before anything is written, with one message naming source, column and file."""

from pathlib import Path

import pytest
from conftest import materialize, write_config, write_csv

from common.config import ConfigDeprecation, ConfigError, load_settings
from common.resources import warehouse_path
from common.sources import plan_sources

PURCHASES = [{"CustomerID": "C1", "InvoiceDate": "2024-01-01 10:00:00", "Total": "9.50"}]
MAPPING = {"customer_id": "CustomerID", "order_ts": "InvoiceDate", "amount": "Total"}


def config_with(tmp_path: Path, purchases: dict, **top_level) -> Path:
    write_csv(tmp_path / "in" / "purchases.csv", PURCHASES)
    return write_config(tmp_path, {"sources": {"purchases": purchases}, **top_level})


def problem(config_path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        plan_sources(load_settings(config_path))
    return str(raised.value)


def test_a_valid_config_maps_every_canonical_column_it_names(tmp_path):
    settings = load_settings(config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING}))
    plan = plan_sources(settings)["purchases"]
    assert plan.columns == MAPPING
    assert plan.files == [(tmp_path / "in" / "purchases.csv").resolve()]


def test_an_unknown_key_is_named(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "colums": MAPPING}))
    assert "unknown key 'sources.purchases.colums'" in message
    assert "lifecycle.yaml" in message


def test_an_unknown_top_level_key_is_named(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING}, horizon=3))
    assert "unknown key 'horizon'" in message


def test_a_missing_file_names_the_source_and_the_resolved_path(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/nowhere.csv", "columns": MAPPING}))
    assert "source 'purchases'" in message
    assert "in/nowhere.csv" in message
    assert str(tmp_path / "in" / "nowhere.csv") in message


def test_a_mapped_column_absent_from_the_file_names_source_column_and_file(tmp_path):
    message = problem(
        config_with(tmp_path, {"path": "in/purchases.csv", "columns": {**MAPPING, "order_ts": "OrderDate"}})
    )
    assert "source 'purchases', column 'order_ts'" in message
    assert "'OrderDate'" in message
    assert str(tmp_path / "in" / "purchases.csv") in message
    assert "CustomerID, InvoiceDate, Total" in message


def test_a_required_canonical_column_that_is_not_mapped_is_named(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "columns": {"amount": "Total"}}))
    assert "column 'customer_id': required but not mapped" in message
    assert str(tmp_path / "in" / "purchases.csv") in message


def test_purchases_need_an_amount_or_quantity_and_unit_price(tmp_path):
    mapping = {"customer_id": "CustomerID", "order_ts": "InvoiceDate"}
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "columns": mapping}))
    assert "column 'amount'" in message and "quantity and unit_price" in message


def test_an_unknown_canonical_column_is_named(tmp_path):
    message = problem(
        config_with(tmp_path, {"path": "in/purchases.csv", "columns": {**MAPPING, "price_each": "Total"}})
    )
    assert "unknown canonical column 'price_each'" in message


def test_a_bad_value_is_named_with_its_key(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING}, time_unit="month"))
    assert "'time_unit'" in message


def test_a_missing_config_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="LIFECYCLE_CONFIG"):
        load_settings(tmp_path / "absent.yaml")


def test_an_optional_source_with_a_bad_column_stops_the_run_before_any_write(tmp_path, home):
    config_path = config_with(
        tmp_path,
        {"path": "in/purchases.csv", "columns": MAPPING},
    )
    write_csv(tmp_path / "in" / "events.csv", [{"who": "C1", "when": "2024-01-01", "what": "site_visit"}])
    config_path.write_text(
        config_path.read_text()
        + "  events:\n    path: in/events.csv\n    columns: {customer_id: who, event_ts: when, event_type: kind}\n"
    )
    result = materialize(config_path, home, raise_on_error=False)
    assert not result.success
    assert not warehouse_path(home).exists()


def test_an_action_setting_under_its_old_section_still_runs_and_says_where_it_belongs_now(tmp_path):
    config = write_config(tmp_path, {
        "sources": {"purchases": {"path": "purchases.csv"}},
        "lifecycle": {"lapsed_days": 400, "welcome_days": 14},
    })
    with pytest.warns(ConfigDeprecation, match=r"'lifecycle.welcome_days' is deprecated, write it as 'actions.welcome_days'"):
        settings = load_settings(config)
    assert (settings.lifecycle.lapsed_days, settings.actions.welcome_days) == (400, 14)


def test_a_column_named_twice_in_a_header_names_the_file_and_the_column(tmp_path):
    config = config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING})
    (tmp_path / "in" / "purchases.csv").write_text("CustomerID,InvoiceDate,Total,CustomerID\nC1,2024-01-01,9.50,C2\n")
    message = problem(config)
    assert f"file {tmp_path / 'in' / 'purchases.csv'} has the column 'CustomerID' more than once" in message
    assert "(columns 1 and 4)" in message


def test_a_timestamp_format_duckdb_cannot_parse_is_one_clear_message(tmp_path, home):
    config = config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING, "timestamp_format": "%Q %Y"})
    assert problem(config) == (
        f"{config}: source 'purchases': timestamp_format '%Q %Y' is not a valid format "
        "(Failed to parse format specifier %Q %Y: Unrecognized format for strftime/strptime: %Q)"
    )
    result = materialize(config, home, raise_on_error=False)
    assert not result.success and not warehouse_path(home).exists()


def test_a_timestamp_format_that_reads_none_of_the_first_values_is_a_config_error(tmp_path):
    config = config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING, "timestamp_format": "%d/%m/%Y %H:%M"})
    write_csv(tmp_path / "in" / "purchases.csv", [{**PURCHASES[0], "InvoiceDate": "2024.01.31 10:00"}])
    message = problem(config)
    assert "column 'order_ts': timestamp_format '%d/%m/%Y %H:%M' reads none of the first 1 values" in message
    assert "(for example '2024.01.31 10:00')" in message


def test_only_the_encodings_duckdb_reads_itself_are_accepted(tmp_path):
    message = problem(config_with(tmp_path, {"path": "in/purchases.csv", "columns": MAPPING, "encoding": "cp1252"}))
    assert "'sources.purchases.encoding'" in message and "'latin-1'" in message


def test_a_section_under_its_old_name_still_runs_and_says_its_new_name(tmp_path):
    config = write_config(tmp_path, {
        "sources": {"purchases": {"path": "purchases.csv"}},
        "clv": {"holdout_fraction": 0.3},
        "segmentation": {"k": 4},
    })
    with pytest.warns(ConfigDeprecation) as warned:
        settings = load_settings(config)
    messages = [str(warning.message) for warning in warned]
    assert any("section 'clv' is deprecated, name it 'customer_value'" in message for message in messages)
    assert any("section 'segmentation' is deprecated, name it 'survey'" in message for message in messages)
    assert (settings.customer_value.holdout_fraction, settings.survey.k) == (0.3, 4)


def test_a_section_given_under_both_its_old_and_new_name_is_a_config_error(tmp_path):
    config = write_config(tmp_path, {
        "sources": {"purchases": {"path": "purchases.csv"}},
        "clv": {"holdout_fraction": 0.3},
        "customer_value": {"holdout_fraction": 0.2},
    })
    with pytest.raises(ConfigError, match="'clv' is the old name of 'customer_value'"):
        load_settings(config)
