"""Repeat-purchase chains: a purchase continues the chain when the next one follows within 7 days."""

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from assets.chains.building import build_chain_table, build_chain_tables
from common.config import ChainSettings
from conftest import REPO, connect, materialize, requires_shared_data
from fixtures import build, purchase_log

AS_OF = date(2024, 3, 31)


def shop(lines: list[tuple], as_of: date = AS_OF, settings: ChainSettings = ChainSettings()):
    """A warehouse with the given purchase lines (customer, date, category, is_return[, channel,
    is_discounted]) and every chain table built from them by the real SQL."""
    conn = purchase_log(
        [
            {"customer_id": customer, "day": day, "product_id": category, "category": category, "is_return": is_return,
             "unit_price": 10.0, "amount": -10.0 if is_return else 10.0,
             **dict(zip(("channel", "is_discounted"), rest))}
            for customer, day, category, is_return, *rest in lines
        ],
        as_of,
    )
    build(conn, "customer_purchase_days")
    build_chain_tables(conn, settings)
    return conn


def labels(conn, customer: str) -> list[tuple]:
    return conn.execute(
        "select purchase_date::varchar, chain_label, chain_position, chain_length from purchase_chains "
        "where customer_id = ? order by purchase_date",
        [customer],
    ).fetchall()


def test_a_purchase_exactly_seven_days_before_the_next_continues_and_eight_days_ends_the_chain():
    conn = shop([
        ("A", date(2024, 1, 1), "paint", False),
        ("A", date(2024, 1, 8), "paint", False),
        ("A", date(2024, 1, 16), "tools", False),
    ])
    assert labels(conn, "A") == [
        ("2024-01-01", "continued", 1, 2),
        ("2024-01-08", "ended", 2, 2),
        ("2024-01-16", "ended", 1, 1),
    ]


def test_same_day_purchases_are_one_purchase_event():
    conn = shop([
        ("B", date(2024, 2, 1), "paint", False),
        ("B", date(2024, 2, 1), "tools", False),
        ("B", date(2024, 2, 3), "decor", False),
    ])
    assert labels(conn, "B") == [("2024-02-01", "continued", 1, 2), ("2024-02-03", "ended", 2, 2)]


def test_a_return_between_purchases_is_not_a_purchase_and_does_not_extend_the_chain():
    conn = shop([
        ("C", date(2024, 1, 10), "paint", False),
        ("C", date(2024, 1, 12), "paint", True),
        ("C", date(2024, 1, 20), "paint", False),
    ])
    assert labels(conn, "C") == [("2024-01-10", "ended", 1, 1), ("2024-01-20", "ended", 1, 1)]
    days = conn.execute("select days_to_next from purchase_chains where customer_id = 'C' order by 1").fetchall()
    assert days == [(10,), (None,)]


def test_a_purchase_whose_window_reaches_past_as_of_is_open_never_ended():
    conn = shop([
        ("D", date(2024, 3, 20), "paint", False),
        ("D", date(2024, 3, 27), "paint", False),
    ])
    assert labels(conn, "D") == [("2024-03-20", "continued", 1, 2), ("2024-03-27", "open", 2, 2)]


def test_the_last_purchase_exactly_window_days_before_as_of_is_decided():
    conn = shop([("E", date(2024, 3, 24), "paint", False)])
    assert labels(conn, "E") == [("2024-03-24", "ended", 1, 1)]


def test_customer_summary_counts_chains_and_leaves_open_purchases_out_of_the_continued_share():
    conn = shop([
        ("A", date(2024, 1, 1), "paint", False),
        ("A", date(2024, 1, 8), "paint", False),
        ("A", date(2024, 1, 16), "tools", False),
        ("D", date(2024, 3, 20), "paint", False),
        ("D", date(2024, 3, 27), "paint", False),
    ])
    summary = {
        row[0]: row[1:]
        for row in conn.execute(
            "select customer_id, n_chains, mean_chain_length, max_chain_length, share_continued, "
            "days_since_chain_end, has_open_chain from customer_chain_summary"
        ).fetchall()
    }
    assert summary["A"] == (2, 1.5, 2, pytest.approx(1 / 3), (AS_OF - date(2024, 1, 16)).days, False)
    assert summary["D"] == (1, 2.0, 2, 1.0, None, True)


