"""Sample mode: the shipped data/sample folder of a DIY / home-improvement retailer."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from . import tables
from .catalog import build_catalog
from .engagement import build_events, build_service_scores
from .population import build_population
from .purchases import PURCHASE_COLUMNS, simulate_purchase_log
from .survey import build_survey
from .timeline import QUARTERS, quarter_label

BUYERS = 3_000
PROSPECTS = 530  # about 15% of customers.csv never purchased


def stream(seed: int, purpose: str) -> np.random.Generator:
    """An independent random stream per purpose, so changing one file leaves the others as they were."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def write_sample(out: Path, seed: int) -> None:
    catalog = build_catalog(stream(seed, "catalog"))
    population = build_population(BUYERS, PROSPECTS, stream(seed, "population"))
    log = simulate_purchase_log(population, catalog, stream(seed, "purchases"))
    survey, survey_truth = build_survey(population, stream(seed, "survey"))

    for quarter in range(QUARTERS):
        rows = log.rows.filter(log.quarter == quarter).select(PURCHASE_COLUMNS)
        tables.write_csv(rows, out / "purchases" / f"purchases_{quarter_label(quarter)}.csv.gz")
    tables.write_csv(catalog.products_table(), out / "products.csv")
    tables.write_csv(population.customers_table(), out / "customers.csv")
    tables.write_csv(build_events(population, log, stream(seed, "events")), out / "events.csv.gz")
    tables.write_csv(build_service_scores(population, log, stream(seed, "service")), out / "service_scores.csv")
    tables.write_csv(survey, out / "survey.csv")
    tables.write_csv(survey_truth, out / "survey_truth.csv")
