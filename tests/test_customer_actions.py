"""What to do about each customer: new versus established, cross-sell candidates, repurchase
windows, the next best action and the single customer profile."""

from datetime import date

import duckdb
import pytest

from assets.actions import building as actions_building
from assets.chains.building import build_chain_tables
from common.config import ActionsSettings, ChainSettings
from conftest import REPO, connect, materialize, requires_shared_data
from fixtures import build, purchase_log


def shop(lines: list[tuple], as_of: date) -> duckdb.DuckDBPyConnection:
    """A warehouse holding purchase lines (customer, date, category[, channel, amount, is_discounted])
    and the customer-day, RFM and chain tables the real SQL builds from them."""
    conn = purchase_log(
        [
            {"customer_id": customer, "day": day, "category": category,
             **dict(zip(("channel", "amount", "is_discounted"), rest))}
            for customer, day, category, *rest in lines
        ],
        as_of,
    )
    build(conn, "customer_purchase_days", "customer_rfm")
    build_chain_tables(conn, ChainSettings())
    return conn


# --- new versus established ----------------------------------------------------------------------


def comparison(lines, as_of=date(2024, 12, 31)) -> dict[str, tuple]:
    conn = shop(lines, as_of)
    build(conn, "new_vs_established")
    rows = conn.execute("select measure, new_customers, established_customers, note from new_vs_established").fetchall()
    return {measure: (new, established, note) for measure, new, established, note in rows}


def test_new_and_established_customers_are_compared_over_the_same_recent_window():
    measures = comparison([
        ("newbie", date(2024, 12, 1), "tools", "online", 30.0, True),
        ("newbie", date(2024, 12, 1), "paint", "online", 10.0, False),
        ("newbie", date(2024, 12, 20), "paint", "store", 10.0, False),
        ("old_active", date(2023, 1, 1), "paint", "store", 50.0, False),
        ("old_active", date(2024, 11, 1), "paint", "store", 50.0, False),
        ("old_quiet", date(2023, 5, 1), "paint", "store", 20.0, False),
    ])
    assert measures["customers"][:2] == (1, 2)
    assert measures["share_bought_in_window"][:2] == (1.0, 0.5)
    assert measures["share_repeat_buyers"][:2] == (1.0, 0.0)
    assert measures["purchase_days_per_buyer"][:2] == (2.0, 1.0)
    # newbie's order on 1 December holds two lines (two ids here); old_active's one order is 50
    assert measures["avg_order_value"][:2] == (pytest.approx(50 / 3), 50.0)
    assert measures["categories_per_buyer"][:2] == (2.0, 1.0)
    assert measures["share of buyers using channel online"][:2] == (1.0, None)
    assert measures["share of buyers using channel store"][:2] == (1.0, 1.0)
    assert measures["share_lines_discounted"][:2] == (pytest.approx(1 / 3), 0.0)
    assert measures["share_repeat_buyers"][2] == "customers who bought in the last 90 days"


def test_without_categories_or_discounts_those_comparisons_are_null_and_say_why():
    measures = comparison([
        ("newbie", date(2024, 12, 1), None),
        ("old", date(2023, 12, 1), None),
        ("old", date(2024, 12, 2), None),
    ])
    new, established, note = measures["categories_per_buyer"]
    assert (new, established) == (None, None) and note.startswith("not available: the purchases have no categories")
    new, established, note = measures["share_lines_discounted"]
    assert (new, established) == (None, None) and note.startswith("not available")
    assert measures["share_bought_in_window"][:2] == (1.0, 1.0)


# --- cross-sell ------------------------------------------------------------------------------------

BASKETS = {
    "paint_only": ["paint"],
    "tools_only": ["tools"],
    "decor_only": ["decor"],
    "mix1": ["paint", "tools"],
    "mix2": ["paint", "tools"],
    "mix3": ["paint", "garden"],
    "mix4": ["paint", "garden"],
    "mix5": ["tools", "decor"],
}


@pytest.fixture(scope="module")
def cross_sell():
    lines = [(customer, date(2024, 6, 1), category) for customer, categories in BASKETS.items() for category in categories]
    lines.append(("no_category", date(2024, 6, 1), None))
    conn = shop(lines, date(2024, 12, 31))
    build(conn, "customer_categories", "cross_sell_candidates", actions=ActionsSettings(cross_sell_min_customers=2))
    return conn


def offers(conn, customer: str) -> list[tuple]:
    return conn.execute(
        "select offer_rank, offer_category, offer_basis, round(lift, 3) from cross_sell_candidates "
        "where customer_id = ? order by offer_rank",
        [customer],
    ).fetchall()