def test_customer_summary_follows_the_labels_purchase_chains_was_built_with():
    conn = shop([
        ("A", date(2024, 1, 1), "paint", False),
        ("A", date(2024, 1, 8), "paint", False),
        ("A", date(2024, 1, 16), "tools", False),
        ("D", date(2024, 3, 20), "paint", False),
        ("D", date(2024, 3, 27), "paint", False),
        ("E", date(2024, 3, 10), "paint", False),
    ])
    # the summary rebuilt alone under a longer window still reads the labels the chains were built with
    build_chain_table(conn, "customer_chain_summary", ChainSettings(window_days=30))
    counted = conn.execute(
        "select customer_id, count(*) filter (where chain_label = 'continued'), "
        "count(*) filter (where chain_label = 'ended'), bool_or(chain_label = 'open') "
        "from purchase_chains group by all order by 1"
    ).fetchall()
    summarized = conn.execute(
        "select customer_id, n_continued, n_ended, has_open_chain from customer_chain_summary order by 1"
    ).fetchall()
    assert summarized == counted == [("A", 1, 2, False), ("D", 1, 0, True), ("E", 0, 1, False)]


def test_a_category_that_always_ends_chains_is_flagged_as_a_breaker_and_its_opposite_as_a_keeper():
    lines = []
    for number in range(40):
        customer = f"K{number:02d}"
        lines += [(customer, date(2024, 1, 1), "paint", False), (customer, date(2024, 1, 3), "decor", False)]
    conn = shop(lines)
    rows = conn.execute(
        "select value, purchase_days, ended, end_rate, lift, is_chain_breaker, is_chain_keeper "
        "from chain_breakers where dimension = 'category' order by value"
    ).fetchall()
    assert rows == [
        ("decor", 40, 40, 1.0, 2.0, True, False),
        ("paint", 40, 0, 0.0, 0.0, False, True),
    ]


def test_small_numbers_never_top_the_breaker_list():
    lines = [("S1", date(2024, 1, 1), "rare", False)]
    for number in range(40):
        lines += [(f"K{number:02d}", date(2024, 1, 1), "paint", False), (f"K{number:02d}", date(2024, 1, 3), "decor", False)]
    conn = shop(lines)
    rare = conn.execute(
        "select end_rate, is_chain_breaker, breaker_rank from chain_breakers where value = 'rare'"
    ).fetchone()
    assert rare[0] == 1.0 and rare[1] is False and rare[2] > 1


def test_repeat_timing_reports_quartiles_of_days_between_purchases_and_to_the_second_purchase():
    conn = shop([
        ("T1", date(2024, 1, 1), "paint", False),
        ("T1", date(2024, 1, 3), "paint", False),
        ("T1", date(2024, 1, 13), "paint", False),
        ("T2", date(2024, 1, 1), "tools", False),
        ("T2", date(2024, 1, 5), "tools", False),
    ])
    timing = {
        (measure, category): (n, median)
        for measure, category, n, median in conn.execute(
            "select measure, category, intervals, median_days from repeat_timing"
        ).fetchall()
    }
    assert timing[("days_between_purchases", "(all)")] == (3, 4.0)
    assert timing[("days_to_second_purchase", "(all)")] == (2, 3.0)
    assert timing[("days_to_second_purchase", "tools")] == (1, 4.0)


def test_repeat_timing_percentiles_interpolate_between_the_lengths_around_their_position():
    # intervals of 1, 2, 3 and 10 days: position (4 - 1) q, between the sorted lengths around it
    conn = shop([
        ("P1", date(2024, 1, 1), "paint", False),
        ("P1", date(2024, 1, 2), "paint", False),
        ("P1", date(2024, 1, 4), "paint", False),
        ("P1", date(2024, 1, 7), "paint", False),
        ("P1", date(2024, 1, 17), "paint", False),
    ])
    p25, median, p75, p90, mean = conn.execute(
        "select p25_days, median_days, p75_days, p90_days, mean_days from repeat_timing "
        "where measure = 'days_between_purchases' and category = '(all)'"
    ).fetchone()
    assert (p25, median, p75, mean) == (1.75, 2.5, 4.75, 4.0)
    assert p90 == pytest.approx(7.9, rel=1e-15)


def test_repeat_timing_agrees_with_quantile_cont_on_thousands_of_groups():
    conn = duckdb.connect()
    conn.execute(
        "create table purchase_chains as "
        "select 'C' || i::varchar as customer_id, date '2024-01-01' as purchase_date, "
        "(hash(i) % 700)::bigint as days_to_next, 1 as chain_number, 1 as chain_position from range(200000) r(i)"
    )
    conn.execute(  # each customer's day in one of 3,000 categories: groups of 1 to ~130 intervals
        "create table purchase_lines as select customer_id, purchase_date as order_date, false as is_return, "
        "'k' || (hash(customer_id) % 3000)::varchar as category from purchase_chains"
    )
    build_chain_table(conn, "repeat_timing", ChainSettings())
    differing = conn.execute(
        """
        with expected as (
            select category, count(*) as intervals, avg(days_to_next) as mean_days,
                quantile_cont(days_to_next, 0.25) as p25, quantile_cont(days_to_next, 0.5) as p50,
                quantile_cont(days_to_next, 0.75) as p75, quantile_cont(days_to_next, 0.9) as p90
            from purchase_chains join purchase_lines using (customer_id)
            group by category
        )
        select count(*) filter (where (e.intervals, e.mean_days, e.p25, e.p50, e.p75) is distinct from
                                      (r.intervals, r.mean_days, r.p25_days, r.median_days, r.p75_days)),
               count(*) filter (where abs(e.p90 - r.p90_days) > 1e-12 * e.p90),
               count(*)
        from expected as e
        join repeat_timing as r on r.category = e.category and r.measure = 'days_between_purchases'
        """
    ).fetchone()
    assert differing == (0, 0, 3000)


