"""The sources a retailer can configure: each one's canonical contract, and the plan that checks a
source's files and column mapping before anything is written.

Planning runs when a run starts (in the `lifecycle_config` resource and `make run`), so a config
mistake stops the run with one message naming the source, the column and the file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from common.config import ConfigError, Settings, SourceConfig
from common.warehouse import quote, run_sql


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


@dataclass(frozen=True)
class FileFormat:
    """How a data file is read: its columns and, for CSV, the dialect. `sniffed` says whether DuckDB's
    own detection reads the file; where it cannot (a stray line ending, an over-long line among the
    lines it samples), the file is read with these options spelled out."""

    columns: tuple[str, ...]
    delimiter: str = ","
    quote: str = '"'
    newline: str = "\\n"  # as DuckDB's new_line option spells it
    sniffed: bool = True


# Bump when the typing of canonical tables changes: every source is then reloaded once.
CANONICAL_LAYOUT = 2


@dataclass
class SourcePlan:
    """A validated source: its files, how each is read, and where each canonical column comes from."""

    spec: SourceSpec
    config: SourceConfig | None
    timezone: str = "UTC"
    files: list[Path] = field(default_factory=list)
    formats: dict[Path, FileFormat] = field(default_factory=dict)  # empty files have none
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> the file's column
    passthrough: dict[str, str] = field(default_factory=dict)  # output name -> the file's column

    @property
    def fingerprint(self) -> str:
        described = {
            "layout": CANONICAL_LAYOUT,
            "timezone": self.timezone,
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
        return SourcePlan(spec, None, settings.timezone)
    where = f"{settings.config_path}: source '{spec.source}'"
    unknown = sorted(set(config.columns) - set(spec.canonical))
    if unknown:
        raise ConfigError(
            f"{where}: unknown canonical column '{unknown[0]}' in columns "
            f"(known: {', '.join(spec.canonical)})"
        )
    files = settings.source_files(spec.source)
    formats = {path: found for path in files if (found := file_format(conn, where, path, config)) is not None}
    readable = {path: list(found.columns) for path, found in formats.items()}
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
    plan = SourcePlan(
        spec, config, settings.timezone, files, formats, columns,
        passthrough_columns(where, spec, config, columns, readable),
    )
    check_timestamp_format(conn, where, plan)
    return plan


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


TIMESTAMP_COLUMNS = ("order_ts", "registered_at", "event_ts", "score_ts")
FORMAT_SAMPLE_ROWS = 100


def check_timestamp_format(conn: duckdb.DuckDBPyConnection, where: str, plan: SourcePlan) -> None:
    """A configured timestamp_format must be one DuckDB understands and must read some of the first
    values of each file's date columns (a format that reads none of them is a mistake, not bad rows)."""
    timestamp_format = plan.config.timestamp_format
    if timestamp_format is None:
        return
    try:
        conn.execute("select try_strptime('', $format)", {"format": timestamp_format})
    except duckdb.Error as error:
        reason = str(error).splitlines()[0].split(": ", 1)[-1]
        raise ConfigError(f"{where}: timestamp_format '{timestamp_format}' is not a valid format ({reason})") from None
    for canonical in TIMESTAMP_COLUMNS:
        column = plan.columns.get(canonical)
        for path, found in plan.formats.items() if column else ():
            select, params = reader(path, plan.config, found, "sniffed" if found.sniffed else "tolerant")
            text = f"trim(cast({quote(column)} as varchar))"
            first = [value for (value,) in run_sql(
                conn, f"select {text} from {select} where nullif({text}, '') is not null limit {FORMAT_SAMPLE_ROWS}",
                params,
            )]
            (readable,) = run_sql(
                conn,
                "select count(coalesce(try_cast(value as timestamp), try_strptime(value, $format))) from unnest($first) as t(value)",
                {"first": first, "format": timestamp_format},
            )[0]
            if first and not readable:
                raise ConfigError(
                    f"{where}, column '{canonical}': timestamp_format '{timestamp_format}' reads none of the "
                    f"first {len(first)} values in file {path} (for example '{first[0]}')"
                )


# --- reading files -----------------------------------------------------------------------------


READ_MODES = ("sniffed", "explicit", "tolerant")
# The tolerant read (DuckDB's strict_mode off) would drop the surplus values of a line with too many
# columns without a word; this extra column catches them, so such a line is quarantined instead.
SURPLUS_COLUMN = "(surplus values)"
MAX_LINE_BYTES = 2_000_000  # DuckDB's default: a longer line is quarantined as unreadable


