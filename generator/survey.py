"""The importance survey: ratings of eleven purchase factors by respondents from five planted segments,
exported the way survey tools really export them (mixed numbers and labels, gaps, a double submit)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import tables
from .population import Population
from .segments import FACTORS, SEGMENT_NAMES, SEGMENT_SHARES, SEGMENTS

LIKERT_LABELS = ("Not important", "Slightly important", "Moderately important", "Important", "Very important")
RESPONDENTS = 600
LINKED_SHARE = 0.4
TEXT_ANSWER_SHARE = 1 / 3
UNMAPPABLE_ANSWERS = ("n/a", "?", "n/a", "?")
BLANK_ANSWERS = 6
DUPLICATED_RESPONDENTS = 2

# How important the average respondent finds each factor on the 1-5 scale.
BASELINE_IMPORTANCE = np.array([3.2, 2.8, 3.4, 2.6, 2.4, 3.0, 2.8, 3.1, 2.9, 3.0, 2.5])
IMPORTANT_SHIFT, UNIMPORTANT_SHIFT = 1.9, -1.0
ANSWER_NOISE = 0.75
# Respondents use the scale differently: some agree with everything, some avoid or love the extremes.
TENDENCY_SPREAD, EXTREMITY_SPREAD = 0.35, 0.2


def build_survey(population: Population, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """survey.csv and survey_truth.csv; linked respondents are buyers of the same segment."""
    segment = rng.choice(SEGMENT_SHARES.size, RESPONDENTS, p=SEGMENT_SHARES)
    rating = _ratings(segment, rng)
    respondent_id = tables.prefixed_ids("RSP", np.arange(1, RESPONDENTS + 1), 4)
    answers = _as_exported(rating, rng)
    duplicated = rng.choice(RESPONDENTS, DUPLICATED_RESPONDENTS, replace=False)
    _blank_and_garble(answers, np.setdiff1d(np.arange(RESPONDENTS), duplicated), rng)

    rows = np.sort(np.r_[np.arange(RESPONDENTS), duplicated])
    survey = pa.table({
        "respondent_id": respondent_id.take(pa.array(rows)),
        "customer_id": _linked_customers(segment, population, rng).take(pa.array(rows)),
        **{factor: pa.array(answers[rows, f], pa.string()) for f, factor in enumerate(FACTORS)},
    })  # fmt: skip
    truth = pa.table({"respondent_id": respondent_id, "segment": pa.array(np.array(SEGMENT_NAMES)[segment])})
    return survey, truth


def _ratings(segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The segment's importance profile plus personal noise and scale use, rounded onto 1-5."""
    shift = np.zeros((len(SEGMENTS), len(FACTORS)))
    for s, profile in enumerate(SEGMENTS):
        shift[s, [FACTORS.index(f) for f in profile.important_factors]] = IMPORTANT_SHIFT
        shift[s, [FACTORS.index(f) for f in profile.unimportant_factors]] = UNIMPORTANT_SHIFT
    latent = BASELINE_IMPORTANCE + shift[segment] + rng.normal(0, ANSWER_NOISE, (segment.size, len(FACTORS)))
    tendency = rng.normal(0, TENDENCY_SPREAD, (segment.size, 1))
    extremity = rng.lognormal(0, EXTREMITY_SPREAD, (segment.size, 1))
    return np.clip(np.rint(3 + (latent - 3) * extremity + tendency), 1, 5).astype(int)


def _as_exported(rating: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Numbers for most respondents; a third answered with scale labels, typed in their own way."""
    answers = rating.astype(str).astype(object)
    for respondent in np.flatnonzero(rng.random(rating.shape[0]) < TEXT_ANSWER_SHARE):
        style = rng.choice(["as_listed", "lower", "upper", "mixed"], p=[0.5, 0.2, 0.1, 0.2])
        for f, value in enumerate(rating[respondent]):
            answers[respondent, f] = _typed(LIKERT_LABELS[value - 1], style, rng)
    return answers


def _typed(label: str, style: str, rng: np.random.Generator) -> str:
    if style == "lower":
        label = label.lower()
    elif style == "upper":
        label = label.upper()
    elif style == "mixed":
        label = " ".join(rng.choice([word.lower(), word.upper(), word.capitalize()]) for word in label.split())
    return " " * (rng.random() < 0.15) + label + " " * (rng.random() < 0.2)


def _blank_and_garble(answers: np.ndarray, respondents: np.ndarray, rng: np.random.Generator) -> None:
    """A few answers nobody can map to the scale and a few skipped questions, in distinct cells."""
    count = len(UNMAPPABLE_ANSWERS) + BLANK_ANSWERS
    cells = rng.choice(respondents.size * len(FACTORS), count, replace=False)
    rows, factors = respondents[cells // len(FACTORS)], cells % len(FACTORS)
    answers[rows, factors] = [*UNMAPPABLE_ANSWERS, *[None] * BLANK_ANSWERS]


def _linked_customers(segment: np.ndarray, population: Population, rng: np.random.Generator) -> pa.Array:
    """customer_id for LINKED_SHARE of respondents, each a distinct buyer of the respondent's segment."""
    linked = rng.random(segment.size) < LINKED_SHARE
    buyer = np.full(segment.size, -1)
    buyer_segment = population.segment[: population.buyer_count]
    for s in range(len(SEGMENTS)):
        respondents = np.flatnonzero(linked & (segment == s))
        buyer[respondents] = rng.choice(np.flatnonzero(buyer_segment == s), respondents.size, replace=False)
    return population.customer_id.take(pa.array(buyer, mask=buyer < 0))
