"""The morning report's parts on hand-made data: each section's one-sentence takeaway (growth,
decline, no change, no data), the cohort chart's axis, the action lists that partition
next_best_action, the run history it compares against, and the contact columns' config check."""

import re
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from assets.lifecycle.building import cohort_heatmap
from assets.report import takeaways
from assets.report.building import Cell, Chart, Report, Section, Table, define_action_list, model_line
from assets.report.history import comparison_rows
from assets.report.rendering import write_action_lists, write_report_files
from common.charts import new_figure, png_bytes
from common.config import ConfigError, load_settings
from common.sources import plan_sources
from conftest import write_config, write_csv

NIGHT = {"as_of": date(2025, 12, 31), "customers": 300, "active_customers_30d": 40, "customers_new": 20,
         "customers_active": 100, "customers_vip": 30, "customers_at_risk": 50, "customers_reactivated": 0,
         "customers_lapsed": 100, "customers_prospect_active": 5, "customers_prospect_inactive": 15}


def night(**changes) -> dict:
    return NIGHT | changes


# --- takeaways -----------------------------------------------------------------------------------


def test_the_headline_names_the_stage_that_grew_most():
    before = night(customers_lapsed=96, customers_active=103, customers_new=21)
    assert takeaways.headline(night(), before, "the previous night (30 Dec 2025)") == (
        "Lapsed customers grew by 4.2% since the previous night (30 Dec 2025), from 96 to 100, the largest move of "
        "any stage; 40 customers bought in the last 30 days."
    )


def test_the_headline_names_a_decline():
    before = night(customers_vip=40, customers_active=90)
    assert takeaways.headline(night(), before, "the previous night (30 Dec 2025)").startswith(
        "VIP customers fell by 25.0% since the previous night (30 Dec 2025), from 40 to 30"
    )


def test_the_headline_says_when_nothing_changed():
    assert takeaways.headline(night(), night(), "the previous night (30 Dec 2025)") == (
        "No stage changed since the previous night (30 Dec 2025): 300 customers and 20 prospects."
    )


def test_the_headline_of_the_first_night_says_changes_come_later():
    assert takeaways.headline(night(), None, None) == (
        "First night on record: 300 customers and 20 prospects; changes since the previous night show from the "
        "next run on."
    )


def test_the_headline_without_anybody_says_so():
    empty = {key: 0 for key in NIGHT} | {"as_of": date(2025, 12, 31)}
    assert takeaways.headline(empty, None, None) == (
        "No customer or prospect on 31 Dec 2025: the purchases hold nobody to report on."
    )


def test_what_to_do_today_counts_contacts_due_and_names_the_most_valuable_action():
    per_action = pd.DataFrame({
        "action": ["win_back_offer", "vip_care_referral_ask", "stop_spending", "repurchase_reminder"],
        "customers": [50, 10, 500, 20],
        "due_today": [50, 10, 500, 5],
        "expected_value": [100.0, 5000.0, 9999.0, 800.0],
    })
    assert takeaways.actions(per_action, "EUR") == (
        "Contact 65 customers and prospects today; VIP care and referral ask carries the most expected value: "
        "€5,000 across 10 customers."
    )


def test_what_to_do_today_without_actions_or_due_contacts():
    assert takeaways.actions(pd.DataFrame(columns=["action", "customers", "due_today", "expected_value"]), "EUR") == (
        "Nobody to act on: next_best_action is empty."
    )
    later = pd.DataFrame({"action": ["second_purchase_nudge"], "customers": [8], "due_today": [0], "expected_value": [1.0]})
    assert takeaways.actions(later, "EUR") == (
        "Nobody is due for contact today; 8 customers and prospects have an action planned."
    )


def test_the_flow_takeaway_reads_last_months_transitions():
    transitions = pd.DataFrame({
        "snapshot_date": [date(2025, 11, 30)] * 5,
        "from_stage": ["(not yet a customer)", "new", "new", "active", "active"],
        "to_stage": ["new", "new", "active", "active", "lapsed"],
        "customers": [12, 30, 10, 80, 4],
        "rate": [1.0, 0.75, 0.25, 0.952, 0.048],
    })
    assert takeaways.flow(transitions) == (
        "In the month to 30 Nov 2025, 12 first-time buyers joined; the largest move: 10 new customers became "
        "active customers (25.0% of them); 4 customers slid to at risk or lapsed."
    )
    assert takeaways.flow(transitions.head(0)) == (
        "No month-to-month movement yet: transitions need two month ends in the history."
    )


