"""Survey: map answers to the rating scale, segment respondents by what drives their choice of
store, describe each segment, and show how its members behave as customers."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets.survey.charts import criterion_chart, factor_heatmap
from assets.survey.segmentation import likert_scale, memberships, prepare, profile, segment
from common.contracts import materialized
from common.metadata import chart, table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import create_table, create_table_from_frame, quote, table_columns

SQL = Path(__file__).parent / "sql"
SURVEY_ASSET = dict(group_name="survey", kinds={"duckdb"})


@dg.multi_asset(
    name="survey_answers",
    specs=[
        dg.AssetSpec("survey_answers", deps=["survey_responses_quarantine"], **SURVEY_ASSET),
        dg.AssetSpec("survey_answers_quarantine", **SURVEY_ASSET),
    ],
    can_subset=True,
)
def survey_answers(context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse):
    """One row per respondent and factor with the raw answer and its rating; missing and unmappable
    answers are also listed in `survey_answers_quarantine` with the reason. Both are written
    together, whichever of them a run selects."""
    settings = lifecycle_config.settings.survey
    with warehouse.get_connection() as conn:
        factors = factor_columns(conn)
        if not factors:
            create_table(conn, "survey_answers", SQL / "no_survey_answers.sql")
        else:
            conn.register("likert_scale", likert_scale(settings))
            try:
                create_table(
                    conn, "survey_answers", SQL / "survey_answers.sql",
                    {"scale_min": settings.scale_min, "scale_max": settings.scale_max},
                    identifiers={"factors": ", ".join(quote(factor) for factor in factors)},
                )
            finally:
                conn.unregister("likert_scale")
        conn.execute(
            "create or replace table survey_answers_quarantine as "
            "select respondent_id, factor, answer, problem as reason from survey_answers where problem is not null"
        )
        problems = conn.execute(
            "select reason, count(*) as answers from survey_answers_quarantine group by 1 order by 2 desc"
        ).df()
        duplicates = conn.execute("select count(*) from survey_responses_quarantine").fetchall()[0][0]
        metadata = {
            "survey_answers": {
                **materialized(conn, "survey_answers"),
                "answer_problems": table(problems),
                "answers_quarantined": int(problems["answers"].sum()),
                "respondent_rows_quarantined_at_ingest": duplicates,
            },
            "survey_answers_quarantine": materialized(conn, "survey_answers_quarantine"),
        }
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata[key.to_user_string()])


def factor_columns(conn) -> list[str]:
    return [c for c in table_columns(conn, "survey_responses") if c not in {"respondent_id", "customer_id", "source_file", "source_row"}]


@dg.multi_asset(
    specs=[
        dg.AssetSpec("survey_segments", deps=["survey_answers"], **SURVEY_ASSET,
                     description="Respondent -> segment, distance to its centre and membership score; "
                                 "respondents that could not be segmented carry the reason."),
        dg.AssetSpec("survey_segment_quality", deps=["survey_answers"], **SURVEY_ASSET,
                     description="Every k tried with silhouette, Calinski-Harabasz, gap statistic, bootstrap "
                                 "stability (adjusted Rand index) and inertia, which criteria prefer it, the "
                                 "chosen k and why."),
    ],
    can_subset=True,
)
def survey_segmentation(context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse):
    """Segments the survey's respondents; either table can be built alone (the other keeps its last state)."""
    settings = lifecycle_config.settings.survey
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with warehouse.get_connection() as conn:
        answers = conn.execute("select respondent_id, customer_id, factor, rating from survey_answers").df()
        respondents = answers.drop_duplicates("respondent_id").set_index("respondent_id")["customer_id"]
        prepared = prepare(answers, settings)
        usable = len(prepared.ratings)
        if usable < max(settings.min_respondents, settings.k_min + 1):
            status = f"too few respondents to segment: {usable} usable, at least {settings.min_respondents} needed"
            segments = pd.DataFrame({"respondent_id": respondents.index, "customer_id": respondents.to_numpy()})
            segments = segments.assign(segment_id=None, segment_name=None, distance_to_centre=np.nan,
                                       membership_score=np.nan, exclusion_reason=status)
            quality = pd.DataFrame([{"k": None, "chosen": None, "reason": None, "status": status}])
            metadata = {"status": status}
        else:
            result = segment(prepared.features, settings)
            names = profile(prepared.ratings, result.labels).set_index("segment_id")["segment_name"]
            distance, membership = memberships(prepared.features, result)
            segments = pd.DataFrame(
                {
                    "respondent_id": prepared.ratings.index,
                    "customer_id": respondents.reindex(prepared.ratings.index).to_numpy(),
                    "segment_id": result.labels.astype(int),
                    "segment_name": names.reindex(result.labels).to_numpy(),
                    "distance_to_centre": distance,
                    "membership_score": membership,
                    "exclusion_reason": None,
                }
            )
            excluded = prepared.excluded.assign(customer_id=respondents.reindex(prepared.excluded["respondent_id"]).to_numpy())
            segments = pd.concat([segments, excluded.rename(columns={"reason": "exclusion_reason"})], ignore_index=True)
            quality = result.criteria.assign(status="ok", bootstrap_resamples=result.stability["bootstrap_resamples"])
            metadata = {
                "status": "ok",
                "chosen_k": result.k,
                "reason": quality.loc[quality["chosen"], "reason"].iloc[0],
                **result.stability,
                "respondents_left_out": len(prepared.excluded),
                "answers_imputed": prepared.imputed_answers,
                **chart(criterion_chart(result.criteria), "survey_k_selection", "Choosing k", lifecycle_config.exports_dir),
            }
        if "survey_segments" in selected:
            create_table_from_frame(
                conn, "survey_segments", segments.astype({"segment_id": "Int64", "exclusion_reason": "string"})
            )
            yield dg.MaterializeResult(asset_key="survey_segments",
                                       metadata={**materialized(conn, "survey_segments"), **metadata})
        if "survey_segment_quality" in selected:
            create_table_from_frame(conn, "survey_segment_quality", quality)
            yield dg.MaterializeResult(asset_key="survey_segment_quality",
                                       metadata={**materialized(conn, "survey_segment_quality"), "quality": table(quality), **metadata})