def file_format(conn: duckdb.DuckDBPyConnection, where: str, path: Path, config: SourceConfig) -> FileFormat | None:
    """How to read a data file, or None for an empty file (it loads as zero rows). DuckDB's sniffer
    decides where it can; where it cannot, the dialect is worked out from the file's first lines."""
    if path.stat().st_size == 0:
        return None
    if is_parquet(path):
        try:
            rows = conn.execute("describe select * from read_parquet($path)", {"path": str(path)}).fetchall()
        except duckdb.Error as exc:
            raise ConfigError(f"{where}: cannot read {path}: {str(exc).splitlines()[0]}") from None
        return FileFormat(tuple(row[0] for row in rows))
    try:
        sample = first_lines(path, config.encoding)
    except (OSError, EOFError, UnicodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc}") from None
    if not sample.strip():
        return None
    header = sample.splitlines()[0]
    options, params = sniff_options(config)
    try:
        delimiter, quote_char, newline, sniffed_columns = conn.execute(
            "select Delimiter, Quote, NewLineDelimiter, Columns "
            f"from sniff_csv($path, header = true, ignore_errors = true, max_line_size = {MAX_LINE_BYTES}{options})",
            {"path": str(path), **params},
        ).fetchone()
        found = FileFormat(
            tuple(column["name"] for column in sniffed_columns),
            delimiter,
            '"' if quote_char == "(empty)" else quote_char,
            newline,
        )
    except duckdb.Error:
        dialect = sniff_dialect(sample, config.delimiter)
        found = FileFormat(
            tuple(header_names(header, dialect.delimiter, dialect.quotechar or '"')),
            dialect.delimiter,
            dialect.quotechar or '"',
            line_ending(sample),
            sniffed=False,
        )
    names = header_names(header, found.delimiter, found.quote)
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        positions = [str(i + 1) for i, name in enumerate(names) if name == repeated[0]]
        raise ConfigError(
            f"{where}: file {path} has the column '{repeated[0]}' more than once in its header "
            f"(columns {' and '.join(positions)}); rename one so each column has its own name"
        )
    return found


def sniff_options(config: SourceConfig) -> tuple[str, dict]:
    options, params = ", encoding = $encoding", {"encoding": config.encoding}
    if config.delimiter:
        options, params = options + ", delim = $delimiter", {**params, "delimiter": config.delimiter}
    return options, params


def reader(
    path: Path, config: SourceConfig, found: FileFormat, mode: str = "sniffed", store_rejects: bool = False
) -> tuple[str, dict]:
    """The DuckDB table function that reads one file, every CSV value as text, and its parameters.
    `sniffed` lets DuckDB detect the dialect; `explicit` spells it out; `tolerant` also reads lines
    that break the CSV standard (DuckDB's strict_mode off), with an extra column for surplus values."""
    if is_parquet(path):
        return "read_parquet($path)", {"path": str(path)}
    options, params = sniff_options(config)
    params["path"] = str(path)
    options = f"header = true, max_line_size = {MAX_LINE_BYTES}" + options
    if mode == "sniffed":
        options += ", all_varchar = true"
    else:
        columns = [*found.columns, *([SURPLUS_COLUMN] if mode == "tolerant" else [])]
        options += (
            ", auto_detect = false, delim = $delimiter, quote = $quote, escape = $quote, new_line = $new_line"
            ", columns = $columns"
        )
        params |= {
            "delimiter": found.delimiter,
            "quote": found.quote,
            "new_line": found.newline,
            "columns": {column: "VARCHAR" for column in columns},
        }
        if mode == "tolerant":
            options += ", strict_mode = false, null_padding = true"
    if store_rejects:
        options += ", store_rejects = true, rejects_table = 'ingest_rejects', rejects_scan = 'ingest_reject_scans'"
    else:  # bad lines are the load's business, not planning's
        options += ", ignore_errors = true"
    return f"read_csv($path, {options})", params


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def open_text(path: Path, encoding: str, errors: str = "strict"):
    """A data file as text, decompressed when it ends in .gz, with its line endings kept."""
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")


def first_lines(path: Path, encoding: str, size: int = 65_536) -> str:
    with open_text(path, "utf-8-sig" if encoding == "utf-8" else encoding, errors="replace") as handle:
        return handle.read(size)


def sniff_dialect(sample: str, delimiter: str | None) -> type[csv.Dialect] | csv.Dialect:
    """The delimiter and quote of a file DuckDB's sniffer could not read, by Python's csv sniffer."""
    lines = "\n".join(sample.splitlines()[:50])
    try:
        dialect = csv.Sniffer().sniff(lines, delimiters=delimiter or ",;\t|")
    except csv.Error:
        dialect = csv.excel
    if delimiter and dialect.delimiter != delimiter:
        dialect = type("configured", (csv.excel,), {"delimiter": delimiter})
    return dialect


def line_ending(sample: str) -> str:
    end = sample.find("\n")
    if end > 0 and sample[end - 1] == "\r":
        return "\\r\\n"
    if end < 0 and "\r" in sample:
        return "\\r"
    return "\\n"


def header_names(header: str, delimiter: str, quote_char: str) -> list[str]:
    """The column names of a header line as DuckDB names them: trimmed, a blank one `column<i>`."""
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter, quotechar=quote_char or '"'), [])
    return [name.strip() or f"column{i}" for i, name in enumerate(names)]


def snake_case(name: str) -> str:
    cleaned = "".join(ch.lower() if ch.isalnum() else "_" for ch in name.strip())
    return "_".join(part for part in cleaned.split("_") if part) or "column"