def month_one(*rates: float) -> pd.DataFrame:
    return pd.DataFrame({"cohort_month": pd.date_range("2025-01-01", periods=len(rates), freq="MS").date,
                         "retention_rate": rates})


def test_the_cohort_takeaway_compares_the_last_three_cohorts_with_the_three_before():
    assert takeaways.cohorts(month_one(0.30, 0.30, 0.30, 0.40, 0.40, 0.40)) == (
        "40.0% of the last three cohorts bought again in their second month, up from 30.0% for the three before."
    )
    assert "down from 40.0%" in takeaways.cohorts(month_one(0.40, 0.40, 0.40, 0.30, 0.30, 0.30))
    assert "the same as 30.0%" in takeaways.cohorts(month_one(0.30, 0.30, 0.30, 0.301, 0.30, 0.30))
    assert takeaways.cohorts(month_one(0.25)) == "25.0% of the customers who first bought in Jan 2025 bought again the month after."
    assert takeaways.cohorts(month_one()) == (
        "No cohort is a month old yet: retention shows once a first-purchase month has a following month."
    )


def test_new_versus_established_names_the_largest_difference():
    ratios = pd.DataFrame({"measure": ["avg_order_value", "purchase_days_per_buyer"], "ratio": [1.13, 0.78]})
    assert takeaways.new_vs_established(ratios, "") == (
        "The largest difference: new customers' purchase days per buyer is 22% lower than established customers'."
    )
    alike = pd.DataFrame({"measure": ["avg_order_value"], "ratio": [1.02]})
    assert takeaways.new_vs_established(alike, "").startswith("New and established customers behave alike")
    nothing = pd.DataFrame({"measure": ["avg_order_value"], "ratio": [None]})
    assert takeaways.new_vs_established(nothing, "not available: the purchases have no categories") == (
        "No new or established buyer to compare: not available: the purchases have no categories."
    )


def test_concentration_writes_the_top_20_share_or_says_there_is_no_revenue():
    assert takeaways.concentration(0.6476, 0.6165, 1207255.19, "GBP", date(2025, 12, 31)) == (
        "The top 20% of customers bring 64.8% of revenue (Gini 0.62); 12-month customer lifetime value totals £1,207,255."
    )
    assert takeaways.concentration(None, None, None, "GBP", date(2025, 12, 31)) == (
        "No revenue up to 31 Dec 2025: nothing to concentrate."
    )


def test_segments_name_who_returns_most_and_who_is_worth_most():
    profiles = pd.DataFrame({
        "segment_name": ["discounts & price", "location & speed", "quality"],
        "respondents": [100, 50, 50],
        "return_rate": [0.02, 0.14, 0.01],
        "mean_clv_12m": [300.0, 330.0, 820.0],
    })
    assert takeaways.segments(profiles, "", "EUR") == (
        "3 segments from 200 respondents: “location & speed” returns most (14.0% of spend) and “quality” is worth "
        "most (€820 mean 12-month CLV)."
    )
    unlinked = profiles.assign(return_rate=None, mean_clv_12m=None)
    assert takeaways.segments(unlinked, "", "EUR").endswith("so how each behaves is unknown.")
    assert takeaways.segments(profiles.head(0), "no survey source is configured", "EUR") == (
        "No survey segments: no survey source is configured."
    )


def test_the_chain_takeaway_compares_the_last_month_with_three_months_before():
    rates = pd.DataFrame({"month": pd.date_range("2025-08-01", periods=5, freq="MS").date,
                          "continuation_rate": [0.40, 0.437, 0.45, 0.46, 0.481]})
    assert takeaways.chains(rates, "Decor", "Paint", 7) == (
        "48.1% of purchases were followed by another within 7 days in Dec 2025, up from 43.7% three months before; "
        "Decor ends chains most, Paint keeps them going best."
    )
    assert takeaways.chains(rates.head(0), None, None, 7) == (
        "No month of purchases can be judged yet: a purchase continued its chain or not only 7 days later."
    )


