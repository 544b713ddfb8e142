"""The plain pandas + lifetimes way to get CLV from a purchase log, as the benchmark's baseline.

This is what the lifetimes documentation shows: read the log, summarize per customer with
summary_data_from_transaction_data, fit BetaGeoFitter and GammaGammaFitter on one row per
customer, and call customer_lifetime_value and conditional_probability_alive.
"""

from __future__ import annotations

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


def pandas_lifetimes_clv(csv_path: str, as_of: str | None = None, time_unit: str = "day") -> pd.DataFrame:
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
    return summary
