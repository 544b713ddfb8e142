"""The plain pandas + lifetimes way to get CLV from a purchase log, as the benchmark's baseline.

This is what the lifetimes documentation shows: read the log, summarize per customer with
summary_data_from_transaction_data, fit BetaGeoFitter and GammaGammaFitter on one row per
customer, and call customer_lifetime_value and conditional_probability_alive. That is the
baseline the RFM+CLV target is judged against. `with_project_outputs` then adds, the same plain
way, what the project's tables also give per customer (RFM scores and segment, expected purchases
in 30/90/365 days, expected order value, CLV decile and tier), timed separately for context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


@dataclass
class BaselineClv:
    summary: pd.DataFrame  # per customer: lifetimes' summary, p_alive and clv_12m
    purchases: pd.DataFrame  # the purchase lines, with their amount
    bg_nbd: BetaGeoFitter
    gamma_gamma: GammaGammaFitter


def pandas_lifetimes_clv(csv_path: str, as_of: str | None = None, time_unit: str = "day") -> BaselineClv:
    """Per-customer p_alive and 12-month CLV from a purchase CSV with the generator's columns."""
    log = pd.read_csv(
        csv_path,
        usecols=["customer_id", "order_date", "qty", "unit_price", "discount", "is_return"],
        parse_dates=["order_date"],
    )
    purchases = log[log["is_return"] == 0].assign(amount=lambda f: f["qty"] * f["unit_price"] - f["discount"])
    freq = "W" if time_unit == "week" else "D"
    summary = summary_data_from_transaction_data(
        purchases, "customer_id", "order_date", monetary_value_col="amount",
        observation_period_end=as_of or purchases["order_date"].max(), freq=freq,
    )
    bg_nbd = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gamma_gamma = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    summary["p_alive"] = bg_nbd.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    summary["clv_12m"] = gamma_gamma.customer_lifetime_value(
        bg_nbd, summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        time=12, discount_rate=(1.10 ** (1 / 12) - 1), freq=freq,
    )
    return BaselineClv(summary, purchases, bg_nbd, gamma_gamma)


def with_project_outputs(baseline: BaselineClv, time_unit: str = "day") -> pd.DataFrame:
    """Add the rest of the project's per-customer RFM and CLV columns to the baseline's summary."""
    summary, bg_nbd, gamma_gamma = baseline.summary, baseline.bg_nbd, baseline.gamma_gamma
    unit = 7.0 if time_unit == "week" else 1.0
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    for days in (30, 90, 365):
        summary[f"expected_purchases_{days}d"] = bg_nbd.conditional_expected_number_of_purchases_up_to_time(days / unit, f, r, t)
    summary["expected_avg_order_value"] = gamma_gamma.conditional_expected_average_profit(f, summary["monetary_value"])
    clv_rank = summary["clv_12m"].rank(method="first", ascending=False)
    summary["clv_decile"] = pd.qcut(clv_rank, 10, labels=False) + 1
    cuts = summary["clv_12m"].quantile([0.99, 0.95, 0.90, 0.75, 0.50]).to_numpy()
    tiers = ["top 1%", "top 5%", "top 10%", "top 25%", "top 50%"]
    summary["value_tier"] = np.select([summary["clv_12m"] >= cut for cut in cuts], tiers, "rest")
    # RFM: days since the last purchase, purchase days, spend per purchase day; quintile scores
    summary["recency_days"] = (t - r) * unit
    summary["purchase_days"] = f + 1
    summary["monetary"] = baseline.purchases.groupby("customer_id")["amount"].sum().reindex(summary.index) / summary["purchase_days"]

    def quintile(values: pd.Series, ascending: bool = True) -> pd.Series:
        return pd.qcut(values.rank(method="first", ascending=ascending), 5, labels=False) + 1

    r_score = quintile(summary["recency_days"], ascending=False)
    fm_score = ((quintile(summary["purchase_days"]) + quintile(summary["monetary"])) / 2).round()
    one_purchase_day = summary["purchase_days"] == 1
    summary["rfm_segment"] = np.select(
        [(r_score >= 4) & (fm_score >= 4), (r_score >= 3) & (fm_score >= 3), (r_score >= 4) & one_purchase_day,
         r_score >= 4, (r_score == 3) & one_purchase_day, r_score == 3, (r_score == 2) & (fm_score >= 3),
         r_score == 2, fm_score >= 4, fm_score == 3, fm_score == 2],
        ["Champions", "Loyal", "New", "Potential loyalists", "Promising", "Need attention", "At risk",
         "About to sleep", "Cannot lose them", "At risk", "Hibernating"],
        "Lost",
    )
    return summary
