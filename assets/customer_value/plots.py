"""Charts of the CLV models for people who would rather look than read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assets.customer_value.modeling import ClvFit, days_per_unit
from assets.customer_value.purchase_models import MODELS
from common.charts import BLUE, GREY, RED, count_axis, money_axis, new_figure, no_data_figure, title
from common.labels import money, text


def frequency_recency_matrix(fit: ClvFit, max_frequency: int, max_t: float, time_unit: str, what: str):
    """Expected purchases in the next 90 days, or P(alive), for a customer of age max_t."""
    model, params = fit.purchases.purchase_model, fit.purchases.params
    frequency = np.arange(0, max_frequency + 1)
    recency = np.linspace(0, max_t, 40)
    f, r = np.meshgrid(frequency, recency)
    t = np.full_like(r, max_t, dtype=float)
    p_alive = model.p_alive(params, f.ravel(), r.ravel(), t.ravel())
    if what == "p_alive":
        values, shown = p_alive, "P(alive)"
    else:
        (values,) = model.expected_purchases(params, [90 / days_per_unit(time_unit)], f.ravel(), t.ravel(), p_alive)
        shown = "Expected purchases in the next 90 days"
    fig, ax = new_figure(7, 5)
    image = ax.imshow(values.reshape(f.shape), aspect="auto", origin="lower", extent=[0, max_frequency, 0, max_t],
                      cmap="viridis")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("repeat purchases (frequency)")
    ax.set_ylabel(f"recency ({time_unit}s since first purchase)")
    ax.set_title(f"{model.label}: {shown}, customers {max_t:.0f} {time_unit}s old")
    return fig


def tracking_plot(tracking: pd.DataFrame):
    """Cumulative repeat purchases in the holdout, actual and as each candidate predicted them."""
    fig, ax = new_figure()
    ax.plot(tracking["days_after_cutoff"], tracking["actual"], label="actual", color="#333333")
    for model in tracking.columns.drop(["days_after_cutoff", "actual"]):
        ax.plot(tracking["days_after_cutoff"], tracking[model], label=f"predicted ({MODELS[model].label})", linestyle="--")
    ax.set_xlabel("days after the calibration cut-off")
    ax.set_ylabel("cumulative repeat purchase days")
    ax.set_title("Backtest: holdout tracking")
    ax.legend()
    return fig


def clv_distribution(histogram: pd.DataFrame, as_of, currency: str):
    """Customers per 12-month CLV bin on a currency axis, the median marked; the last bar holds
    everyone above the 99th percentile."""
    if histogram.empty:
        return no_data_figure(text("chart.clv"), text("chart.clv.none"), as_of)
    fig, ax = new_figure()
    width = histogram["bin_width"].iloc[0]
    colors = [GREY if open_ended else BLUE for open_ended in histogram["is_open_ended"]]
    ax.bar(histogram["bin_start"], histogram["customers"], width=width, align="edge", color=colors, edgecolor="white")
    if histogram["is_open_ended"].iloc[-1]:
        last = histogram.iloc[-1]
        ax.annotate(f"{money(last['bin_start'], currency)} and more", (last["bin_start"] + width / 2, last["customers"]),
                    xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8, color=GREY)
    median = histogram["median_clv"].iloc[0]
    ax.axvline(median, color=RED, linestyle="--", linewidth=1)
    ax.annotate(f"median {money(median, currency)}", (median, 0.92), xycoords=("data", "axes fraction"),
                xytext=(6, 0), textcoords="offset points", color=RED, fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "none"})
    ax.grid(axis="y")
    count_axis(ax.yaxis)
    money_axis(ax.xaxis, currency)
    ax.set_xlabel(text("chart.clv.x", currency=currency))
    ax.set_ylabel(text("chart.clv.y"))
    title(ax, text("chart.clv"), as_of, currency)
    return fig