@dg.asset(**SURVEY_ASSET, deps=["survey_answers"])
def survey_segment_profiles(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per segment: size, share, mean rating and z-score per factor, its distinguishing factors and
    name, and — for respondents linked to customers — return rate, repeat-purchase rate, average
    order value, share of discounted buying and mean CLV."""
    settings = lifecycle_config.settings.survey
    with warehouse.get_connection() as conn:
        answers = conn.execute("select respondent_id, customer_id, factor, rating from survey_answers").df()
        segments = conn.execute(
            "select respondent_id, segment_id from survey_segments where segment_id is not null"
        ).df()
        metadata = {}
        if segments.empty:
            profiles = pd.DataFrame({"segment_id": pd.Series(dtype="Int64"), "segment_name": pd.Series(dtype=str),
                                     "respondents": pd.Series(dtype=int), "share": pd.Series(dtype=float)})
            metadata["status"] = "no segments: see survey_segments.exclusion_reason"
        else:
            ratings = prepare(answers, settings).ratings.loc[segments["respondent_id"]]
            profiles = profile(ratings, segments["segment_id"].to_numpy())
            metadata |= chart(factor_heatmap(profiles), "survey_segment_heatmap", "Segment profiles", lifecycle_config.exports_dir)
        create_table_from_frame(conn, "survey_segment_factors", profiles, temporary=True)
        create_table(conn, "survey_segment_profiles", SQL / "segment_profiles.sql")
        conn.execute("drop table survey_segment_factors")
        shown = conn.execute(
            "select segment_id, segment_name, respondents, round(share, 3) as share, linked_customers_with_purchases, "
            "round(return_rate, 3) as return_rate, round(repeat_purchase_rate, 3) as repeat_rate, "
            "round(avg_order_value, 2) as aov from survey_segment_profiles order by segment_id"
        ).df()
        stored = materialized(conn, "survey_segment_profiles")
    return dg.MaterializeResult(metadata={**stored, "profiles": table(shown), **metadata})