def test_cross_sell_candidates_are_exactly_the_single_category_buyers(cross_sell):
    candidates = {row[0] for row in cross_sell.execute("select customer_id from cross_sell_candidates").fetchall()}
    assert candidates == {"paint_only", "tools_only", "decor_only"}


def test_offers_are_ranked_by_lift_among_pairs_enough_customers_bought_together(cross_sell):
    # 8 customers with categories; paint: 5 buyers, garden 2, tools 4. Paint buyers took garden
    # 2 of 5 times against 2 in 8 of everyone (lift 1.6), tools 2 of 5 against 4 in 8 (lift 0.8).
    assert offers(cross_sell, "paint_only") == [(1, "garden", "affinity", 1.6), (2, "tools", "affinity", 0.8)]
    # tools buyers and decor: only one customer bought both, below the minimum of two
    assert offers(cross_sell, "tools_only") == [(1, "paint", "affinity", 0.8)]


def test_without_a_qualifying_pair_the_most_widely_bought_categories_are_offered(cross_sell):
    assert offers(cross_sell, "decor_only") == [
        (1, "paint", "popularity", None), (2, "tools", "popularity", None), (3, "garden", "popularity", None),
    ]


# --- repurchase windows ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def windows():
    lines = [
        # own gaps 10, 20, 30 days
        *[("regular", day, "paint") for day in (date(2024, 1, 1), date(2024, 1, 11), date(2024, 1, 31), date(2024, 3, 1))],
        ("twice", date(2024, 6, 1), "paint"), ("twice", date(2024, 6, 21), "paint"),
        ("tools_pair", date(2024, 2, 1), "tools"), ("tools_pair", date(2024, 2, 13), "tools"),
        ("once", date(2024, 11, 1), "paint"),
    ]
    conn = shop(lines, date(2024, 11, 5))
    build(conn, "customer_categories", "repurchase_windows", actions=ActionsSettings(repurchase_min_intervals=3))
    rows = conn.execute(
        "select customer_id, window_basis, intervals_used, window_start::varchar, expected_date::varchar, "
        "window_end::varchar, window_status, remind_on::varchar, second_purchase_target_date::varchar "
        "from repurchase_windows"
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_a_customer_with_enough_gaps_of_their_own_is_timed_by_them(windows):
    # gaps 10, 20, 30 from 1 March: quartiles 15 and 25 days, median 20
    assert windows["regular"][:6] == ("own_history", 3, "2024-03-16", "2024-03-21", "2024-03-26", "overdue")


def test_too_few_own_gaps_fall_back_to_the_category_then_to_the_whole_base(windows):
    # paint gaps 10, 20, 20, 30: quartiles 17.5 and 22.5 days (rounded), median 20
    assert windows["twice"][:5] == ("category", 4, "2024-07-09", "2024-07-11", "2024-07-14")
    # tools has one gap; the base's gaps are 10, 12, 20, 20, 30
    assert windows["tools_pair"][:5] == ("base", 5, "2024-02-25", "2024-03-04", "2024-03-04")


def test_one_time_buyers_get_a_second_purchase_target_from_first_to_second_purchase_times(windows):
    # first-to-second gaps 10, 20 (paint, too few) and 12 (tools): the base's quartiles 11 and 16
    basis, intervals, start, expected, end, status, remind_on, target = windows["once"]
    assert (basis, intervals, start, expected, end) == ("base_first_to_second", 3, "2024-11-12", "2024-11-13", "2024-11-17")
    assert (status, remind_on, target) == ("upcoming", "2024-11-05", "2024-11-13")
    assert windows["regular"][7] is None


# --- next best action --------------------------------------------------------------------------------

AS_OF = date(2024, 12, 31)
# customer: stage, frequency, tenure days, net spend, 12-month CLV, cross-sell offer, remind_on, open chain
CUSTOMERS = {
    "p_active": ("prospect_active", None, None, None, None, None, None, None),
    "p_inactive": ("prospect_inactive", None, None, None, None, None, None, None),
    "new_welcome": ("new", 1, 10, 100, 50, None, "2025-01-20", False),
    "new_nudge": ("new", 1, 60, 100, 50, None, "2025-01-10", False),
    "new_nudge_untimed": ("new", 1, 60, 100, 50, None, None, False),
    "new_cross": ("new", 2, 60, 100, 50, "garden", "2025-02-01", False),
    "new_loyal": ("new", 2, 60, 100, 50, None, "2025-02-01", False),
    "back": ("reactivated", 3, 900, 100, 50, None, "2025-02-01", False),
    "vip": ("vip", 9, 700, 800, 900, None, "2025-01-02", True),
    "risk_high": ("at_risk", 4, 600, 1000, 40, None, "2024-10-01", False),
    "risk_low": ("at_risk", 2, 600, 5, 4, None, "2024-10-01", False),
    "lapsed_high": ("lapsed", 5, 800, 900, 1, None, "2023-10-01", False),
    "lapsed_engaged": ("lapsed", 1, 800, 4, 1, None, "2023-10-01", False),
    "lapsed_silent": ("lapsed", 1, 800, 3, None, None, "2023-10-01", False),
    "active_cross": ("active", 3, 400, 100, 60, "paint", "2025-01-02", True),
    "active_due": ("active", 3, 400, 100, 60, None, "2024-12-30", True),
    "active_chain": ("active", 3, 400, 100, 60, None, "2025-03-01", True),
    "active_quiet": ("active", 3, 400, 100, 60, None, "2025-03-01", False),
}
EXPECTED_ACTIONS = {
    "p_active": "first_purchase_offer",
    "p_inactive": "prospect_nurture",
    "new_welcome": "welcome_series",
    "new_nudge": "second_purchase_nudge",
    "new_nudge_untimed": "second_purchase_nudge",
    "new_cross": "cross_sell",
    "new_loyal": "loyalty_invite",
    "back": "welcome_back",
    "vip": "vip_care_referral_ask",
    "risk_high": "retention_offer",
    "risk_low": "reminder_email",
    "lapsed_high": "win_back_offer",
    "lapsed_engaged": "win_back_email",
    "lapsed_silent": "stop_spending",
    "active_cross": "cross_sell",
    "active_due": "repurchase_reminder",
    "active_chain": "keep_chain_going",
    "active_quiet": "no_contact",
}


def decided(customers: dict = CUSTOMERS, with_events: bool = True):
    """The next-best-action SQL run on hand-set facts about each customer."""
    conn = duckdb.connect()
    conn.execute("create table analysis_scope as select ?::date as as_of", [AS_OF])
    conn.execute("create table customer_lifecycle (customer_id varchar, stage varchar, is_prospect boolean)")
    conn.execute(
        "create table customer_rfm (customer_id varchar, frequency bigint, tenure_days bigint, "
        "recency_days bigint, monetary double, total_net_spend double)"
    )
    conn.execute("create table customer_clv (customer_id varchar, clv_12m double)")
    conn.execute(
        "create table cross_sell_candidates (customer_id varchar, bought_category varchar, offer_rank bigint, "
        "offer_category varchar, offer_basis varchar, lift double)"
    )
    conn.execute(
        "create table repurchase_windows (customer_id varchar, remind_on date, window_status varchar, expected_date date)"
    )
    conn.execute("create table customer_chain_summary (customer_id varchar, has_open_chain boolean, n_purchase_days bigint)")
    conn.execute("create table events (customer_id varchar, event_type varchar, event_ts timestamp)")
    conn.execute("create table survey_segments (customer_id varchar, segment_name varchar)")
    conn.execute(
        "create table customer_purchase_days as select 'x' as customer_id, date '2024-01-01' as purchase_date, "
        "42.0 as net_amount, true as is_purchase_day"
    )
    for customer, (stage, frequency, tenure, spend, clv, offer, remind_on, open_chain) in customers.items():
        prospect = stage.startswith("prospect")
        conn.execute("insert into customer_lifecycle values (?, ?, ?)", [customer, stage, prospect])
        if prospect:
            continue
        conn.execute("insert into customer_rfm values (?, ?, ?, 30, ?, ?)", [customer, frequency, tenure, spend / frequency, spend])
        conn.execute("insert into customer_clv values (?, ?)", [customer, clv])
        if offer:
            conn.execute("insert into cross_sell_candidates values (?, 'tools', 1, ?, 'affinity', 1.5)", [customer, offer])
        conn.execute("insert into repurchase_windows values (?, ?, 'upcoming', ?::date + 7)", [customer, remind_on, remind_on])
        conn.execute("insert into customer_chain_summary values (?, ?, ?)", [customer, open_chain, frequency])
    if with_events:
        conn.execute("insert into events values ('lapsed_engaged', 'email_open', '2024-12-01 09:00')")
        conn.execute("insert into events values ('lapsed_silent', 'email_open', '2024-06-01 09:00')")
    conn.execute("insert into survey_segments values ('vip', 'service & loyalty program')")
    build(conn, "next_best_action")
    return conn


@pytest.fixture(scope="module")
def actions():
    return decided()


def test_every_customer_and_prospect_gets_exactly_one_action(actions):
    counts = actions.execute("select customer_id, count(*) from next_best_action group by 1").fetchall()
    assert {customer for customer, _ in counts} == set(CUSTOMERS)
    assert all(count == 1 for _, count in counts)


def test_each_rule_gives_its_customer_the_action_the_rule_says(actions):
    assert dict(actions.execute("select customer_id, action from next_best_action").fetchall()) == EXPECTED_ACTIONS


def test_each_action_carries_its_reason_value_and_timing(actions):
    rows = {
        row[0]: row[1:]
        for row in actions.execute(
            "select customer_id, action_reason, expected_value, expected_value_basis, contact_on::varchar, "
            "cross_sell_category, exclude_from_acquisition_ads from next_best_action"
        ).fetchall()
    }
    assert rows["active_cross"][0] == "bought only tools: offer paint" and rows["active_cross"][4] == "paint"
    assert rows["vip"][0].endswith("; survey segment: service & loyalty program")
    assert rows["vip"][1:3] == (900, "12-month CLV")
    assert rows["lapsed_silent"][1:3] == (3, "mean spend per purchase day (no CLV)")
    assert rows["p_active"][1:3] == (42.0, "mean first purchase of the base")
    assert rows["new_nudge"][3] == "2025-01-10" and rows["vip"][3] == "2024-12-31"
    assert rows["new_nudge"][0] == "one purchase, 60 days ago: nudge a second purchase by 2025-01-17"
    # where the base shows no typical time to a second purchase there is no target date, and no null reason
    assert rows["new_nudge_untimed"][0] == "one purchase, 60 days ago: nudge a second purchase"
    assert rows["new_nudge_untimed"][3] == "2024-12-31"
    assert rows["p_active"][5] is False and rows["back"][5] is True


def test_without_engagement_data_a_low_value_lapsed_customer_is_not_said_to_have_ignored_email():
    reasons = dict(decided(with_events=False).execute("select customer_id, action_reason from next_best_action").fetchall())
    assert reasons["lapsed_engaged"] == "lapsed, lower value, no engagement data: stop paid contact"


# --- the single customer profile -----------------------------------------------------------------


def profile(with_sources: bool):
    conn = shop(
        [("A", date(2024, 3, 1), "paint"), ("A", date(2024, 9, 1), "tools"), ("B", date(2024, 12, 1), "paint")],
        date(2024, 12, 31),
    )
    conn.execute("create table customer_clv (customer_id varchar, p_alive double, is_one_time_buyer boolean, "
                 "expected_purchases_90d double, expected_purchases_365d double, expected_avg_order_value double, "
                 "clv_12m double, value_tier varchar, clv_status varchar)")
    if with_sources:
        conn.execute("create table customers as select * from (values ('A', '2023-01-01'::timestamp, 'North', 'gold'), "
                     "('P', '2024-12-01'::timestamp, 'South', 'none')) v(customer_id, registered_at, region, stage)")
        conn.execute("create table events as select * from (values "
                     "('A', 'site_visit', '2024-12-20 10:00'::timestamp), ('A', 'site_visit', '2024-11-10 10:00'::timestamp), "
                     "('A', 'cart_abandon', '2024-12-21 10:00'::timestamp), ('P', 'email_open', '2024-12-30 10:00'::timestamp)) "
                     "v(customer_id, event_type, event_ts)")
        conn.execute("create table service_scores as select * from (values "
                     "('A', '2024-05-01'::timestamp, 6.0), ('A', '2024-10-01'::timestamp, 9.0)) v(customer_id, score_ts, nps)")
        conn.execute("alter table service_scores add column csi double")
        conn.execute("alter table service_scores add column ces double")
        conn.execute("create table survey_segments as select 'A' as customer_id, 2 as segment_id, 'brand & quality' as segment_name")
    else:
        conn.execute("create table customers (customer_id varchar, registered_at timestamp)")
        conn.execute("create table events (customer_id varchar, event_type varchar, event_ts timestamp)")
        conn.execute("create table service_scores (customer_id varchar, score_ts timestamp, nps double, csi double, ces double)")
        conn.execute("create table survey_segments (customer_id varchar, segment_id bigint, segment_name varchar)")
    build(
        conn, "customer_lifecycle", "customer_abc", "customer_categories",
        "cross_sell_candidates", "repurchase_windows", "next_best_action", "customer_profile",
    )
    return conn


def test_the_profile_has_one_row_per_customer_and_prospect_with_everything_known_about_them():
    conn = profile(with_sources=True)
    rows = conn.execute(
        "select customer_id, stage, next_action, frequency, categories_bought, region, customer_stage, "
        "site_visits_30d, site_visits_90d, abandoned_carts_30d, latest_nps, nps_trend, survey_segment "
        "from customer_profile order by 1"
    ).fetchall()
    assert [row[0] for row in rows] == ["A", "B", "P"]
    a, b, p = rows
    assert a[3:] == (2, 2, "North", "gold", 1, 2, 1, 9.0, 3.0, "brand & quality")
    assert b[7:10] == (0, 0, 0) and b[5] is None
    assert p[1] == "prospect_active" and p[3] is None and p[2] == "first_purchase_offer"


def test_columns_from_absent_sources_are_present_and_null():
    with_all = profile(with_sources=True).execute("describe customer_profile").fetchall()
    without = profile(with_sources=False)
    columns = {row[0] for row in without.execute("describe customer_profile").fetchall()}
    assert columns == {row[0] for row in with_all} - {"region", "customer_stage"}
    nulls = without.execute(
        "select count(site_visits_90d), count(latest_nps), count(survey_segment), count(registered_at), count(*) "
        "from customer_profile"
    ).fetchone()
    assert nulls == (0, 0, 0, 0, 2)


def test_the_profile_built_in_parts_has_the_rows_of_the_profile_built_in_one(monkeypatch):
    """Each part reads its own customers from every source: three parts of one customer each give
    the rows of one statement over all three, every source's values included."""
    conn = profile(with_sources=True)
    whole = conn.execute("select * from customer_profile order by customer_id").fetchall()
    monkeypatch.setattr(actions_building, "PROFILE_PART_CUSTOMERS", 1)
    build(conn, "customer_profile")
    assert conn.execute("select getvariable('part_from'), getvariable('part_is_last')").fetchone() == ("P", True)
    assert conn.execute("select * from customer_profile order by customer_id").fetchall() == whole


# --- on the real pipeline -----------------------------------------------------------------------------


def test_on_online_retail_every_table_builds_and_what_needs_missing_sources_is_empty_or_null(home):
    requires_shared_data("online_retail/online_retail.csv.gz")
    selection = "group:ingest or group:prepare or group:customer_value or group:chains or group:lifecycle or group:actions or group:survey"
    assert materialize(REPO / "examples" / "online_retail.yaml", home, selection).success
    with connect(home) as conn:
        customers, actions = conn.execute(
            "select count(distinct customer_id), count(*) from next_best_action"
        ).fetchone()
        profiles = conn.execute("select count(*), count(site_visits_90d), count(main_category) from customer_profile").fetchone()
        cross_sell = conn.execute("select count(*) from cross_sell_candidates").fetchone()[0]
        categories = conn.execute(
            "select note from new_vs_established where measure = 'categories_per_buyer'"
        ).fetchone()[0]
        windows = dict(conn.execute("select window_basis, count(*) from repurchase_windows group by 1").fetchall())
        stages = dict(conn.execute("select stage, count(*) from customer_lifecycle group by 1").fetchall())
        top_20 = conn.execute("select any_value(top_20_percent_revenue_share) from pareto").fetchone()[0]
    assert "prospect_active" not in stages and sum(stages.values()) == customers > 4_000
    assert 0.5 < top_20 < 0.95
    assert customers == actions
    assert profiles == (customers, 0, 0)
    assert cross_sell == 0
    assert categories == "not available: the purchases have no categories"
    assert set(windows) <= {"own_history", "base", "base_first_to_second"} and windows["own_history"] > 1_000


def test_on_the_sample_every_customer_gets_one_action_and_a_full_profile(home):
    assert materialize(REPO / "lifecycle.yaml", home, selection="* and not key:analyst_exports and not key:morning_report").success
    with connect(home) as conn:
        people, actions, profiles = conn.execute(
            "select (select count(*) from customer_lifecycle), (select count(distinct customer_id) || '/' || count(*) "
            "from next_best_action), (select count(*) from customer_profile)"
        ).fetchone()
        single_category = conn.execute(
            "select customer_id from purchase_lines where not is_return group by 1 having count(distinct category) = 1 "
            "except select customer_id from cross_sell_candidates"
        ).fetchall()
        candidates_buying_more = conn.execute(
            "select count(*) from cross_sell_candidates join purchase_lines using (customer_id) "
            "where not is_return and category <> bought_category"
        ).fetchone()[0]
        filled = conn.execute(
            "select count(site_visits_90d), count(survey_segment), count(latest_nps), count(region), count(*) "
            "from customer_profile"
        ).fetchone()
    assert actions == f"{people}/{people}" and profiles == people
    assert single_category == [] and candidates_buying_more == 0
    visits, segments, nps, regions, rows = filled
    assert visits == rows and 0 < segments < rows and 0 < nps < rows and regions == rows
