"""Lifecycle stages, their history and transitions, cohorts and revenue concentration."""

from datetime import date

import duckdb
import pytest

from assets.lifecycle import building as lifecycle_building
from common.config import LifecycleSettings
from fixtures import build, purchase_log
AS_OF = date(2024, 12, 31)

# customer: purchase dates, P(alive), 12-month CLV
BUYERS = {
    "lapsed_by_recency": (["2023-06-01", "2023-07-01"], 0.6, 10.0),
    "lapsed_by_p_alive": (["2024-05-01", "2024-06-01"], 0.05, 10.0),
    "reactivated": (["2022-01-01", "2024-12-01"], 0.9, 20.0),
    "new": (["2024-11-15"], None, 30.0),
    "at_risk_by_p_alive": (["2024-03-01", "2024-04-01"], 0.3, 40.0),
    "one_time_at_risk": (["2024-03-01"], None, 15.0),  # typical gap in this base: 133 days
    "vip": (["2024-02-01", "2024-10-01"], 0.9, 10_000.0),
    "active": (["2024-01-10", "2024-09-01"], 0.8, 50.0),
}


def shop(buyers: dict = BUYERS, settings: LifecycleSettings = LifecycleSettings()):
    """A warehouse built by the real SQL from hand-made purchases, CLV numbers and prospects."""
    conn = purchase_log(
        [
            {"order_id": f"{customer}-{day}", "customer_id": customer, "day": day, "product_id": "P1", "channel": None}
            for customer, (days, _, _) in buyers.items()
            for day in days
        ],
        AS_OF,
    )
    build(conn, "customer_purchase_days", "customer_rfm", "purchase_chains", "repeat_timing")
    conn.execute("create table customer_clv (customer_id varchar, p_alive double, clv_12m double, clv_status varchar)")
    conn.executemany("insert into customer_clv values (?, ?, ?, 'ok')", [[c, p, v] for c, (_, p, v) in buyers.items()])
    conn.execute(
        "create table customers as select * from (values ('prospect_recent', '2024-01-01'::timestamp), "
        "('prospect_silent', '2024-02-01'::timestamp), ('prospect_long_ago', '2023-01-01'::timestamp), "
        "('vip', '2023-12-01'::timestamp)) v(customer_id, registered_at)"
    )
    conn.execute(
        "create table events as select * from (values ('prospect_recent', 'site_visit', '2024-12-20 10:00'::timestamp), "
        "('prospect_long_ago', 'email_open', '2024-01-01 10:00'::timestamp), ('vip', 'email_click', '2024-12-30 09:00'::timestamp), "
        "('prospect_recent', 'site_visit', '2025-01-05 10:00'::timestamp)) v(customer_id, event_type, event_ts)"
    )
    build(
        conn, "customer_lifecycle", "lifecycle_history", "lifecycle_transitions", "cohort_retention", "customer_abc", "pareto",
        lifecycle=settings,
    )
    return conn


@pytest.fixture(scope="module")
def base():
    return shop()


def test_every_stage_rule_puts_its_customer_where_the_rule_says(base):
    stages = dict(base.execute("select customer_id, stage from customer_lifecycle").fetchall())
    assert stages == {
        "lapsed_by_recency": "lapsed",
        "lapsed_by_p_alive": "lapsed",
        "reactivated": "reactivated",
        "new": "new",
        "at_risk_by_p_alive": "at_risk",
        "one_time_at_risk": "at_risk",
        "vip": "vip",
        "active": "active",
        "prospect_recent": "prospect_active",
        "prospect_silent": "prospect_inactive",
        "prospect_long_ago": "prospect_inactive",
    }


def test_each_stage_carries_the_rule_that_put_it_there_and_the_rules_version(base):
    rules = dict(base.execute("select customer_id, stage_rule from customer_lifecycle").fetchall())
    assert rules["lapsed_by_recency"] == "lapsed: no purchase for 549 days (more than 365)"
    assert rules["reactivated"] == "reactivated: bought again after 1065 days without a purchase"
    assert rules["vip"] == "vip: top 20% by 12-month CLV"
    assert rules["one_time_at_risk"].startswith("at risk: one purchase, 305 days ago (more than 2.0 x the typical 133.0 days")
    assert base.execute("select distinct rules_version from customer_lifecycle").fetchall() == [("v1",)]
    assert base.execute("select count(*) from customer_lifecycle where is_prospect").fetchone()[0] == 3


