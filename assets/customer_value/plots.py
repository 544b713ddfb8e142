"""Charts of the CLV models for people who would rather look than read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assets.customer_value.modeling import ClvFit, days_per_unit
from common.charts import new_figure


def frequency_recency_matrix(fit: ClvFit, max_frequency: int, max_t: float, time_unit: str, what: str):
    """Expected purchases in the next 90 days, or P(alive), for a customer of age max_t."""
    frequency = np.arange(0, max_frequency + 1)
    recency = np.linspace(0, max_t, 40)
    f, r = np.meshgrid(frequency, recency)
    t = np.full_like(r, max_t, dtype=float)
    if what == "p_alive":
        values, title = fit.bg_nbd.conditional_probability_alive(f, r, t), "P(alive)"
    else:
        values = fit.bg_nbd.conditional_expected_number_of_purchases_up_to_time(90 / days_per_unit(time_unit), f, r, t)
        title = "Expected purchases in the next 90 days"
    fig, ax = new_figure(7, 5)
    image = ax.imshow(values, aspect="auto", origin="lower", extent=[0, max_frequency, 0, max_t], cmap="viridis")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("repeat purchases (frequency)")
    ax.set_ylabel(f"recency ({time_unit}s since first purchase)")
    ax.set_title(f"{title}, customers {max_t:.0f} {time_unit}s old")
    return fig


def tracking_plot(tracking: pd.DataFrame):
    fig, ax = new_figure()
    ax.plot(tracking["days_after_cutoff"], tracking["actual"], label="actual", color="#333333")
    ax.plot(tracking["days_after_cutoff"], tracking["predicted"], label="predicted (BG/NBD)", linestyle="--", color="#c44e52")
    ax.set_xlabel("days after the calibration cut-off")
    ax.set_ylabel("cumulative repeat purchase days")
    ax.set_title("Backtest: holdout tracking")
    ax.legend()
    return fig


def clv_distribution(histogram: pd.DataFrame):
    """Customers per CLV bin (binned in SQL on a log scale)."""
    fig, ax = new_figure()
    if histogram.empty:
        ax.text(0.5, 0.5, "no CLV values", ha="center", va="center")
        return fig
    ax.bar(histogram["clv_12m"], histogram["customers"], width=histogram["clv_12m"] * 0.15, color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel("12-month CLV (log scale)")
    ax.set_ylabel("customers")
    ax.set_title("CLV distribution")
    return fig
