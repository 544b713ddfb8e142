"""Charts for people who would rather look than read: PNG files under exports/charts, the same image in
the asset's metadata for the Dagster UI, and in the morning report. One library (matplotlib), one
style: every chart says what it shows, as of which night, in which currency, with its key numbers on it."""

from __future__ import annotations

import base64
import io
import os
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
from matplotlib.ticker import FuncFormatter  # noqa: E402

from common.labels import CURRENCY_SYMBOLS, day, text  # noqa: E402

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlelocation": "left",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.axisbelow": True,
        "grid.color": "#e5e5e5",
        "grid.linewidth": 0.8,
        "legend.frameon": False,
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
    }
)

BLUE, RED, GREEN, GREY = "#4c72b0", "#c44e52", "#55a868", "#8c8c8c"
STAGE_COLORS = {
    "prospect_active": "#b3cde3",
    "prospect_inactive": "#dddddd",
    "new": "#8da0cb",
    "active": "#4c72b0",
    "vip": "#2d8a4e",
    "reactivated": "#a6d854",
    "at_risk": "#fdae61",
    "lapsed": "#c44e52",
}
DPI = 110


def new_figure(width: float = 8, height: float = 4.5):
    return plt.subplots(figsize=(width, height), dpi=100, layout="constrained")


def title(ax, what: str, as_of: date | None = None, currency: str | None = None) -> None:
    """The chart's question, and the night and currency it is about, from the figure's left edge
    (long axis labels never push it out of the picture)."""
    details = [text("as_of", date=day(as_of))] if as_of else []
    if currency:
        details.append(f"amounts in {CURRENCY_SYMBOLS.get(currency.upper(), currency)}")
    ax.figure.suptitle(what, x=0.01, ha="left", fontsize=12, fontweight="bold")
    if details:
        ax.set_title(" · ".join(details), loc="left", fontsize=9, fontweight="normal", color=GREY)


def money_axis(axis, currency: str) -> None:
    """Tick labels in the currency, thousands as k and millions as M."""
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), currency + " ")

    def written(value, _position):
        size = abs(value)
        if size >= 1e6:
            return f"{symbol}{value / 1e6:,.1f}M"
        if size >= 1e4:
            return f"{symbol}{value / 1e3:,.0f}k"
        return f"{symbol}{value:,.0f}"

    axis.set_major_formatter(FuncFormatter(written))


def count_axis(axis) -> None:
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:,.0f}"))


def no_data_figure(what: str, reason: str, as_of: date | None = None):
    """A chart that has nothing to show says why instead of staying blank."""
    fig, ax = new_figure(8, 2.5)
    title(ax, what, as_of)
    ax.text(0.5, 0.45, reason, ha="center", va="center", fontsize=11, color=GREY, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def save_chart(fig, name: str, charts_dir: Path) -> tuple[Path, bytes]:
    """Write the figure to <charts_dir>/<name>.png atomically and return the path and PNG bytes."""
    png = png_bytes(fig)
    charts_dir.mkdir(parents=True, exist_ok=True)
    target = charts_dir / f"{name}.png"
    partial = target.with_suffix(".png.tmp")
    partial.write_bytes(png)
    os.replace(partial, target)
    return target, png


def data_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def markdown_image(png: bytes, title: str) -> str:
    return f"![{title}]({data_uri(png)})"