def test_the_trust_takeaway_accounts_for_every_row_and_names_failed_checks():
    reasons = pd.DataFrame({"reason": ["unparseable order_ts", "zero price"], "rows": [5, 2]})
    checks = pd.DataFrame({"check_name": ["purchases_trustworthy", "purchases_plausible"], "passed": [True, True]})
    assert takeaways.trust(100, 93, 7, reasons, checks) == (
        "All 100 rows read are accounted for: 93 loaded and 7 quarantined (mostly unparseable order_ts: 5); "
        "2 of 2 data checks passed."
    )
    failing = checks.assign(passed=[True, False])
    assert takeaways.trust(100, 93, 7, reasons, failing).endswith("1 of 2 data checks FAILED: purchases_plausible.")
    assert "do not add up" in takeaways.trust(100, 90, 7, reasons, checks)
    assert takeaways.trust(0, 0, 0, reasons.head(0), checks.head(0)) == "No input rows were read."


def test_the_model_scorecard_in_one_line_reads_clv_model_selection_where_it_exists():
    conn = duckdb.connect()
    conn.execute(
        "create table clv_model_selection as select * from (values "
        "('bg_nbd', 'ok', false, 'higher holdout MAE', -12.15, 0.785, 1882.0), "
        "('pareto_nbd', 'ok', true, 'lowest holdout MAE', -11.50, 0.755, 1882.0), "
        "('mbg_nbd', 'did not converge', false, 'not fitted', null, null, 1882.0)) "
        "v(model, status, chosen, reason, total_error_pct, mae, actual_repeat_purchases)"
    )
    assert model_line(conn, {"production_model": "pareto_nbd"}) == (
        "Production model: Pareto/NBD (lowest holdout MAE); holdout error −11.5% on 1,882 repeat purchases, mean "
        "absolute error 0.755 per customer. Other candidates: BG/NBD −12.2%, MAE 0.785; MBG/NBD: did not converge."
    )


def test_without_a_scorecard_the_model_line_says_so_and_reads_the_backtest():
    conn = duckdb.connect()
    conn.execute("create table clv_model as select 'bg_nbd' as model, 'production' as purpose, 'ok' as status")
    conn.execute(
        "create table clv_backtest as select * from (values (90.0, 100.0, 'ok'), (45.0, 50.0, 'ok')) "
        "v(predicted_purchases, actual_purchases, status)"
    )
    line = model_line(conn, {"production_model": "bg_nbd", "holdout_error_pct": -10.0})
    assert line == (
        "Production model: BG/NBD, the only model fitted (no model scorecard: the table clv_model_selection is not "
        "in this warehouse); its backtest predicted 135 repeat purchases in the holdout against 150 actual (−10.0%)."
    )
    conn.execute("update clv_model set status = 'insufficient data: 12 repeat buyers, at least 30 needed'")
    assert model_line(conn, {"production_model": None}) == (
        "No CLV model in production: insufficient data: 12 repeat buyers, at least 30 needed. Stages and actions "
        "fall back to recency and spend."
    )


# --- charts --------------------------------------------------------------------------------------


def test_the_cohort_chart_labels_each_column_with_its_own_month_since_the_first_purchase():
    conn = duckdb.connect()
    conn.execute("create table analysis_scope as select date '2025-03-31' as as_of")
    conn.execute(
        "create table cohort_retention as select * from (values "
        "(date '2025-01-01', 0, 10, 10, 1.0), (date '2025-01-01', 1, 10, 4, 0.4), (date '2025-01-01', 2, 10, 3, 0.3), "
        "(date '2025-02-01', 0, 20, 20, 1.0), (date '2025-02-01', 1, 20, 5, 0.25)) "
        "v(cohort_month, months_since_first_purchase, cohort_customers, active_customers, retention_rate)"
    )
    axes = cohort_heatmap(conn).axes[0]
    ticks = [tick.get_text() for tick in axes.get_xticklabels()]
    assert ticks == ["1", "2"]  # month 0 (everyone) is left out, and the first column is month 1
    image = axes.get_images()[0].get_array()
    assert image[0, 0] == pytest.approx(0.4) and image[0, 1] == pytest.approx(0.3)


