"""Segment survey respondents by what drives their choice of store.

Ratings are mapped to numbers in SQL (`survey_answers`); here the compact respondent x factor
matrix is prepared (imputation, per-respondent centring, standardization), k-means is run for each
k in the configured range, k is chosen by silhouette, and the solution's stability is measured by
the adjusted Rand index over bootstrap resamples. Each segment is named after the factors that
distinguish it most.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from common.config import SegmentationSettings

DEFAULT_LIKERT_SCALE = {
    # importance
    "not important": 1, "not at all important": 1, "unimportant": 1,
    "slightly important": 2, "of little importance": 2, "low importance": 2,
    "moderately important": 3, "somewhat important": 3, "neutral": 3,
    "important": 4, "quite important": 4,
    "very important": 5, "extremely important": 5,
    # agreement
    "strongly disagree": 1, "disagree": 2, "somewhat disagree": 2,
    "neither agree nor disagree": 3, "neither": 3, "undecided": 3,
    "somewhat agree": 4, "agree": 4, "strongly agree": 5,
}
BOOTSTRAP_RESAMPLES = 20


def likert_scale(settings: SegmentationSettings) -> pd.DataFrame:
    """The label -> rating table the SQL joins on: the default scale, extended or overridden by config."""
    scale = {**DEFAULT_LIKERT_SCALE, **{" ".join(k.lower().split()): v for k, v in (settings.likert_scale or {}).items()}}
    return pd.DataFrame({"label": list(scale), "rating": [float(v) for v in scale.values()]})


@dataclass
class Prepared:
    """The respondents that can be segmented, their ratings, and who was left out and why."""

    ratings: pd.DataFrame  # respondent_id index, one column per factor, on the survey's scale
    features: np.ndarray  # what k-means sees
    excluded: pd.DataFrame  # respondent_id, reason
    imputed_answers: int


def prepare(answers: pd.DataFrame, settings: SegmentationSettings) -> Prepared:
    """Impute a respondent's few unusable answers with their own mean; leave out respondents with
    more than `max_missing_share` unusable answers; centre per respondent if configured; standardize."""
    wide = answers.pivot_table(index="respondent_id", columns="factor", values="rating", aggfunc="first", dropna=False)
    wide = wide.reindex(columns=sorted(answers["factor"].unique()))
    unusable = wide.isna().sum(axis=1)
    allowed = int(np.floor(settings.max_missing_share * wide.shape[1]))
    too_many = unusable > allowed
    excluded = pd.DataFrame(
        {
            "respondent_id": wide.index[too_many],
            "reason": [
                f"respondent left out: {n} of {wide.shape[1]} answers missing or unmappable (at most {allowed} imputed)"
                for n in unusable[too_many]
            ],
        }
    )
    kept = wide[~too_many]
    imputed = kept.apply(lambda row: row.fillna(row.mean()), axis=1)
    features = imputed.to_numpy(dtype=float)
    if settings.center_per_respondent:
        features = features - features.mean(axis=1, keepdims=True)
    spread = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return Prepared(imputed, features, excluded, int(unusable[~too_many].sum()))


@dataclass
class Segmentation:
    labels: np.ndarray
    centres: np.ndarray
    k: int
    criteria: pd.DataFrame  # k, silhouette, inertia, chosen
    stability: dict[str, float] = field(default_factory=dict)


def segment(features: np.ndarray, settings: SegmentationSettings) -> Segmentation:
    """k-means for every k tried; the highest mean silhouette wins unless config fixes k."""
    candidates = [settings.k] if settings.k else range(settings.k_min, min(settings.k_max, len(features) - 1) + 1)
    fits, rows = {}, []
    for k in candidates:
        model = KMeans(n_clusters=k, n_init=20, random_state=settings.seed).fit(features)
        fits[k] = model
        rows.append({"k": k, "silhouette": silhouette_score(features, model.labels_), "inertia": model.inertia_})
    criteria = pd.DataFrame(rows)
    best = int(criteria.loc[criteria["silhouette"].idxmax(), "k"])
    criteria["chosen"] = criteria["k"] == best
    chosen = fits[best]
    return Segmentation(chosen.labels_, chosen.cluster_centers_, best, criteria, stability(features, chosen, settings))


def stability(features: np.ndarray, chosen: KMeans, settings: SegmentationSettings) -> dict[str, float]:
    """Agreement (adjusted Rand index) between the solution and k-means refitted on bootstrap resamples."""
    generator = np.random.default_rng(settings.seed)
    scores = []
    for resample in range(BOOTSTRAP_RESAMPLES):
        drawn = generator.integers(0, len(features), len(features))
        refit = KMeans(n_clusters=chosen.n_clusters, n_init=5, random_state=settings.seed + resample).fit(features[drawn])
        scores.append(adjusted_rand_score(chosen.labels_, refit.predict(features)))
    return {
        "stability_mean_ari": float(np.mean(scores)),
        "stability_min_ari": float(np.min(scores)),
        "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
    }


def memberships(features: np.ndarray, result: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the own centre, and a membership score: 1 - d_own / d_nearest_other (0 on a border)."""
    distances = np.linalg.norm(features[:, None, :] - result.centres[None, :, :], axis=2)
    own = distances[np.arange(len(features)), result.labels]
    others = np.where(np.eye(result.k, dtype=bool)[result.labels], np.inf, distances).min(axis=1)
    return own, 1 - own / others


def profile(ratings: pd.DataFrame, labels: np.ndarray, name_factors: int = 2) -> pd.DataFrame:
    """Per segment: size, share, mean rating and z-score per factor, and a name from its top factors."""
    overall_mean, overall_sd = ratings.mean(), ratings.std(ddof=0).replace(0, 1.0)
    rows = []
    for segment_id in sorted(set(labels)):
        members = ratings[labels == segment_id]
        z = (members.mean() - overall_mean) / overall_sd
        top = z.sort_values(ascending=False)
        rows.append(
            {
                "segment_id": int(segment_id),
                "respondents": len(members),
                "share": len(members) / len(ratings),
                "top_factors": ", ".join(top.index[:3]),
                "segment_name": " & ".join(name.replace("_", " ") for name in top.index[:name_factors]),
                **{f"mean_{factor}": value for factor, value in members.mean().items()},
                **{f"z_{factor}": value for factor, value in z.items()},
            }
        )
    profiles = pd.DataFrame(rows)
    repeated = profiles["segment_name"].duplicated(keep=False)
    profiles.loc[repeated, "segment_name"] = [
        " & ".join(name.strip().replace("_", " ") for name in factors.split(", "))
        for factors in profiles.loc[repeated, "top_factors"]
    ]
    return profiles
