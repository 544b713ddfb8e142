"""Metadata that makes an asset readable in the Dagster UI: charts, small tables, counts."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from common.charts import markdown_image, save_chart


def chart(fig, name: str, title: str, exports_dir: Path) -> dict[str, dg.MetadataValue]:
    """Save a figure under exports/charts and embed it in the asset's metadata."""
    path, png = save_chart(fig, name, exports_dir)
    return {name: dg.MetadataValue.md(markdown_image(png, title)), f"{name}_file": dg.MetadataValue.path(str(path))}


def table(frame: pd.DataFrame, max_rows: int = 30) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(max_rows).to_markdown(index=False))
