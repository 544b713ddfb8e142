"""Data-quality checks on the canonical tables: great-expectations suites run as Dagster asset checks.

`<table>_trustworthy` is blocking: when keys are missing or duplicated, or amounts and dates did
not type, nothing downstream builds on the table. `<table>_plausible` warns about values outside
their usual range. GX 1.x has no DuckDB dialect, so the suites validate DataFrames fetched from
DuckDB a batch at a time; GX is imported only when a check runs (its import takes seconds).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd

from common.warehouse import quote

BATCH_ROWS = 1_000_000
EARLIEST_PLAUSIBLE = date(1990, 1, 1)


@dataclass(frozen=True)
class Expectation:
    """One GX expectation, named without importing GX."""

    kind: str  # not_null | unique | between | in_set | min_rows
    column: str | None
    min_value: object = None
    max_value: object = None
    value_set: tuple = ()

    def to_gx(self):
        import great_expectations as gx

        if self.kind == "not_null":
            return gx.expectations.ExpectColumnValuesToNotBeNull(column=self.column)
        if self.kind == "min_rows":
            return gx.expectations.ExpectTableRowCountToBeBetween(min_value=self.min_value)
        if self.kind == "unique":
            return gx.expectations.ExpectColumnValuesToBeUnique(column=self.column)
        if self.kind == "between":
            return gx.expectations.ExpectColumnValuesToBeBetween(
                column=self.column, min_value=self.min_value, max_value=self.max_value
            )
        return gx.expectations.ExpectColumnValuesToBeInSet(column=self.column, value_set=list(self.value_set))


def not_null(*columns: str) -> list[Expectation]:
    return [Expectation("not_null", column) for column in columns]


TRUSTWORTHY: dict[str, list[Expectation]] = {
    "purchases": [
        Expectation("min_rows", None, min_value=1),
        *not_null("customer_id", "order_ts", "amount", "is_return"),
    ],
    "products": [*not_null("product_id", "category"), Expectation("unique", "product_id")],
    "customers": [*not_null("customer_id"), Expectation("unique", "customer_id")],
    "events": not_null("customer_id", "event_ts", "event_type"),
    "service_scores": not_null("customer_id", "score_ts"),
    "survey_responses": [*not_null("respondent_id"), Expectation("unique", "respondent_id")],
}


def plausible(today: date) -> dict[str, list[Expectation]]:
    return {
        "purchases": [
            Expectation("between", "order_date", EARLIEST_PLAUSIBLE, today),
            Expectation("between", "unit_price", 0, None),
            Expectation("between", "discount", 0, None),
        ],
        "customers": [Expectation("between", "registered_at", pd.Timestamp(EARLIEST_PLAUSIBLE), pd.Timestamp(today))],
        "events": [Expectation("between", "event_ts", pd.Timestamp(EARLIEST_PLAUSIBLE), pd.Timestamp(today))],
        "service_scores": [
            Expectation("between", "nps", 0, 10),
            Expectation("between", "score_date", EARLIEST_PLAUSIBLE, today),
        ],
    }


def trust_check_specs(table: str) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            f"{table}_trustworthy", asset=table, blocking=True,
            description=(
                "Keys present (and unique where they identify a row); amounts and dates typed; "
                "purchases not empty."
            ),
        )
    ]
    if table in plausible(date.today()):
        specs.append(
            dg.AssetCheckSpec(
                f"{table}_plausible", asset=table, blocking=False,
                description="Dates within 1990..today; prices, discounts and scores within their ranges.",
            )
        )
    return specs


def run_trust_checks(warehouse, table: str) -> Iterator[dg.AssetCheckResult]:
    suites = {f"{table}_trustworthy": (TRUSTWORTHY[table], dg.AssetCheckSeverity.ERROR)}
    if table in plausible(date.today()):
        suites[f"{table}_plausible"] = (plausible(date.today())[table], dg.AssetCheckSeverity.WARN)
    with warehouse.get_connection() as conn:
        for name, (expectations, severity) in suites.items():
            outcome = validate_table(conn, table, expectations)
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=table,
                passed=bool((outcome["unexpected"] == 0).all()),
                severity=severity,
                metadata={
                    "expectations": dg.MetadataValue.md(outcome.to_markdown(index=False)),
                    "unexpected_rows": int(outcome["unexpected"].sum()),
                },
            )


def validate_table(conn, table: str, expectations: list[Expectation]) -> pd.DataFrame:
    """Run the expectations over the table in batches; one row per expectation with its failures."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batches = context.data_sources.add_pandas("warehouse").add_dataframe_asset(table)
    definition = batches.add_batch_definition_whole_dataframe("batch")
    suite = gx.ExpectationSuite(name=table, expectations=[e.to_gx() for e in expectations])
    position_of = {(e.expectation_type, getattr(e, "column", None)): i for i, e in enumerate(suite.expectations)}
    columns = ", ".join(sorted({quote(e.column) for e in expectations if e.column}))
    unexpected = [0] * len(expectations)
    examples: list[list] = [[] for _ in expectations]
    reader = conn.execute(f"select {columns} from {quote(table)}").to_arrow_reader(BATCH_ROWS)
    frames = (batch.to_pandas() for batch in reader)
    first = next(frames, None)
    if first is None:  # an empty table is validated once, so row-count expectations can fail
        first = conn.execute(f"select {columns} from {quote(table)} limit 0").df()
    for frame in itertools.chain([first], frames):
        result = definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}
        )
        for outcome in result.results:
            config = outcome.expectation_config
            position = position_of[(config.type, config.kwargs.get("column"))]
            unexpected[position] += outcome.result.get("unexpected_count") or (0 if outcome.success else 1)
            examples[position] += (outcome.result.get("partial_unexpected_list") or [])[:5]
    return pd.DataFrame(
        {
            "expectation": [e.kind for e in expectations],
            "column": [e.column or "(table)" for e in expectations],
            "unexpected": unexpected,
            "examples": [", ".join(map(str, found[:5])) for found in examples],
        }
    )
