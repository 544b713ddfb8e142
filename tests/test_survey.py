"""Survey segmentation: answers mapped to the scale, segments found, named, and linked to behaviour."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from assets.survey.segmentation import prepare, segment
from common.config import SurveySettings
from conftest import REPO, connect, materialize, requires_shared_data, write_config

SURVEY_AND_DOWNSTREAM = "group:ingest or group:prepare or group:customer_value or group:survey"
PURCHASES = "order_id,customer_id,order_ts,product_id,quantity,unit_price\nO1,C1,2024-01-02,P1,1,10\n"


@pytest.fixture(scope="module")
def sample_segments(tmp_path_factory):
    home = tmp_path_factory.mktemp("sample") / "home"
    assert materialize(REPO / "lifecycle.yaml", home, selection=SURVEY_AND_DOWNSTREAM).success
    with connect(home) as conn:
        segments = conn.execute("select * from survey_segments").df()
        profiles = conn.execute("select * from survey_segment_profiles").df()
        quality = conn.execute("select * from survey_segment_quality").df()
    return segments, profiles, quality


def test_the_five_planted_segments_are_recovered(sample_segments):
    segments, _, quality = sample_segments
    truth = pd.read_csv(REPO / "data" / "sample" / "survey_truth.csv")
    compared = truth.merge(segments, on="respondent_id")
    assert len(compared) == len(truth)
    assert adjusted_rand_score(compared["segment"], compared["segment_id"]) >= 0.9
    assert int(quality.loc[quality["chosen"] == True, "k"].iloc[0]) == 5  # noqa: E712


def test_the_segment_that_returns_most_is_the_planted_fast_and_convenient_one(sample_segments):
    segments, profiles, _ = sample_segments
    truth = pd.read_csv(REPO / "data" / "sample" / "survey_truth.csv")
    planted = truth.merge(segments, on="respondent_id").groupby("segment_id")["segment"].agg(lambda s: s.mode()[0])
    most_returns = profiles.loc[profiles["return_rate"].idxmax(), "segment_id"]
    assert planted[most_returns] == "fast_convenient"


def test_segments_are_named_from_their_top_factors_and_members_scored(sample_segments):
    segments, profiles, _ = sample_segments
    assert profiles["segment_name"].str.len().gt(0).all()
    assert profiles["segment_name"].is_unique
    assert "price" in profiles.set_index("segment_name").index.str.cat(sep="|")
    members = segments.dropna(subset=["segment_id"])
    assert members["membership_score"].between(0, 1).all()
    assert (members["distance_to_centre"] >= 0).all()


def test_the_real_ffseg_survey_segments_through_its_example_config(tmp_path, home):
    requires_shared_data("survey_ffseg/ffseg.csv")
    assert materialize(REPO / "examples" / "ffseg.yaml", home, selection=SURVEY_AND_DOWNSTREAM).success
    with connect(home) as conn:
        profiles = conn.execute("select * from survey_segment_profiles").df()
        quality = conn.execute("select * from survey_segment_quality").df()
        segmented = conn.execute("select count(*) from survey_segments where segment_id is not null").fetchall()[0][0]
    assert profiles["respondents"].sum() == segmented == 752
    assert profiles["segment_name"].str.len().gt(0).all()
    assert set(quality["k"]) == set(range(2, 9))
    chosen = quality[quality["chosen"] == True]  # noqa: E712
    assert len(chosen) == 1 and chosen["stability_mean_ari"].between(0, 1).all()
    assert (profiles["linked_respondents"] == 0).all() and profiles["return_rate"].isna().all()


def small_survey(tmp_path: Path, lines: list[str], settings: dict | None = None) -> Path:
    (tmp_path / "purchases.csv").write_text(PURCHASES)
    (tmp_path / "survey.csv").write_text("respondent_id,customer_id,price,speed,quality\n" + "\n".join(lines) + "\n")
    return write_config(
        tmp_path,
        {"sources": {"purchases": {"path": "purchases.csv"}, "survey": {"path": "survey.csv"}},
         "survey": settings or {}},
    )


def test_likert_labels_in_any_case_and_spacing_map_to_the_scale_and_the_rest_is_quarantined(tmp_path, home):
    config_path = small_survey(tmp_path, [
        "R1,C1, Very IMPORTANT ,not important,Strongly   agree",
        "R2,,3,n/a,",
        "R3,,7,Agree,Somewhat important",
        "R3,,1,1,1",
    ])
    assert materialize(config_path, home, selection=SURVEY_AND_DOWNSTREAM).success
    with connect(home) as conn:
        ratings = dict(
            ((r, f), v) for r, f, v in conn.execute("select respondent_id, factor, rating from survey_answers").fetchall()
        )
        quarantined = conn.execute(
            "select respondent_id, factor, answer, reason from survey_answers_quarantine order by 1, 2"
        ).fetchall()
        duplicates = conn.execute("select reason from survey_responses_quarantine").fetchall()
        segments = conn.execute("select distinct exclusion_reason from survey_segments").fetchall()
    assert ratings[("R1", "price")] == 5 and ratings[("R1", "speed")] == 1 and ratings[("R1", "quality")] == 5
    assert ratings[("R3", "speed")] == 4 and ratings[("R3", "quality")] == 3
    assert quarantined == [
        ("R2", "quality", None, "missing answer"),
        ("R2", "speed", "n/a", "unmappable answer"),
        ("R3", "price", "7", "unmappable answer"),
    ]
    assert duplicates == [("duplicate respondent_id",)]
    assert segments == [("too few respondents to segment: 1 usable, at least 30 needed",)]


def test_a_survey_too_small_to_segment_still_lets_everything_downstream_build(tmp_path, home):
    config_path = small_survey(tmp_path, ["R1,,1,2,3", "R2,,3,2,1"])
    result = materialize(config_path, home)
    assert result.success
    with connect(home) as conn:
        assert conn.execute("select count(*) from survey_segment_profiles").fetchall()[0][0] == 0
        assert conn.execute("select status from survey_segment_quality").fetchall()[0][0].startswith("too few")


def test_a_configured_k_is_used_and_respondents_with_too_many_gaps_are_left_out_with_the_reason(tmp_path, home):
    lines = [f"R{n},,{1 + n % 5},{1 + (n * 2) % 5},{1 + (n * 3) % 5}" for n in range(40)] + ["R99,,?,,3"]
    config_path = small_survey(tmp_path, lines, {"k": 3, "min_respondents": 10})
    assert materialize(config_path, home, selection=SURVEY_AND_DOWNSTREAM).success
    with connect(home) as conn:
        quality = conn.execute("select k, chosen from survey_segment_quality").fetchall()
        left_out = conn.execute("select exclusion_reason from survey_segments where respondent_id = 'R99'").fetchall()
        sizes = conn.execute("select count(distinct segment_id) from survey_segments").fetchall()
    assert quality == [(3, True)]
    assert left_out == [("respondent left out: 2 of 3 answers missing or unmappable (at most 0 imputed)",)]
    assert sizes == [(3,)]


def planted_survey(seed: int, respondents: int = 800) -> tuple[pd.DataFrame, np.ndarray]:
    """Answers (respondent_id, customer_id, factor, rating) of five planted segments on a 1-5 scale
    with noise of half a point: four rate three factors of their own 1.5 points above the rest, and
    the fifth differs from the first by one point on three more factors."""
    generator = np.random.default_rng(seed)
    factors = generator.permutation(15)
    profiles = np.full((5, 15), 3.0)
    for planted in range(4):
        profiles[planted, factors[3 * planted: 3 * planted + 3]] += 1.5
    profiles[4] = profiles[0]
    profiles[4, factors[12:]] += 1.0
    truth = generator.integers(0, 5, respondents)
    ratings = np.clip(profiles[truth] + generator.normal(0, 0.5, (respondents, 15)), 1, 5)
    answers = pd.DataFrame({
        "respondent_id": np.repeat(np.arange(respondents), 15), "customer_id": None,
        "factor": np.tile([f"factor_{number:02d}" for number in range(15)], respondents), "rating": ratings.ravel(),
    })
    return answers, truth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_close_planted_segments_are_kept_apart_where_silhouette_alone_would_merge_them(seed):
    answers, truth = planted_survey(seed)
    settings = SurveySettings()
    result = segment(prepare(answers, settings).features, settings)
    assert result.k == 5
    assert adjusted_rand_score(truth, result.labels) >= 0.9
    quality = result.criteria.set_index("k")
    assert quality["silhouette"].idxmax() == 4  # silhouette alone merges the close pair
    assert quality.loc[5, "preferred_by"] == "gap, stability" and quality.loc[5, "is_stable"]
    assert quality.loc[5, "reason"].startswith("k = 5: preferred by gap, stability among the stable ks (")


def test_the_quality_table_shows_every_criterion_for_every_k_and_why_k_was_chosen(sample_segments):
    _, _, quality = sample_segments
    assert quality["k"].tolist() == list(range(2, 9))
    criteria = ["silhouette", "calinski_harabasz", "gap", "gap_se", "stability_mean_ari", "stability_min_ari", "inertia"]
    assert quality[criteria].notna().all().all()
    chosen = quality[quality["chosen"] == True]  # noqa: E712
    assert chosen["reason"].tolist() == [
        "k = 5: preferred by silhouette, calinski_harabasz, gap, stability among the stable ks (5; mean bootstrap "
        "ARI at least 0.9)"
    ]
    assert quality.loc[quality["chosen"] == False, "reason"].isna().all()  # noqa: E712


def test_each_survey_and_clv_table_can_be_built_with_just_its_upstream(tmp_path, home):
    """Multi-assets that cannot be subset break `dagster asset materialize --select '*X'`."""
    config_path = small_survey(tmp_path, ["R1,,1,2,3", "R2,,3,2,1"])
    for table in ("survey_segment_profiles", "clv_model"):
        result = materialize(config_path, home, selection=dg.AssetSelection.assets(table).upstream())
        built = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
        assert result.success and table in built
        assert not built & {"survey_segment_quality", "clv_backtest", "clv_model_selection_history"}
