"""Row-level data-quality checks on the canonical tables: great-expectations suites run as Dagster
asset checks.

`<table>_trustworthy` is blocking: when keys are missing, or amounts and dates did not type, nothing
downstream builds on the table. `<table>_plausible` warns about values outside their usual range.
GX 1.x has no DuckDB dialect, so on DuckDB the suites validate pandas DataFrames fetched a batch at a
time; every expectation here judges one row at a time, so the batch counts add up to the whole
table's. On the Spark engine GX validates the table's Spark DataFrame itself, in one batch computed
on the cluster. What needs the whole table at once (a unique key) is checked in SQL from the
table's contract (common/contracts.py). GX is imported only when a check runs (its import takes seconds).
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa

from common.contracts import contract
from common.warehouse import column_types, quote

BATCH_ROWS = 1_000_000
EARLIEST_PLAUSIBLE = date(1990, 1, 1)
# how `as_judged` gives GX dates and times: days and microseconds since 1970-01-01
SINCE_EPOCH = {"DATE": "{} - date '1970-01-01'", "TIMESTAMP": "epoch_us({})"}
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Expectation:
    """One GX expectation, named without importing GX."""

    kind: str  # not_null | between | in_set | min_rows
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
        if self.kind == "between":
            return gx.expectations.ExpectColumnValuesToBeBetween(
                column=self.column, min_value=self.min_value, max_value=self.max_value
            )
        return gx.expectations.ExpectColumnValuesToBeInSet(column=self.column, value_set=list(self.value_set))


def trustworthy(table: str) -> list[Expectation]:
    """The columns the table's contract says are never null; purchases must not be empty."""
    expectations = [Expectation("not_null", column) for column in contract(table).not_null]
    return [Expectation("min_rows", None, min_value=1), *expectations] if table == "purchases" else expectations


PLAUSIBLE_TABLES = ("purchases", "customers", "events", "service_scores")


def plausible(table: str, now: datetime) -> list[Expectation]:
    """Dates between 1990 and the run's clock, prices and discounts not negative. (Staging already
    quarantines dates after the run's clock and NPS off its 0-10 scale, so those never reach here;
    the date bound still catches a parser that read day and month the wrong way round into 1900.)"""
    today = now.date()
    return {
        "purchases": [
            Expectation("between", "order_date", EARLIEST_PLAUSIBLE, today),
            Expectation("between", "unit_price", 0, None),
            Expectation("between", "discount", 0, None),
        ],
        "customers": [Expectation("between", "registered_at", pd.Timestamp(EARLIEST_PLAUSIBLE), pd.Timestamp(now))],
        "events": [Expectation("between", "event_ts", pd.Timestamp(EARLIEST_PLAUSIBLE), pd.Timestamp(now))],
        "service_scores": [Expectation("between", "score_date", EARLIEST_PLAUSIBLE, today)],
    }[table]


def trust_check_specs(table: str) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            f"{table}_trustworthy", asset=table, blocking=True,
            description=(
                "Keys, amounts and dates present and typed in every row (the contract's never-null "
                "columns); purchases not empty. Key uniqueness is the contract's `key` check."
            ),
        )
    ]
    if table in PLAUSIBLE_TABLES:
        specs.append(
            dg.AssetCheckSpec(
                f"{table}_plausible", asset=table, blocking=False,
                description="Dates within 1990 and the run's clock; prices and discounts not negative.",
            )
        )
    return specs


def run_trust_checks(warehouse, table: str, now: datetime) -> Iterator[dg.AssetCheckResult]:
    suites = {f"{table}_trustworthy": (trustworthy(table), dg.AssetCheckSeverity.ERROR)}
    if table in PLAUSIBLE_TABLES:
        suites[f"{table}_plausible"] = (plausible(table, now), dg.AssetCheckSeverity.WARN)
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


def as_judged(conn, table: str, columns: list[str]) -> list[str]:
    """The select list GX reads. Exact decimals would reach pandas as one Python object per value,
    which made the checks on 10M purchase lines several times slower than the load; as doubles they
    keep all these expectations judge: whether a value is there, its sign and its range. Dates and
    timestamps come as days and microseconds since 1970 (`on_pandas` moves the bounds alike): GX
    judges a range of dates one Python object at a time, and nanosecond datetimes, the one kind it
    compares in bulk, cannot hold the far-off dates the plausibility checks are there to catch."""
    types = column_types(conn, table)
    selected = []
    for column in columns:
        kind = types.get(column, "")
        if kind.startswith("DECIMAL"):
            selected.append(f"cast({quote(column)} as double) as {quote(column)}")
        elif kind in SINCE_EPOCH:
            selected.append(f"{SINCE_EPOCH[kind].format(quote(column))} as {quote(column)}")
        else:
            selected.append(quote(column))
    return selected


