"""The five shopper segments planted in the sample, after a DIY-retail survey study.

Each segment rates a few purchase factors as very important, and the same people buy in a way
that matches: the pipeline's segment profiles can then be checked against real behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FACTORS = (
    "price", "discounts", "quality", "brand", "novelty", "assortment",
    "speed", "convenience", "location", "service", "loyalty_program",
)  # fmt: skip


@dataclass(frozen=True)
class Segment:
    name: str
    share: float
    important_factors: tuple[str, ...]
    unimportant_factors: tuple[str, ...]
    purchase_rate_factor: float
    dropout_factor: float
    return_probability: float
    discount_probability: float
    premium_probability: float
    category_concentration: float  # Dirichlet total of category preferences: low means few categories
    online_share: float


SEGMENTS = (
    Segment("loyal_regulars", 0.22, ("service", "loyalty_program"), ("novelty",),
            purchase_rate_factor=2.4, dropout_factor=0.5, return_probability=0.025,
            discount_probability=0.10, premium_probability=0.15, category_concentration=3.0, online_share=0.25),
    Segment("discount_lovers", 0.22, ("price", "discounts"), ("brand", "service"),
            purchase_rate_factor=1.0, dropout_factor=1.1, return_probability=0.03,
            discount_probability=0.45, premium_probability=0.05, category_concentration=3.0, online_share=0.45),
    Segment("quality_connoisseurs", 0.18, ("quality", "brand"), ("price", "discounts"),
            purchase_rate_factor=0.9, dropout_factor=0.9, return_probability=0.025,
            discount_probability=0.06, premium_probability=0.85, category_concentration=3.0, online_share=0.35),
    Segment("unusual_seekers", 0.17, ("novelty", "assortment"), ("location",),
            purchase_rate_factor=1.0, dropout_factor=1.0, return_probability=0.035,
            discount_probability=0.10, premium_probability=0.15, category_concentration=40.0, online_share=0.45),
    Segment("fast_convenient", 0.21, ("speed", "convenience", "location"), ("assortment",),
            purchase_rate_factor=1.0, dropout_factor=1.0, return_probability=0.15,
            discount_probability=0.08, premium_probability=0.15, category_concentration=3.0, online_share=0.70),
)  # fmt: skip

SEGMENT_NAMES = tuple(segment.name for segment in SEGMENTS)
SEGMENT_SHARES = np.array([segment.share for segment in SEGMENTS])


def segment_attribute(attribute: str) -> np.ndarray:
    """One value per segment, indexable by a segment-number array."""
    return np.array([getattr(segment, attribute) for segment in SEGMENTS])
