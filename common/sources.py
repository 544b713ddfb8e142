"""The sources a retailer can configure: each one's canonical contract, and the plan that checks a
source's files and column mapping before anything is written.

Planning runs when a run starts (in the `lifecycle_config` resource and `make run`), so a config
mistake stops the run with one message naming the source, the column and the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from common.config import ConfigError, Settings, SourceConfig


@dataclass(frozen=True)
class SourceSpec:
    """The canonical contract of one source: its table, columns, and unique key."""

    source: str
    table: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    key: str | None = None
    passthrough: str | None = None  # config field listing extra columns kept as text

    @property
    def canonical(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def quarantine_table(self) -> str:
        return f"{self.table}_quarantine"


SOURCES: dict[str, SourceSpec] = {
    spec.source: spec
    for spec in (
        SourceSpec(
            "purchases",
            "purchases",
            required=("customer_id", "order_ts"),
            optional=(
                "order_id", "product_id", "category", "channel", "store_id",
                "quantity", "unit_price", "amount", "discount", "promo", "is_return",
            ),
        ),
        SourceSpec(
            "products", "products", required=("product_id", "category"), optional=("product_name",), key="product_id"
        ),
        SourceSpec(
            "customers", "customers", required=("customer_id",), optional=("registered_at",),
            key="customer_id", passthrough="attributes",
        ),
        SourceSpec("events", "events", required=("customer_id", "event_ts", "event_type")),
        SourceSpec(
            "service_scores", "service_scores", required=("customer_id", "score_ts"), optional=("nps", "csi", "ces")
        ),
        SourceSpec(
            "survey", "survey_responses", required=("respondent_id",), optional=("customer_id",),
            key="respondent_id", passthrough="factors",
        ),
    )
}


@dataclass
class SourcePlan:
    """A validated source: its files and where each canonical column comes from."""

    spec: SourceSpec
    config: SourceConfig | None
    files: list[Path] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> the file's column
    passthrough: dict[str, str] = field(default_factory=dict)  # output name -> the file's column

    @property
    def fingerprint(self) -> str:
        described = {
            "config": self.config.model_dump(mode="json") if self.config else None,
            "columns": self.columns,
            "passthrough": self.passthrough,
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


# --- planning: validate every source before anything is written ---------------------------------


def plan_sources(settings: Settings) -> dict[str, SourcePlan]:
    """Check every configured source against its files; raise ConfigError naming what is wrong."""
    with duckdb.connect() as conn:
        plans = {name: plan_source(conn, settings, spec) for name, spec in SOURCES.items()}
    check_contact_columns(settings, plans["customers"])
    return plans


def check_contact_columns(settings: Settings, customers: SourcePlan) -> None:
    """The action lists copy `report.contact_columns` from the customers table: each must be one of its columns."""
    wanted = settings.report.contact_columns
    if not wanted:
        return
    where = f"{settings.config_path}: report.contact_columns"
    if customers.config is None:
        raise ConfigError(f"{where} lists '{wanted[0]}', but no customers source is configured")
    available = [*customers.passthrough, *(column for column in customers.columns if column != "customer_id")]
    for column in wanted:
        if column not in available:
            files = ", ".join(str(path) for path in customers.files)
            raise ConfigError(
                f"{where}: '{column}' is not a column of the customers table read from {files} "
                f"(its columns: {', '.join(available)})"
            )


def plan_source(conn: duckdb.DuckDBPyConnection, settings: Settings, spec: SourceSpec) -> SourcePlan:
    config: SourceConfig | None = getattr(settings.sources, spec.source)
    if config is None:
        return SourcePlan(spec, None)
    where = f"{settings.config_path}: source '{spec.source}'"
    unknown = sorted(set(config.columns) - set(spec.canonical))
    if unknown:
        raise ConfigError(
            f"{where}: unknown canonical column '{unknown[0]}' in columns "
            f"(known: {', '.join(spec.canonical)})"
        )
    files = settings.source_files(spec.source)
    headers = {path: file_columns(conn, path, config) for path in files}
    readable = {path: cols for path, cols in headers.items() if cols is not None}
    columns: dict[str, str] = {}
    for canonical in spec.canonical:
        wanted = config.columns.get(canonical)
        for path, cols in readable.items():
            if wanted is not None and wanted not in cols:
                raise ConfigError(
                    f"{where}, column '{canonical}': mapped to '{wanted}', which is not in file {path} "
                    f"(its columns: {', '.join(cols)})"
                )
        if wanted is not None:
            columns[canonical] = wanted
        elif readable and all(canonical in cols for cols in readable.values()):
            columns[canonical] = canonical
        elif canonical in spec.required and readable:
            path = next(iter(readable))
            raise ConfigError(
                f"{where}, column '{canonical}': required but not mapped, and file {path} has no column "
                f"of that name (its columns: {', '.join(readable[path])}); add it under columns:"
            )
    if spec.source == "purchases" and readable and "amount" not in columns and not {
        "quantity", "unit_price"
    } <= columns.keys():
        raise ConfigError(
            f"{where}, column 'amount': map either amount (line total) or both quantity and unit_price"
        )
    return SourcePlan(spec, config, files, columns, passthrough_columns(where, spec, config, columns, readable))


def passthrough_columns(
    where: str, spec: SourceSpec, config: SourceConfig, columns: dict[str, str], headers: dict[Path, list[str]]
) -> dict[str, str]:
    """Extra columns kept as text (customer attributes, survey factors): listed, or all the rest."""
    if spec.passthrough is None or not headers:
        return {}
    listed = getattr(config, spec.passthrough)
    if listed is None:
        mapped = set(columns.values())
        listed = [col for col in next(iter(headers.values())) if col not in mapped]
    for path, cols in headers.items():
        for col in listed:
            if col not in cols:
                raise ConfigError(
                    f"{where}, column '{col}' (listed in {spec.passthrough}): not in file {path} "
                    f"(its columns: {', '.join(cols)})"
                )
    return {snake_case(col): col for col in listed}


def file_columns(conn: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> list[str] | None:
    """The column names of a data file, or None for an empty file (it loads as zero rows)."""
    if path.stat().st_size == 0:
        return None
    try:
        rows = conn.execute(f"describe select * from {reader(path, config, header_only=True)}").fetchall()
    except duckdb.Error as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return [row[0] for row in rows]


def reader(path: Path, config: SourceConfig, store_rejects: bool = False, header_only: bool = False) -> str:
    """The DuckDB table function that reads one file, every CSV value as text."""
    if path.name.lower().endswith(".parquet"):
        return f"read_parquet({literal(str(path))})"
    options = ["header = true", "all_varchar = true"]
    if config.delimiter:
        options.append(f"delim = {literal(config.delimiter)}")
    if header_only:  # bad lines are the load's business, not the header check's
        options.append("ignore_errors = true")
    if store_rejects:
        options += ["store_rejects = true", "rejects_table = 'ingest_rejects'", "rejects_scan = 'ingest_reject_scans'"]
    return f"read_csv({literal(str(path))}, {', '.join(options)})"


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def snake_case(name: str) -> str:
    cleaned = "".join(ch.lower() if ch.isalnum() else "_" for ch in name.strip())
    return "_".join(part for part in cleaned.split("_") if part) or "column"
