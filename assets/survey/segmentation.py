"""Segment survey respondents by what drives their choice of store.

Ratings are mapped to numbers in SQL (`survey_answers`); here the compact respondent x factor
matrix is prepared (imputation, per-respondent centring, standardization) and k-means is run for
each k in the configured range. Silhouette alone merges segments that sit close together, so k is
chosen by several criteria (silhouette, Calinski-Harabasz, the gap statistic) among the ks whose
solution reproduces on bootstrap resamples (adjusted Rand index). Each segment is named after the
factors that distinguish it most.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score
from threadpoolctl import threadpool_limits

from common.config import SurveySettings

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
GAP_REFERENCES = 10


def likert_scale(settings: SurveySettings) -> pd.DataFrame:
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


def prepare(answers: pd.DataFrame, settings: SurveySettings) -> Prepared:
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
    criteria: pd.DataFrame  # one row per k tried: every criterion, whether it supports k, chosen, reason
    stability: dict[str, float] = field(default_factory=dict)


def segment(features: np.ndarray, settings: SurveySettings) -> Segmentation:
    """k-means for every k tried, each k judged by silhouette, Calinski-Harabasz, the gap statistic and
    bootstrap stability; k is the one most criteria support among the stable ks, unless config fixes it.
    On one thread: for a survey's few thousand respondents, k-means' OpenMP threads cost more than they
    save (25x slower on a busy two-core machine)."""
    with threadpool_limits(limits=1):
        return _segment(features, settings)


def _segment(features: np.ndarray, settings: SurveySettings) -> Segmentation:
    candidates = [settings.k] if settings.k else list(range(settings.k_min, min(settings.k_max, len(features) - 1) + 1))
    generator = np.random.default_rng(settings.seed)
    references = reference_sets(features, generator)
    fits, rows = {}, []
    for k in candidates:
        model = fits[k] = KMeans(n_clusters=k, n_init=10, random_state=settings.seed).fit(features)
        reference_log_inertia = np.log([
            KMeans(n_clusters=k, n_init=1, random_state=settings.seed).fit(reference).inertia_ for reference in references
        ])
        rows.append({
            "k": k,
            "silhouette": silhouette_score(features, model.labels_),
            "calinski_harabasz": calinski_harabasz_score(features, model.labels_),
            "gap": reference_log_inertia.mean() - np.log(model.inertia_),
            "gap_se": reference_log_inertia.std() * np.sqrt(1 + 1 / len(references)),
            "inertia": model.inertia_,
            **stability(features, model, settings, generator),
        })
    criteria = choose_k(pd.DataFrame(rows), settings)
    chosen = fits[int(criteria.loc[criteria["chosen"], "k"].iloc[0])]
    summary = criteria.loc[criteria["chosen"], ["stability_mean_ari", "stability_min_ari"]].iloc[0].to_dict()
    return Segmentation(chosen.labels_, chosen.cluster_centers_, chosen.n_clusters, criteria,
                        {**summary, "bootstrap_resamples": BOOTSTRAP_RESAMPLES})


def choose_k(criteria: pd.DataFrame, settings: SurveySettings) -> pd.DataFrame:
    """Among the stable ks (mean bootstrap ARI at least `min_stability`; all ks if none is), four
    criteria each name a k: the highest silhouette, the highest Calinski-Harabasz index, the gap
    statistic's first k with Gap(k) >= Gap(k+1) - se(k+1) (Tibshirani et al. 2001), and the largest
    stable k. The k named most often wins, the larger on a tie: silhouette and Calinski-Harabasz
    favour merging two close segments, and a split that reproduces on resamples is not noise."""
    criteria = criteria.sort_values("k").reset_index(drop=True)
    criteria["is_stable"] = criteria["stability_mean_ari"] >= settings.min_stability
    pool = criteria[criteria["is_stable"]] if criteria["is_stable"].any() else criteria
    levels_off = pool["gap"] >= (pool["gap"] - pool["gap_se"]).shift(-1)
    votes = {
        "silhouette": pool.loc[pool["silhouette"].idxmax(), "k"],
        "calinski_harabasz": pool.loc[pool["calinski_harabasz"].idxmax(), "k"],
        "gap": pool.loc[levels_off.idxmax() if levels_off.any() else pool["gap"].idxmax(), "k"],
        "stability": pool["k"].max() if criteria["is_stable"].any() else pool.loc[pool["stability_mean_ari"].idxmax(), "k"],
    }
    criteria["preferred_by"] = [", ".join(name for name, k in votes.items() if k == row_k) for row_k in criteria["k"]]
    tally = pd.Series(list(votes.values())).value_counts()
    k = settings.k or int(max(tally.index, key=lambda value: (tally[value], value)))
    criteria["chosen"] = criteria["k"] == k
    stable = ", ".join(str(value) for value in criteria.loc[criteria["is_stable"], "k"])
    among = (f"among the stable ks ({stable}; mean bootstrap ARI at least {settings.min_stability:g})" if stable
             else f"among all ks, none being stable (mean bootstrap ARI at least {settings.min_stability:g})")
    others = "".join(f"; {name} prefers {value}" for name, value in votes.items() if value != k)
    backers = criteria.loc[criteria["chosen"], "preferred_by"].iloc[0] or "no criterion"
    reason = f"fixed by config (survey.k: {k})" if settings.k else f"k = {k}: preferred by {backers} {among}{others}"
    criteria["reason"] = np.where(criteria["chosen"], reason, None)
    return criteria


def reference_sets(features: np.ndarray, generator: np.random.Generator) -> list[np.ndarray]:
    """Data without clusters for the gap statistic: uniform over the box the data span along their
    principal components."""
    centred = features - features.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    rotated = centred @ axes.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    return [generator.uniform(low, high, rotated.shape) @ axes for _ in range(GAP_REFERENCES)]


def stability(features: np.ndarray, model: KMeans, settings: SurveySettings,
              generator: np.random.Generator) -> dict[str, float]:
    """Agreement (adjusted Rand index) between a solution and k-means refitted on bootstrap resamples."""
    scores = []
    for resample in range(BOOTSTRAP_RESAMPLES):
        drawn = generator.integers(0, len(features), len(features))
        refit = KMeans(n_clusters=model.n_clusters, n_init=2, random_state=settings.seed + resample).fit(features[drawn])
        scores.append(adjusted_rand_score(model.labels_, refit.predict(features)))
    return {"stability_mean_ari": float(np.mean(scores)), "stability_min_ari": float(np.min(scores))}


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