def test_the_typical_days_between_purchases_of_the_rules_is_the_median_repeat_timing_publishes(base):
    (published,) = base.execute(
        "select median_days from repeat_timing where measure = 'days_between_purchases' and category = '(all)'"
    ).fetchone()
    assert published == 133.0  # the base's gaps: 30, 31, 31, 235, 243 and 1065 days; (31 + 235) / 2
    rule = base.execute("select stage_rule from customer_lifecycle where customer_id = 'one_time_at_risk'").fetchone()[0]
    assert f"the typical {published} days between purchases" in rule


def test_where_nobody_bought_twice_the_typical_days_between_purchases_are_30():
    one_time_buyers = {name: ([days[-1]], p_alive, clv) for name, (days, p_alive, clv) in BUYERS.items()}
    conn = shop(one_time_buyers)
    assert conn.execute("select count(*) from repeat_timing").fetchone()[0] == 0
    rules = dict(conn.execute("select customer_id, stage_rule from customer_lifecycle where stage = 'at_risk'").fetchall())
    assert rules["one_time_at_risk"] == (
        "at risk: one purchase, 305 days ago (more than 2.0 x the typical 30.0 days between purchases)"
    )
    history = conn.execute(
        "select stage from lifecycle_history where customer_id = 'one_time_at_risk' and snapshot_date = date '2024-12-31'"
    ).fetchone()
    assert history == ("at_risk",)

def test_each_person_carries_the_date_of_their_last_engagement_up_to_as_of(base):
    last = dict(base.execute("select customer_id, last_event_date from customer_lifecycle").fetchall())
    assert last["prospect_recent"] == date(2024, 12, 20)  # its visit after as_of is not counted
    assert last["prospect_long_ago"] == date(2024, 1, 1)
    assert last["vip"] == date(2024, 12, 30)  # buyers too
    assert last["prospect_silent"] is None and last["active"] is None


def test_without_clv_vip_falls_back_to_net_spend_and_says_so():
    buyers = {name: (days, None, None) for name, (days, _, _) in BUYERS.items()}
    buyers["vip"] = (["2024-02-01", "2024-10-01", "2024-10-15", "2024-11-01"], None, None)
    rules = dict(shop(buyers).execute("select customer_id, stage_rule from customer_lifecycle where stage = 'vip'").fetchall())
    assert rules == {"vip": "vip: top 20% by net spend (no CLV available)"}


def test_the_reactivated_customer_moves_from_lapsed_to_reactivated(base):
    history = base.execute(
        "select snapshot_date, stage from lifecycle_history where customer_id = 'reactivated' "
        "and snapshot_date >= '2024-10-31' order by 1"
    ).fetchall()
    assert [stage for _, stage in history] == ["lapsed", "lapsed", "reactivated"]
    moved = base.execute(
        "select customers from lifecycle_transitions where snapshot_date = '2024-12-31' "
        "and from_stage = 'lapsed' and to_stage = 'reactivated'"
    ).fetchall()
    assert moved == [(1,)]


def month_end_stages(spends: dict[str, float], vip_top_share: float) -> dict[str, str]:
    """Stages on 2024-06-30 of buyers who each bought twice early in 2024 for the given total spend,
    beside a big spender who lapsed in 2022."""
    lines = [
        {"order_id": f"{customer}-{day}", "customer_id": customer, "day": day, "amount": spend / 2}
        for customer, spend in spends.items()
        for day in ("2024-01-02", "2024-02-01")
    ] + [{"order_id": f"lapsed-{day}", "customer_id": "lapsed_big_spender", "day": day, "amount": 1_000.0}
         for day in ("2022-01-03", "2022-02-01")]
    conn = purchase_log(lines, AS_OF)
    build(conn, "customer_purchase_days", "purchase_chains", "repeat_timing", "lifecycle_history", lifecycle=LifecycleSettings(vip_top_share=vip_top_share))
    return dict(conn.execute("select customer_id, stage from lifecycle_history where snapshot_date = '2024-06-30'").fetchall())


def test_the_vips_of_a_month_end_are_its_top_spenders_within_lapsed_days_ties_sharing_the_lower_rank():
    # Share of the buyers within lapsed_days spending at least as much: 0.2, 0.6, 0.6, 1.0, 1.0. The
    # two 50s tie across the top 40% and share the lower rank.
    ties = month_end_stages({"spends_100": 100, "spends_50_a": 50, "spends_50_b": 50, "spends_10_a": 10,
                             "spends_10_b": 10}, vip_top_share=0.4)
    assert ties == {"spends_100": "vip", "spends_50_a": "active", "spends_50_b": "active", "spends_10_a": "active",
                    "spends_10_b": "active", "lapsed_big_spender": "lapsed"}
    # 100 is exactly the top quarter of the four buyers within lapsed_days: the lapsed spender is not one of them.
    edge = month_end_stages({"spends_100": 100, "spends_50": 50, "spends_20": 20, "spends_10": 10}, vip_top_share=0.25)
    assert edge == {"spends_100": "vip", "spends_50": "active", "spends_20": "active", "spends_10": "active",
                    "lapsed_big_spender": "lapsed"}


