"""Charts of the survey segmentation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.charts import new_figure


def factor_heatmap(profiles: pd.DataFrame):
    """Segments x factors, coloured by how far the segment's mean rating is from the whole sample."""
    z_columns = [column for column in profiles.columns if column.startswith("z_")]
    values = profiles[z_columns].to_numpy(dtype=float)
    fig, ax = new_figure(max(6, 0.7 * len(z_columns) + 2), 1 + 0.6 * len(profiles))
    limit = np.nanmax(np.abs(values)) or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(z_columns)), [column[2:].replace("_", " ") for column in z_columns], rotation=45, ha="right")
    ax.set_yticks(range(len(profiles)), [f"{row.segment_id}: {row.segment_name} ({row.respondents})" for row in profiles.itertuples()])
    fig.colorbar(image, ax=ax, label="z-score vs all respondents")
    ax.set_title("What drives each segment")
    return fig


def criterion_chart(criteria: pd.DataFrame):
    """Every criterion against k, each scaled to its own best (1), the chosen k and the stable ks marked."""
    fig, ax = new_figure()
    for column, label in (("silhouette", "silhouette"), ("calinski_harabasz", "Calinski-Harabasz"),
                          ("gap", "gap statistic"), ("stability_mean_ari", "bootstrap stability (ARI)")):
        ax.plot(criteria["k"], criteria[column] / criteria[column].max(), marker="o", label=label)
    for k in criteria.loc[criteria["chosen"], "k"]:
        ax.axvline(k, color="#c44e52", linestyle="--", label=f"chosen: k = {k}")
    ax.scatter(criteria.loc[criteria["is_stable"], "k"], np.ones(int(criteria["is_stable"].sum())) * 1.05,
               marker="v", color="#333333", label="stable")
    ax.set_xlabel("number of segments k")
    ax.set_ylabel("criterion / its best")
    ax.set_title("Choosing the number of segments")
    ax.legend(fontsize=8)
    return fig
