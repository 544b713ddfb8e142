"""Charts for people who would rather look than read: PNG files under exports/charts, and the same
image embedded in the asset's metadata so it shows in the Dagster UI."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)


def new_figure(width: float = 8, height: float = 4.5):
    return plt.subplots(figsize=(width, height), dpi=100)


def save_chart(fig, name: str, exports_dir: Path) -> tuple[Path, bytes]:
    """Write the figure to <exports>/charts/<name>.png atomically and return the path and PNG bytes."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    png = buffer.getvalue()
    charts = exports_dir / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    target = charts / f"{name}.png"
    partial = target.with_suffix(".png.tmp")
    partial.write_bytes(png)
    os.replace(partial, target)
    return target, png


def markdown_image(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
