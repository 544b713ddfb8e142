"""RFM on hand-made purchase logs, and what the CLV assets do when the data cannot support a model."""

from datetime import date

import pytest

from conftest import REPO, connect, materialize, write_config

HEADER = "order_id,customer_id,order_ts,product_id,quantity,unit_price\n"


def run_shop(tmp_path, home, lines: list[str], as_of: str | None = "2024-03-31", clv: dict | None = None):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "purchases.csv").write_text(HEADER + "".join(line + "\n" for line in lines))
    settings = {"as_of": as_of, "sources": {"purchases": {"path": "in", "return_order_prefix": "R"}}}
    if clv:
        settings["customer_value"] = clv
    selection = "group:ingest or group:prepare or group:customer_value"
    assert materialize(write_config(tmp_path, settings), home, selection=selection).success
    return connect(home)


def rfm(conn, customer: str) -> dict:
    frame = conn.execute("select * from customer_rfm where customer_id = ?", [customer]).df()
    return frame.iloc[0].to_dict()


def test_recency_frequency_and_monetary_of_a_simple_history(tmp_path, home):
    with run_shop(tmp_path, home, [
        "O1,A,2024-01-01 10:00,P1,1,10.00",
        "O2,A,2024-02-01 10:00,P1,2,10.00",
        "O3,A,2024-03-01 10:00,P1,3,10.00",
    ]) as conn:
        a = rfm(conn, "A")
    assert a["frequency"] == 3
    assert a["recency_days"] == (date(2024, 3, 31) - date(2024, 3, 1)).days
    assert a["tenure_days"] == (date(2024, 3, 31) - date(2024, 1, 1)).days
    assert a["total_net_spend"] == pytest.approx(60.0)
    assert a["monetary"] == pytest.approx(20.0)


def test_same_day_purchases_count_once(tmp_path, home):
    with run_shop(tmp_path, home, [
        "O1,B,2024-01-05 09:00,P1,1,10.00",
        "O2,B,2024-01-05 17:00,P2,1,30.00",
    ]) as conn:
        b = rfm(conn, "B")
    assert b["frequency"] == 1
    assert b["monetary"] == pytest.approx(40.0)


def test_returns_are_netted_from_spend_and_are_not_purchases(tmp_path, home):
    with run_shop(tmp_path, home, [
        "O1,C,2024-01-05 09:00,P1,2,25.00",
        "R1,C,2024-01-20 09:00,P1,-1,25.00",
        "O2,C,2024-02-05 09:00,P1,1,25.00",
    ]) as conn:
        c = rfm(conn, "C")
    assert c["frequency"] == 2
    assert c["total_net_spend"] == pytest.approx(50.0)
    assert c["monetary"] == pytest.approx(25.0)
    assert c["last_purchase_date"].date() == date(2024, 2, 5)


def test_purchases_after_as_of_are_ignored(tmp_path, home):
    with run_shop(tmp_path, home, [
        "O1,D,2024-01-05 09:00,P1,1,10.00",
        "O2,D,2024-04-05 09:00,P1,1,99.00",
        "O3,E,2024-04-06 09:00,P1,1,10.00",
    ], as_of="2024-03-31") as conn:
        d = rfm(conn, "D")
        customers = conn.execute("select count(*) from customer_rfm").fetchall()[0][0]
    assert (d["frequency"], d["total_net_spend"]) == (1, pytest.approx(10.0))
    assert customers == 1


