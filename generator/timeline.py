"""The two-year window every generated file lives in, counted in days since its first day."""

from __future__ import annotations

from datetime import date

import numpy as np

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2025, 12, 31)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
SECONDS_PER_DAY = 86_400
_FIRST_DAY_EPOCH_SECONDS = (FIRST_DAY - date(1970, 1, 1)).days * SECONDS_PER_DAY


def epoch_seconds(day: np.ndarray, second_of_day: np.ndarray) -> np.ndarray:
    """Seconds since 1970 (naive, no time zone) for a day number and a time of day in seconds."""
    return _FIRST_DAY_EPOCH_SECONDS + day.astype(np.int64) * SECONDS_PER_DAY + second_of_day.astype(np.int64)


def quarter_index(day: np.ndarray) -> np.ndarray:
    """0 for 2024 Q1 ... 7 for 2025 Q4."""
    months = (np.datetime64(FIRST_DAY, "D") + day.astype("timedelta64[D]")).astype("datetime64[M]")
    return (months - np.datetime64(FIRST_DAY, "M")).astype(np.int64) // 3


def quarter_label(index: int) -> str:
    return f"{FIRST_DAY.year + index // 4}_q{index % 4 + 1}"


QUARTERS = int(quarter_index(np.array([DAYS - 1]))[0]) + 1