def test_repeat_timing_needs_no_memory_for_the_intervals_themselves():
    # 4M intervals in two groups: a quantile aggregate holding every value (one copy per
    # percentile) ran out of memory here, as it did at 40M purchase lines under the 1 GB limit
    conn = duckdb.connect()
    conn.execute("set memory_limit = '64MB'")
    conn.execute(
        "create table purchase_chains as "
        "select 'C' || (i // 2)::varchar as customer_id, date '2024-01-01' + ((i % 2) * 30)::integer as purchase_date, "
        "case when i % 2 = 0 then 1 + (hash(i) % 400)::bigint end as days_to_next, "
        "1 as chain_number, 1 + i % 2 as chain_position from range(4000000) r(i)"
    )
    conn.execute("create table purchase_lines as select 'C0' as customer_id, date '2024-01-01' as order_date, "
                 "false as is_return, 'paint' as category")
    build_chain_table(conn, "repeat_timing", ChainSettings())
    assert conn.execute(
        "select measure, intervals, median_days from repeat_timing where category = '(all)' order by measure"
    ).fetchall() == [("days_between_purchases", 2_000_000, 200.0), ("days_to_second_purchase", 2_000_000, 200.0)]


def straightforward_labels(purchases: pd.DataFrame, as_of: date, window: int = 7) -> pd.DataFrame:
    """The chain labels computed the obvious way in pandas, independently of the SQL. A day whose
    returns take back exactly what it bought is no purchase day."""
    lines = purchases[~purchases.is_non_product & (purchases.order_date <= pd.Timestamp(as_of))]
    net = lines.groupby(["customer_id", "order_date"]).agg(
        bought=("is_return", lambda is_return: (~is_return).any()),
        returned=("is_return", "any"),
        net=("amount", "sum"),
    )
    cancelled = net.returned & (net.net == 0)
    days = net[net.bought & ~cancelled].reset_index()[["customer_id", "order_date"]].sort_values(["customer_id", "order_date"])
    following = days.groupby("customer_id")["order_date"].shift(-1)
    gap = (following - days.order_date).dt.days
    window_closed = days.order_date + pd.Timedelta(days=window) <= pd.Timestamp(as_of)
    days["expected"] = "open"
    days.loc[window_closed, "expected"] = "ended"
    days.loc[gap <= window, "expected"] = "continued"
    return days.rename(columns={"order_date": "purchase_date"})


def test_on_online_retail_the_labels_agree_with_a_straightforward_computation(tmp_path: Path, home):
    requires_shared_data("online_retail/online_retail.csv.gz")
    assert materialize(REPO / "examples" / "online_retail.yaml", home, selection="group:ingest or group:prepare or group:chains").success
    with connect(home) as conn:
        as_of = conn.execute("select as_of from analysis_scope").fetchone()[0]
        purchases = conn.execute(
            "select customer_id, order_date::timestamp as order_date, is_return, is_non_product, "
            "(amount * 10000)::bigint as amount from purchases"  # in exact ten-thousandths
        ).df()
        chains = conn.execute("select customer_id, purchase_date::timestamp as purchase_date, chain_label from purchase_chains").df()
    expected = straightforward_labels(purchases, as_of)
    compared = expected.merge(chains, on=["customer_id", "purchase_date"], how="outer", indicator=True)
    assert (compared["_merge"] == "both").all()
    assert (compared["expected"] == compared["chain_label"]).all()
    assert set(compared["chain_label"]) == {"continued", "ended", "open"}


def test_on_the_sample_decor_and_lighting_break_chains_and_paint_and_tools_keep_them(home):
    assert materialize(REPO / "lifecycle.yaml", home, selection="group:ingest or group:prepare or group:chains").success
    with connect(home) as conn:
        flags = {
            value: (breaker, keeper)
            for value, breaker, keeper in conn.execute(
                "select value, is_chain_breaker, is_chain_keeper from chain_breakers where dimension = 'category'"
            ).fetchall()
        }
        top = conn.execute(
            "select value from chain_breakers where dimension = 'category' order by breaker_rank limit 2"
        ).fetchall()
    assert flags["decor"] == (True, False) and flags["lighting"] == (True, False)
    assert flags["paint"] == (False, True) and flags["tools"] == (False, True)
    assert {value for (value,) in top} == {"decor", "lighting"}