def test_transition_counts_from_each_stage_add_up_to_that_stage_at_the_previous_month_end(base):
    mismatches = base.execute(
        """
        with sizes as (select snapshot_date, stage, count(*) as customers from lifecycle_history group by all),
        moved as (
            select snapshot_date, from_stage, sum(customers) as customers
            from lifecycle_transitions where from_stage <> '(not yet a customer)' group by all
        )
        select count(*) from moved
        join sizes on sizes.stage = moved.from_stage
            and sizes.snapshot_date = (select max(snapshot_date) from sizes s where s.snapshot_date < moved.snapshot_date)
        where sizes.customers <> moved.customers
        """
    ).fetchone()[0]
    checked = base.execute("select count(*) from lifecycle_transitions where from_stage <> '(not yet a customer)'").fetchone()[0]
    assert checked > 10 and mismatches == 0
    rates = base.execute("select snapshot_date, from_stage, sum(rate) from lifecycle_transitions group by 1, 2").fetchall()
    assert all(total == pytest.approx(1.0) for *_, total in rates)


def test_transitions_counted_in_parts_of_the_customers_are_those_counted_at_once(monkeypatch):
    conn = shop()
    at_once = conn.execute("select * from lifecycle_transitions").fetchall()
    history_rows = conn.execute("select count(*) from lifecycle_history").fetchone()[0]
    monkeypatch.setattr(lifecycle_building, "TRANSITION_PART_ROWS", history_rows // 4)
    build(conn, "lifecycle_transitions")
    # each part counted some of the same moves: the counts were added up
    counts, moves = conn.execute(
        "select count(*), count(distinct (snapshot_date, from_stage, to_stage)) from lifecycle_moves"
    ).fetchone()
    assert counts > moves
    assert conn.execute("select * from lifecycle_transitions").fetchall() == at_once


def test_cohort_retention_is_the_share_of_a_cohort_buying_in_a_later_month(base):
    january = dict(
        base.execute(
            "select months_since_first_purchase, retention_rate from cohort_retention where cohort_month = '2024-01-01'"
        ).fetchall()
    )
    assert january == {0: 1.0, 8: 1.0}


def pareto_of(spends: list[float]):
    conn = duckdb.connect()
    conn.execute("create table customer_rfm (customer_id varchar, total_net_spend double)")
    conn.executemany("insert into customer_rfm values (?, ?)", [[f"C{i}", s] for i, s in enumerate(spends)])
    build(conn, "customer_abc", "pareto")
    return conn


def test_pareto_share_gini_and_abc_classes_on_a_known_distribution():
    conn = pareto_of([60, 10, 10, 10, 10])
    top_20, gini = conn.execute("select any_value(top_20_percent_revenue_share), any_value(gini) from pareto").fetchone()
    assert top_20 == pytest.approx(0.6)
    assert gini == pytest.approx(0.4)
    classes = [row[0] for row in conn.execute("select abc_class from customer_abc order by revenue_rank").fetchall()]
    assert classes == ["A", "A", "A", "B", "B"]
    curve = conn.execute("select top_customers_revenue_share from pareto where top_customers_percent = 100").fetchone()[0]
    assert curve == pytest.approx(1.0)


def test_a_repeat_buyer_without_an_informative_p_alive_is_judged_by_recency_and_the_rule_says_why():
    buyers = {**BUYERS, "repeat_without_p_alive": (["2024-01-10", "2024-02-20"], None, 12.0)}
    conn = shop(buyers)
    conn.execute("update customer_clv set clv_status = 'no dropout visible in the history: P(alive) not informative' "
                 "where customer_id = 'repeat_without_p_alive'")
    build(conn, "customer_lifecycle", lifecycle=LifecycleSettings())
    stage, rule = conn.execute(
        "select stage, stage_rule from customer_lifecycle where customer_id = 'repeat_without_p_alive'"
    ).fetchone()
    assert stage == "at_risk"
    assert rule == (
        "at risk: last purchase 315 days ago (more than 2.0 x the typical 41.0 days between purchases), "
        "judged by recency as P(alive) is not available: no dropout visible in the history: P(alive) not informative"
    )