# --- action lists --------------------------------------------------------------------------------


def action_warehouse() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute(
        "create table next_best_action as select * from (values "
        "('C1', 'lapsed', 'win_back_offer', 'lapsed, top spender: win-back offer', null, date '2025-12-31', 80.0, '12-month CLV', null), "
        "('C2', 'lapsed', 'win_back_offer', 'lapsed, top spender: win-back offer', null, date '2025-12-31', 120.0, '12-month CLV', 'quality'), "
        "('C3', 'vip', 'vip_care_referral_ask', 'top value customer', null, date '2025-12-31', 900.0, '12-month CLV', null), "
        "('P1', 'prospect_inactive', 'prospect_nurture', 'newsletter only', null, date '2025-12-31', 30.0, 'mean first purchase', null)) "
        "v(customer_id, stage, action, action_reason, cross_sell_category, contact_on, expected_value, expected_value_basis, survey_segment)"
    )
    conn.execute(
        "create table customers as select * from (values ('C1', 'c1@example.com', 'North'), ('C2', 'c2@example.com', 'South'), "
        "('C3', null, 'North')) v(customer_id, email, region)"
    )
    return conn


def test_the_action_lists_hold_every_row_of_next_best_action_exactly_once(tmp_path):
    conn = action_warehouse()
    define_action_list(conn, ["email"])
    actions = [action for (action,) in conn.execute("select distinct action from next_best_action order by 1").fetchall()]
    written = write_action_lists(conn, tmp_path / "actions", actions)
    frames = {action: pd.read_csv(path) for action, path in written.items()}
    together = pd.concat(frames.values())
    assert sorted(together["customer_id"]) == ["C1", "C2", "C3", "P1"]
    for action, frame in frames.items():
        assert set(frame["action"]) == {action}
        assert pd.read_parquet(written[action].with_suffix(".parquet"))["customer_id"].tolist() == frame["customer_id"].tolist()
    win_back = frames["win_back_offer"]
    assert win_back.columns.tolist()[:4] == ["action", "customer_id", "email", "contact_on"]
    assert win_back["customer_id"].tolist() == ["C2", "C1"]  # most valuable first on the same contact day
    assert win_back["email"].tolist() == ["c2@example.com", "c1@example.com"]
    assert frames["prospect_nurture"]["email"].isna().all()  # a prospect missing from the customers file keeps its row


def test_a_long_action_list_is_in_contact_order_most_valuable_first_in_both_files(tmp_path):
    # more rows than DuckDB's row groups and vectors, so threads could reorder what is not kept in order
    conn = duckdb.connect()
    conn.execute(
        "create table next_best_action as select 'C' || lpad(i::varchar, 7, '0') as customer_id, 'active' as stage, "
        "'reminder_email' as action, 'due' as action_reason, null as cross_sell_category, "
        "date '2026-01-01' + (hash(i) % 30)::int as contact_on, (hash(i + 1) % 1000) / 10 as expected_value, "
        "'12-month CLV' as expected_value_basis, null as survey_segment from range(300000) t(i)"
    )
    conn.execute("create table customers (customer_id varchar)")
    define_action_list(conn, [])
    written = write_action_lists(conn, tmp_path / "actions", ["reminder_email"])["reminder_email"]
    expected = [customer for (customer,) in conn.execute(
        "select customer_id from next_best_action order by contact_on, round(expected_value, 2) desc, customer_id"
    ).fetchall()]
    assert pd.read_csv(written)["customer_id"].tolist() == expected
    assert pd.read_parquet(written.with_suffix(".parquet"))["customer_id"].tolist() == expected


def test_a_list_whose_action_has_nobody_tonight_does_not_linger(tmp_path):
    conn = action_warehouse()
    define_action_list(conn, [])
    write_action_lists(conn, tmp_path / "actions", ["win_back_offer", "vip_care_referral_ask", "prospect_nurture"])
    conn.execute("delete from next_best_action where action = 'vip_care_referral_ask'")
    define_action_list(conn, [])
    write_action_lists(conn, tmp_path / "actions", ["win_back_offer", "prospect_nurture"])
    assert sorted(path.name for path in (tmp_path / "actions").iterdir()) == [
        "prospect_nurture.csv", "prospect_nurture.parquet", "win_back_offer.csv", "win_back_offer.parquet",
    ]