def on_pandas(expectation: Expectation, kind: str) -> Expectation:
    """The expectation as it judges a date or timestamp column read by `as_judged`: its bounds in
    days or microseconds since 1970, which order as the dates and times do."""
    if kind not in SINCE_EPOCH or expectation.kind != "between":
        return expectation
    return replace(
        expectation,
        min_value=since_epoch(expectation.min_value, kind),
        max_value=since_epoch(expectation.max_value, kind),
    )


def since_epoch(value, kind: str) -> int | None:
    if value is None:
        return None
    elapsed = pd.Timestamp(value) - pd.Timestamp(EPOCH)
    return elapsed.days if kind == "DATE" else elapsed // pd.Timedelta(microseconds=1)


def from_epoch(value, kind: str) -> object:
    """An example GX found in a `since_epoch` column, shown as the date or time it stands for."""
    if kind not in SINCE_EPOCH or not isinstance(value, numbers.Real) or value != value:
        return value
    try:
        moment = EPOCH + timedelta(**{"days" if kind == "DATE" else "microseconds": int(value)})
    except OverflowError:  # beyond what Python's dates hold: the number itself
        return value
    return moment.date() if kind == "DATE" else moment


def validate_table(conn, table: str, expectations: list[Expectation]) -> pd.DataFrame:
    """Run the expectations over the table (on DuckDB in batches); one row per expectation with its failures."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.validator.v1_validator import Validator

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    on_spark = getattr(conn, "engine", "duckdb") == "spark"
    source = context.data_sources.add_spark("warehouse") if on_spark else context.data_sources.add_pandas("warehouse")
    definition = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("batch")
    kinds = {} if on_spark else column_types(conn, table)
    judged_as = [on_pandas(e, kinds.get(e.column, "")) for e in expectations]
    suite = gx.ExpectationSuite(name=table, expectations=[e.to_gx() for e in judged_as])
    position_of = {(e.expectation_type, getattr(e, "column", None)): i for i, e in enumerate(suite.expectations)}
    judged = sorted({e.column for e in expectations if e.column})
    unexpected = [0] * len(expectations)
    examples: list[list] = [[] for _ in expectations]
    for frame in spark_frames(conn, table, judged) if on_spark else pandas_frames(conn, table, judged):
        # GX's own validator over the batch definition: `get_batch(...).validate` would load the
        # frame twice, fingerprinting (hashing) every value each time
        validator = Validator(
            batch_definition=definition,
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
        result = validator.validate_expectation_suite(suite)
        for outcome in result.results:
            config = outcome.expectation_config
            position = position_of[(config.type, config.kwargs.get("column"))]
            unexpected[position] += outcome.result.get("unexpected_count") or (0 if outcome.success else 1)
            kind = kinds.get(config.kwargs.get("column"), "")
            examples[position] += [from_epoch(v, kind) for v in (outcome.result.get("partial_unexpected_list") or [])[:5]]
    return pd.DataFrame(
        {
            "expectation": [e.kind for e in expectations],
            "column": [e.column or "(table)" for e in expectations],
            "unexpected": unexpected,
            "examples": [", ".join(map(str, found[:5])) for found in examples],
        }
    )


def pandas_frames(conn, table: str, columns: list[str]) -> Iterator[pd.DataFrame]:
    """The judged columns of a DuckDB table as pandas DataFrames of BATCH_ROWS rows; an empty table
    as one empty frame, so that row-count expectations can fail."""
    selected = ", ".join(as_judged(conn, table, columns))
    reader = conn.sql(f"select {selected} from {quote(table)}").to_arrow_reader(BATCH_ROWS)
    frames = (pa.Table.from_batches(batches).to_pandas() for batches in in_batches_of(reader, BATCH_ROWS))
    first = next(frames, None)
    if first is None:
        first = conn.execute(f"select {selected} from {quote(table)} limit 0").df()
    return itertools.chain([first], frames)


def in_batches_of(reader, rows: int) -> Iterator[list]:
    """The reader's record batches in lists of about `rows` rows: DuckDB hands out a few vectors'
    worth at a time whatever batch size it is asked for, and GX's cost per batch validated (building
    its metrics, fingerprinting the frame) made up most of the checks' time with ~120k-row frames."""
    gathered, count = [], 0
    for batch in reader:
        gathered.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield gathered
            gathered, count = [], 0
    if gathered:
        yield gathered


def spark_frames(conn, table: str, columns: list[str]) -> Iterator:
    """The judged columns of a Spark table as one Spark DataFrame: GX computes its metrics on the
    cluster, nothing is collected but the counts and a few examples."""
    from common.spark import quote as quote_spark

    yield conn.spark.table(quote_spark(table)).select(*[quote_spark(column) for column in columns])