def test_scores_are_quintiles_with_ties_scored_alike_and_segments_named(tmp_path, home):
    lines = []
    for number in range(10):
        for visit in range(number + 1):
            lines.append(f"O{number}-{visit},K{number},2024-0{1 + visit % 3}-{10 + visit:02d} 10:00,P1,1,{10 + number}.00")
    with run_shop(tmp_path, home, lines) as conn:
        scores = conn.execute(
            "select customer_id, f_score, m_score, rfm_segment from customer_rfm order by customer_id"
        ).df()
    assert scores["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scores["m_score"].is_monotonic_increasing
    assert scores["rfm_segment"].notna().all()


def test_too_little_data_gives_no_invented_clv_numbers_and_says_why(tmp_path, home):
    with run_shop(tmp_path, home, [
        "O1,A,2024-01-01 10:00,P1,1,10.00",
        "O2,A,2024-02-01 10:00,P1,1,10.00",
        "O3,B,2024-01-15 10:00,P1,1,10.00",
    ]) as conn:
        models = conn.execute("select distinct status from clv_model").fetchall()
        clv = conn.execute("select customer_id, p_alive, clv_12m, is_one_time_buyer, clv_status from customer_clv order by 1").fetchall()
        backtest = conn.execute("select distinct status from clv_backtest").fetchall()
    assert models == [("insufficient data: 2 customers, at least 100 needed",)]
    assert clv == [
        ("A", None, None, False, "insufficient data: 2 customers, at least 100 needed"),
        ("B", None, None, True, "insufficient data: 2 customers, at least 100 needed"),
    ]
    assert backtest[0][0].startswith("insufficient data")


def test_on_the_sample_one_time_buyers_get_no_p_alive_but_every_customer_a_clv_decile_and_tier(tmp_path, home):
    selection = "group:ingest or group:prepare or group:customer_value"
    assert materialize(REPO / "lifecycle.yaml", home, selection=selection).success
    with connect(home) as conn:
        rows = conn.execute(
            "select is_one_time_buyer, count(*), count(p_alive), count(clv_12m), min(clv_12m) > 0 "
            "from customer_clv group by 1 order by 1"
        ).fetchall()
        deciles = conn.execute("select count(distinct clv_decile), count(distinct value_tier) from customer_clv").fetchall()
        # share of customers per decile and tier, and whether a better band ever holds a lower CLV
        decile_shares = conn.execute(
            "select clv_decile, count(*) / sum(count(*)) over () from customer_clv group by 1 order by 1"
        ).fetchall()
        tier_shares = dict(conn.execute(
            "select value_tier, count(*) / sum(count(*)) over () from customer_clv group by 1"
        ).fetchall())
        decile_overlaps = conn.execute(
            "select count(*) from customer_clv better join customer_clv worse "
            "on better.clv_decile < worse.clv_decile and better.clv_12m < worse.clv_12m"
        ).fetchone()[0]
        statuses = conn.execute("select distinct clv_status from customer_clv").fetchall()
        scores = conn.execute("select * from clv_backtest where calibration_frequency = '0'").df()
    (repeat, repeat_n, repeat_alive, repeat_clv, repeat_positive), (one_time, one_n, one_alive, one_clv, one_positive) = rows
    assert (repeat, one_time) == (False, True)
    assert repeat_n == repeat_alive == repeat_clv and repeat_positive
    assert one_alive == 0 and one_clv == one_n and one_positive
    assert deciles == [(10, 6)]
    assert [decile for decile, _ in decile_shares] == list(range(1, 11))
    assert all(abs(share - 0.10) < 0.01 for _, share in decile_shares)
    expected_tiers = {"top 1%": 0.01, "top 5%": 0.04, "top 10%": 0.05, "top 25%": 0.15, "top 50%": 0.25, "rest": 0.50}
    assert all(abs(tier_shares[tier] - share) < 0.005 for tier, share in expected_tiers.items())
    assert decile_overlaps == 0
    assert statuses == [("ok",)]
    assert scores["predicted_purchases"].iloc[0] > 0


def customer_base(customers: int, memory_limit: str = "1GB"):
    """A warehouse of `customers` buyers with one to four purchase days each, values spread by a hash,
    and customer_rfm built from it by the real SQL."""
    import duckdb

    from assets.customer_value.assets import SQL
    from common.warehouse import create_table

    conn = duckdb.connect(config={"memory_limit": memory_limit})
    conn.execute("create table analysis_scope as select date '2024-12-31' as as_of")
    conn.execute(
        "create table customer_purchase_days as "
        "select 'C' || (i // 4)::varchar as customer_id, date '2024-01-01' + (hash(i) % 365)::integer as purchase_date, "
        "((hash(i * 7) % 100000) / 100)::decimal(38, 4) as net_amount, true as is_purchase_day "
        f"from range({4 * customers}) r(i) where i % 4 = 0 or hash(i) % 3 = 0"
    )
    create_table(conn, "customer_rfm", SQL / "customer_rfm.sql", unordered=True)
    return conn


def test_quintile_scores_count_the_quantile_disc_boundaries_each_value_passes():
    conn = customer_base(20_000)
    differing = conn.execute(
        """
        with boundaries as (
            select quantile_disc(recency_days, [0.8, 0.6, 0.4, 0.2]) as r, quantile_disc(frequency, [0.2, 0.4, 0.6, 0.8]) as f,
                   quantile_disc(monetary, [0.2, 0.4, 0.6, 0.8]) as m
            from customer_rfm
        )
        select count(*) from customer_rfm, boundaries
        where r_score <> 1 + len(list_filter(r, lambda b: recency_days < b))
           or f_score <> 1 + len(list_filter(f, lambda b: frequency > b))
           or m_score <> 1 + len(list_filter(m, lambda b: monetary > b))
        """
    ).fetchone()[0]
    assert differing == 0
    assert conn.execute("select count(distinct m_score), count(distinct r_score) from customer_rfm").fetchone() == (5, 5)


def test_millions_of_customers_are_scored_in_a_memory_smaller_than_their_values():
    # 3M customers under 64 MB: quantile aggregates holding every customer's recency, frequency and
    # monetary value ran out of memory here (and would at 40M customers under the 1 GB limit)
    conn = customer_base(3_000_000, memory_limit="64MB")
    assert conn.execute("select count(*), min(r_score), max(m_score) from customer_rfm").fetchone() == (3_000_000, 1, 5)
