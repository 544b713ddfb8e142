"""Who is in the sample: purchasing customers with their buy-till-you-die parameters, and prospects."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from . import tables
from .catalog import CATEGORY_POPULARITY
from .segments import SEGMENT_NAMES, SEGMENT_SHARES, segment_attribute
from .timeline import DAYS, SECONDS_PER_DAY, epoch_seconds

# BG/NBD mixing distributions: purchases per day ~ Gamma(shape, scale), dropout after a repeat
# purchase ~ Beta(a, b). An average shopper buys about every six weeks and makes ~5 repeat trips.
PURCHASE_RATE_SHAPE, PURCHASE_RATE_SCALE = 0.9, 1 / 50
DROPOUT_A, DROPOUT_B = 1.2, 6.0
B2B_SHARE, B2B_PURCHASE_RATE_FACTOR = 0.10, 1.6

REGIONS = ("North", "South", "East", "West", "Central")
REGION_SHARES = np.array([0.25, 0.22, 0.18, 0.20, 0.15])
FIRST_STORE_OF_REGION = np.array([1, 4, 7, 9, 11])
STORES_IN_REGION = np.array([3, 3, 2, 2, 2])
STORE_COUNT = 12

ACQUISITION_CHANNELS = ("store_signup", "organic_search", "paid_search", "social", "referral", "newsletter")
ACQUISITION_SHARES = np.array([0.30, 0.22, 0.18, 0.12, 0.10, 0.08])
COMPANY_SIZES = ("1-9", "10-49", "50-249", "250+")
COMPANY_SIZE_SHARES = np.array([0.55, 0.28, 0.12, 0.05])
PROSPECT_RECENTLY_ACTIVE_SHARE = 0.4


@dataclass(frozen=True)
class Population:
    """Everyone in customers.csv. Index order: the first `buyer_count` people purchase, the rest are
    prospects; `customer_number` (the digits of C00042) follows registration time instead."""

    buyer_count: int
    customer_number: np.ndarray
    segment: np.ndarray
    registered_day: np.ndarray
    registered_second: np.ndarray
    acquisition_channel: np.ndarray
    email_opt_in: np.ndarray
    region: np.ndarray
    home_store: np.ndarray
    is_b2b: np.ndarray
    company_size: np.ndarray
    first_purchase_day: np.ndarray  # buyers only
    purchase_rate: np.ndarray  # buyers only, purchases per day
    dropout: np.ndarray  # buyers only
    category_preference: np.ndarray  # buyers x categories, rows sum to 1
    recently_active: np.ndarray  # prospects only: still browsing in the last month

    @property
    def size(self) -> int:
        return self.customer_number.size

    @cached_property
    def customer_id(self) -> pa.Array:
        return tables.prefixed_ids("C", self.customer_number, 5)

    def customers_table(self) -> pa.Table:
        order = np.argsort(self.customer_number)
        return pa.table({
            "customer_id": self.customer_id,
            "registered_at": tables.timestamps(epoch_seconds(self.registered_day, self.registered_second)),
            "acquisition_channel": pa.array(np.array(ACQUISITION_CHANNELS)[self.acquisition_channel]),
            "email_opt_in": pa.array(self.email_opt_in),
            "region": pa.array(np.array(REGIONS)[self.region]),
            "customer_type": pa.array(np.where(self.is_b2b, "B2B", "B2C")),
            "company_size": pa.array(np.array(COMPANY_SIZES)[self.company_size], mask=~self.is_b2b),
        }).take(order)  # fmt: skip


def build_population(buyer_count: int, prospect_count: int, rng: np.random.Generator) -> Population:
    size = buyer_count + prospect_count
    segment = rng.choice(SEGMENT_SHARES.size, size, p=SEGMENT_SHARES)
    is_b2b = rng.random(size) < B2B_SHARE
    region = rng.choice(REGION_SHARES.size, size, p=REGION_SHARES)
    home_store = FIRST_STORE_OF_REGION[region] + (rng.random(size) * STORES_IN_REGION[region]).astype(int)

    buyer_segment = segment[:buyer_count]
    first_purchase_day = rng.integers(0, DAYS, buyer_count)
    # Half register early on the day of their first purchase (before any order), the rest up to a year earlier.
    registered_before = np.where(rng.random(buyer_count) < 0.5, 0, rng.integers(1, 366, buyer_count))
    registered_day = np.r_[first_purchase_day - registered_before, rng.integers(0, DAYS, prospect_count)]
    registered_second = np.where(
        np.r_[registered_before == 0, np.zeros(prospect_count, bool)],
        rng.integers(4 * 3600, 6 * 3600, size),
        rng.integers(0, SECONDS_PER_DAY, size),
    )
    by_registration = np.lexsort((np.arange(size), registered_second, registered_day))
    customer_number = np.empty(size, dtype=np.int64)
    customer_number[by_registration] = np.arange(1, size + 1)

    purchase_rate = (
        rng.gamma(PURCHASE_RATE_SHAPE, PURCHASE_RATE_SCALE, buyer_count)
        * segment_attribute("purchase_rate_factor")[buyer_segment]
        * np.where(is_b2b[:buyer_count], B2B_PURCHASE_RATE_FACTOR, 1.0)
    )
    dropout = np.minimum(
        rng.beta(DROPOUT_A, DROPOUT_B, buyer_count) * segment_attribute("dropout_factor")[buyer_segment], 1.0
    )
    concentration = segment_attribute("category_concentration")[buyer_segment]
    taste = rng.gamma(concentration[:, None] * CATEGORY_POPULARITY[None, :]) + 1e-12
    opt_in_share = np.where(segment == SEGMENT_NAMES.index("loyal_regulars"), 0.7, 0.5)

    return Population(
        buyer_count=buyer_count,
        customer_number=customer_number,
        segment=segment,
        registered_day=registered_day,
        registered_second=registered_second,
        acquisition_channel=rng.choice(ACQUISITION_SHARES.size, size, p=ACQUISITION_SHARES),
        email_opt_in=rng.random(size) < opt_in_share,
        region=region,
        home_store=home_store,
        is_b2b=is_b2b,
        company_size=rng.choice(COMPANY_SIZE_SHARES.size, size, p=COMPANY_SIZE_SHARES),
        first_purchase_day=first_purchase_day,
        purchase_rate=purchase_rate,
        dropout=dropout,
        category_preference=taste / taste.sum(axis=1, keepdims=True),
        recently_active=rng.random(prospect_count) < PROSPECT_RECENTLY_ACTIVE_SHARE,
    )