def test_a_contact_column_that_would_shadow_an_action_list_column_is_prefixed(tmp_path):
    conn = action_warehouse()
    conn.execute("alter table customers rename column region to stage")
    define_action_list(conn, ["stage"])
    columns = [name for (name, *_) in conn.execute("describe action_list").fetchall()]
    assert "customer_stage" in columns and columns.count("stage") == 1


def test_the_page_is_self_contained_escapes_data_and_links_lists_and_the_dictionary_from_either_copy(tmp_path):
    conn = action_warehouse()
    conn.execute("create table data_dictionary as select 'next_best_action' as table_name, 'action' as column_name, 'what to do' as description")
    define_action_list(conn, [])
    fig, ax = new_figure(4, 3)
    ax.plot([0, 1], [0, 1])
    section = Section("segments", "Survey segments", "“<script>alert(1)</script>” returns most.", True, [
        Chart("chart", "a line", png_bytes(fig)),
        Table(["Action", "CSV"], [[Cell("Win-back offer"), Cell("win_back_offer.csv", href="actions/win_back_offer.csv")]]),
    ], [Cell("the data dictionary", href="data_dictionary.html")])
    report = Report("Report", date(2025, 12, 31), "run-1", datetime(2026, 1, 1, 6, 0), [section], {},
                    ["prospect_nurture", "vip_care_referral_ask", "win_back_offer"], True)
    files = write_report_files(conn, tmp_path, report)
    page, archived = files.page.read_text(), files.archived.read_text()
    assert files.page == tmp_path / "morning_report.html" and files.archived == tmp_path / "report" / "2025-12-31.html"
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert re.findall(r'<img src="([^"]{0,22})', page) == ["data:image/png;base64,"]
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch from a network
    assert 'href="actions/win_back_offer.csv"' in page and 'href="../actions/win_back_offer.csv"' in archived
    assert 'href="data_dictionary.html"' in page and "what to do" in files.data_dictionary.read_text()
    assert (tmp_path / "actions" / "win_back_offer.parquet").exists()


# --- run history ---------------------------------------------------------------------------------


def test_the_report_compares_with_the_previous_night_and_the_latest_run_a_month_before():
    history = pd.DataFrame({
        "run_id": ["a", "b", "c", "d", "e"],
        "as_of": pd.to_datetime(["2025-11-15", "2025-12-01", "2025-12-30", "2025-12-31", "2025-12-31"]),
    })
    current, previous, month_ago = comparison_rows(history, "e")
    assert current["run_id"] == "e"
    assert previous["run_id"] == "c"  # a re-run of the same night is not "the previous night"
    assert month_ago["run_id"] == "b"
    _, previous, month_ago = comparison_rows(history, "a")
    assert previous is None and month_ago is None


# --- config --------------------------------------------------------------------------------------


def test_a_contact_column_the_customers_file_does_not_have_is_a_config_error(tmp_path):
    write_csv(tmp_path / "purchases.csv", [{"customer_id": "C1", "order_ts": "2025-01-01", "amount": "5"}])
    write_csv(tmp_path / "customers.csv", [{"customer_id": "C1", "email": "c1@example.com"}])
    sources = {"purchases": {"path": "purchases.csv"}, "customers": {"path": "customers.csv"}}
    config = write_config(tmp_path, {"sources": sources, "report": {"contact_columns": ["email", "phone"]}})
    with pytest.raises(ConfigError) as raised:
        plan_sources(load_settings(config))
    message = str(raised.value)
    assert "report.contact_columns: 'phone' is not a column of the customers table" in message
    assert "customers.csv" in message and "email" in message
    without = write_config(tmp_path, {"sources": {"purchases": sources["purchases"]}, "report": {"contact_columns": ["email"]}})
    with pytest.raises(ConfigError, match="no customers source is configured"):
        plan_sources(load_settings(without))
