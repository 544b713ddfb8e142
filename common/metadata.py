"""Metadata that makes an asset readable in the Dagster UI: charts, small tables, counts, and numbers
written as people write them (rounded, percentages, currency)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from common import labels
from common.charts import markdown_image, save_chart

# Charts that judge a model rather than the customers: kept apart from the business charts.
MODEL_DIAGNOSTICS = frozenset({"clv_frequency_recency", "clv_p_alive", "clv_backtest_tracking", "survey_k_selection"})


def chart(fig, name: str, title: str, exports_dir: Path) -> dict[str, dg.MetadataValue]:
    """Save a figure under exports/charts (model diagnostics under charts/diagnostics) and embed it
    in the asset's metadata."""
    charts_dir = exports_dir / "charts" / ("diagnostics" if name in MODEL_DIAGNOSTICS else "")
    path, png = save_chart(fig, name, charts_dir)
    return {name: dg.MetadataValue.md(markdown_image(png, title)), f"{name}_file": dg.MetadataValue.path(str(path))}


def table(frame: pd.DataFrame, max_rows: int = 30) -> dg.MetadataValue:
    """A small table, its fractional numbers rounded: 2 decimals from 100 up, else 3."""
    shown = frame.head(max_rows).copy()
    for column in shown.select_dtypes("float").columns:
        largest = shown[column].abs().max()
        shown[column] = shown[column].round(2 if pd.notna(largest) and largest >= 100 else 3)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def rounded(value, digits: int = 3) -> dg.MetadataValue:
    return dg.MetadataValue.text("–") if value is None else dg.MetadataValue.float(round(float(value), digits))


def percent(share) -> dg.MetadataValue:
    return dg.MetadataValue.text(labels.percent(share))


def money(amount, currency: str) -> dg.MetadataValue:
    return dg.MetadataValue.text(labels.money(amount, currency))
