"""Ingestion on Spark: the same promise as loading.py, with Spark reading and typing the files.

Contract with the Spark engine's assets (issue 16): `sync_source_spark(spark, plan, run_started_at)`
returns the `SourceLoad` that `loading.sync_source` returns and leaves, in the Spark database `main`,
the tables DuckDB's load leaves (`main.<table>`, `main.<table>_quarantine`, `main.load_audit`) with
the same columns in the same order; DuckDB's TIMESTAMP is Spark's TIMESTAMP_NTZ (a wall-clock time
in the configured zone), DECIMAL(18,4) stays DECIMAL(18,4). The tables the ingest stage derives by
plain SQL over these (analysis_scope, purchase_lines, customer_purchase_days) are the engine's
translated SQL, not loading.

One definition of the rules: the staging SQL (sql/stage_*.sql) with its macros (sql/macros.sql)
inlined, the same-file duplicate rule (exact_duplicates.sql) and the quarantine layout
(quarantine.sql) are DuckDB SQL translated by sqlglot (common.dialects); which files to load comes
from loading.file_changes. Spark reads each file as lines of raw bytes, so each line keeps its
number in the file and its bytes, and splits the lines itself: a line DuckDB's reader would reject
(too many or too few values, bytes that are not UTF-8, a line over the maximum size) is quarantined
with DuckDB's words for it.

Spark has no transactions: each file's audit row is written last, so a file whose load broke off
is not audited and is loaded again, its partial rows removed first, by the next sync. Removing a
file's rows rewrites the table (Parquet tables take no DELETE); a first load only appends. Content
hashes stream each file through the driver, so the driver must see the files (shared storage).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache, reduce
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlglot
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType
from sqlglot import exp

from assets.ingest.loading import (
    REPEATING_FILES,
    SQL,
    SURPLUS_REASON,
    Audited,
    FileLoad,
    SourceLoad,
    file_changes,
    file_hash,
    stage_params,
)
from assets.ingest.reading import InputError, empty_raw_rows, raw_rows
from common.dialects import macro_definitions, spark_statements, to_spark
from common.sources import (
    MAX_LINE_BYTES,
    SURPLUS_COLUMN,
    FileFormat,
    SourcePlan,
    SourceSpec,
    is_parquet,
)
from common.spark import DATABASE, bound, drop_table
from common.spark import quote as backtick
from common.warehouse import quote

def sync_source_spark(spark: SparkSession, plan: SourcePlan, run_started_at: datetime) -> SourceLoad:
    """Bring one canonical Spark table in line with its files, as `loading.sync_source` does for DuckDB."""
    spec = plan.spec
    report = SourceLoad(spec.table)
    spark.sql(f"create database if not exists {DATABASE}")
    spark.sql(load_audit_ddl())
    spark.sql(
        f"create table if not exists {table_name(spec.quarantine_table)} using parquet as "
        + to_spark((SQL / "quarantine.sql").read_text())
    )
    audit = {
        name: Audited(content_hash, fingerprint, duplicate_of)
        for name, content_hash, fingerprint, duplicate_of in spark.sql(
            f"select source_file, content_hash, config_fingerprint, duplicate_of from {table_name('load_audit')} "
            "where source = :source",
            args={"source": spec.source},
        ).collect()
    }
    if any(entry.fingerprint != plan.fingerprint for entry in audit.values()):
        forget_source(spark, spec)
        audit, report.full_reload = {}, True
    if not spark.catalog.tableExists(table_name(spec.table)):
        with session_time_zone(spark, plan.timezone):
            create_empty_table(spark, plan, run_started_at)
    repeating_files = to_spark(REPEATING_FILES.format(quarantine=quote(spec.quarantine_table)))
    current, hashes, changed, removed = file_changes(
        plan, audit, lambda reasons: {row[0] for row in spark.sql(repeating_files, args={"reasons": reasons}).collect()}
    )
    if removed:
        forget_files(spark, spec, removed, audited=True)
        report.removed.extend(removed)
    # Files audited with content they no longer have, until reloaded: their rows are no earlier copy.
    outdated = set(changed)
    with session_time_zone(spark, plan.timezone):
        for name, path in current.items():
            if name in audit and name not in changed:
                report.unchanged.append(name)
                continue
            set_view(spark, "outdated_files", spark.createDataFrame([(f,) for f in sorted(outdated)], "source_file string"))
            report.loaded.append(load_file(spark, plan, path, run_started_at, hashes.get(name), name in audit))
            outdated.discard(name)
    spark.catalog.dropTempView("outdated_files")
    return report


def load_file(
    spark: SparkSession, plan: SourcePlan, path: Path, run_started_at: datetime, content_hash: str | None,
    audited: bool,
) -> FileLoad:
    """Read one file, replace its earlier rows by its rows split between the table and the
    quarantine, then record it in load_audit. A file with the content of one already loaded is
    quarantined as a duplicate of it."""
    spec, name = plan.spec, str(path)
    content_hash = content_hash or file_hash(path)
    stat = path.stat()
    read_mode, readable_rows, unreadable, unreadable_lines, cached = read_file(spark, plan, path)
    try:
        forget_files(spark, spec, [name], audited)
        rows = readable_rows + unreadable_lines
        duplicate_of = earlier_delivery(spark, spec, content_hash) if rows else None
        loaded = quarantined = 0
        if rows:
            if duplicate_of:
                reason = f"duplicate delivery: same content as {duplicate_of}"
                reasons = spark.table("raw_rows").select("source_row", F.lit(reason).alias("reason"))
                unreadable = unreadable.withColumn("reason", F.lit(reason))
            else:
                reasons = load_rows(spark, plan, name, run_started_at, read_mode, cached)
            quarantine_rows(spark, plan, name, reasons, unreadable if unreadable_lines else None, run_started_at)
            loaded, quarantined = rows_of_file(spark, spec, name)
        if loaded + quarantined != rows:
            raise RuntimeError(
                f"{name}: read {rows} rows but {loaded} loaded + {quarantined} quarantined; not audited, "
                "so the next run loads it again"
            )
        audit_row = (
            spec.source, name, stat.st_size, datetime.fromtimestamp(stat.st_mtime), content_hash, plan.fingerprint,
            rows, loaded, quarantined, wall_clock(run_started_at, plan.timezone), duplicate_of,
        )
        insert(spark, "load_audit", spark.createDataFrame([audit_row], spark.table(table_name("load_audit")).schema))
    finally:
        for frame in cached:
            frame.unpersist()
        for view in ("raw_rows", "raw_file", "exact_duplicates", "existing_keys", "staged_rows"):
            spark.catalog.dropTempView(view)
    return FileLoad(name, rows, loaded, quarantined, duplicate_of, read_mode)


def rows_of_file(spark: SparkSession, spec: SourceSpec, name: str) -> tuple[int, int]:
    """The rows a file has in the table and in the quarantine, counted in one job."""
    counts = dict(spark.sql(
        f"select 'loaded', count(*) from {table_name(spec.table)} where source_file = :name union all "
        f"select 'quarantined', count(*) from {table_name(spec.quarantine_table)} where source_file = :name",
        args={"name": name},
    ).collect())
    return counts["loaded"], counts["quarantined"]


def load_rows(
    spark: SparkSession, plan: SourcePlan, name: str, run_started_at: datetime, read_mode: str, cached: list
) -> DataFrame:
    """Type the rows of `raw_rows` and insert those that load; return the rest (source_row, reason)."""
    staged = stage_rows(spark, plan, run_started_at)
    if read_mode == "tolerant":
        surplus = spark.table("raw_rows").where(F.col("raw").getField(SURPLUS_COLUMN).isNotNull())
        staged = staged.join(surplus.select("source_row", F.lit(True).alias("_surplus")), "source_row", "left").withColumn(
            "quarantine_reason", F.when(F.col("_surplus"), F.lit(SURPLUS_REASON)).otherwise(F.col("quarantine_reason"))
        ).drop("_surplus")
    if not (plan.config and plan.config.keep_exact_duplicates):
        staged = staged.persist()  # read twice when compared with the rows loaded before
        cached.append(staged)
        staged = mark_copies_of_loaded_rows(spark, plan, staged)
    # Computed once and cut from its plan: the staged rows read the table they are inserted into
    # (keys and rows loaded before), and Spark drops a cached result when its tables are written.
    staged = staged.localCheckpoint()
    cached.append(staged)
    insert(spark, plan.spec.table, staged.where("quarantine_reason is null").select(
        *canonical_columns(spark, plan, staged), F.lit(name).alias("source_file")
    ))
    return staged.where("quarantine_reason is not null").select("source_row", F.col("quarantine_reason").alias("reason"))


def quarantine_rows(
    spark: SparkSession, plan: SourcePlan, name: str, reasons: DataFrame, unreadable: DataFrame | None,
    run_started_at: datetime,
) -> None:
    """Quarantine the rows of `raw_rows` that `reasons` names, with their raw values, and the lines
    that could not be read, with their text."""
    rows = reasons.join(spark.table("raw_rows"), "source_row").select(
        "source_row",
        F.lit(None).cast("bigint").alias("source_line"),
        "reason",
        F.to_json("raw", {"ignoreNullFields": "false"}).alias("raw_record"),
        F.lit(None).cast("string").alias("raw_line"),
    )
    if unreadable is not None:
        rows = rows.unionByName(unreadable.select(
            F.lit(None).cast("bigint").alias("source_row"), "source_line", "reason",
            F.lit(None).cast("string").alias("raw_record"), "raw_line",
        ))
    insert(spark, plan.spec.quarantine_table, rows.select(
        F.lit(name).alias("source_file"), "*",
        # as text: a datetime literal would be read in the session's zone
        F.lit(wall_clock(run_started_at, plan.timezone).isoformat(sep=" ")).cast("timestamp_ntz").alias("quarantined_at"),
    ))


# --- reading -----------------------------------------------------------------------------------


def read_file(spark: SparkSession, plan: SourcePlan, path: Path) -> tuple[str, int, DataFrame, int, list[DataFrame]]:
    """Read one file into the temp views `raw_file` (the file's columns as text, and source_row,
    the row's position among the rows read) and `raw_rows` (the same SQL as DuckDB's, from
    reading.raw_rows); return how DuckDB reads the file (reading.READ_MODES), the number of rows
    read, the lines that could not be read (source_line, reason, raw_line) and their number, and
    the cached frames to release once the file is loaded."""
    found = plan.formats.get(path)
    unreadable = spark.createDataFrame([], "source_line bigint, reason string, raw_line string")
    if found is None:  # an empty file
        spark.sql(to_spark(empty_raw_rows(plan))).createOrReplaceTempView("raw_rows")
        return "sniffed", 0, unreadable, 0, []
    if is_parquet(path):
        frame = spark.read.parquet(hadoop_path(path)).withColumn("_block", F.input_file_block_start())
        rows, count, _ = number_rows(spark, frame, "source_row")
        rows = rows.select("source_row", *(F.col(backtick(c)).cast("string").alias(c) for c in found.columns))
        read_mode, cached, unreadable_lines = "sniffed", [], 0
    else:
        read_mode, rows, count, unreadable, unreadable_lines, cached = split_lines(spark, plan, path)
    set_view(spark, "raw_file", rows)
    text = raw_rows(plan, read_mode, position="source_row")
    spark.sql(spark_statements(text, ingest_macros())[0]).createOrReplaceTempView("raw_rows")
    return read_mode, count, unreadable, unreadable_lines, cached


def split_lines(spark: SparkSession, plan: SourcePlan, path: Path) -> tuple[str, DataFrame, int, DataFrame, int, list]:
    """How DuckDB reads the file; the file's lines, numbered as in the file, split into values
    where they can be, and their number; the rest are unreadable lines, each with the reason
    DuckDB's reader gives for it, and their number; and the cached frames of the lines.

    DuckDB reads a file its sniffer cannot read with the dialect spelled out, which fails where
    line endings are mixed; it then reads tolerantly: a line with too few values is padded with
    nulls, one with too many keeps the first surplus value (SURPLUS_COLUMN) and is quarantined as
    a row. Lines are split at their last character here and their ending checked, to do the same."""
    found = plan.formats[path]
    encoding = plan.config.encoding
    if encoding not in ("utf-8", "latin-1"):
        raise InputError(f"{path}: the Spark loader reads utf-8 and latin-1 files, not {encoding}")
    ending = NEWLINES.get(found.newline, "\n")
    lines = spark.read.option("lineSep", ending[-1]).text(hadoop_path(path)).withColumn("_block", F.input_file_block_start())
    bytes_ = F.col("value").cast("binary")
    ends_in_cr = F.endswith(F.col("value"), F.lit("\r"))
    # the ending other than the file's; a crlf file's last line may lack one
    lines = lines.withColumn("_other_ending", ~ends_in_cr if ending == "\r\n" else ends_in_cr)
    # a carriage return before the line feed ends the line; the bytes are cut, not the text, which may not be UTF-8
    lines = lines.withColumn("value", F.when(ends_in_cr, F.substring(bytes_, 1, F.octet_length(bytes_) - 1).cast("string")).otherwise(F.col("value")))
    quotes = F.length("value") - F.length(F.regexp_replace("value", F.lit(re.escape(found.quote)), F.lit("")))
    lines = lines.withColumn("_odd_quotes", quotes % 2 == 1)
    try:
        lines, total, (odd, other_endings) = number_rows(spark, lines, "source_line", F.col("_odd_quotes"), F.col("_other_ending"))
    except (PySparkException, Py4JJavaError) as error:
        raise InputError(read_failure(path, error)) from None
    lines = lines.persist()
    cached = [lines]
    if other_endings == 1 and ending == "\r\n":  # unless only the last line lacks one
        other_endings = lines.where((F.col("source_line") < total) | (F.col("value") == "")).where("_other_ending").count()
    read_mode = "sniffed" if found.sniffed else "tolerant" if other_endings else "explicit"
    if odd:
        lines = join_quoted_line_breaks(spark, lines, found)
    raw = F.col("value").cast("binary")
    text = F.decode(raw, "ISO-8859-1") if encoding == "latin-1" else F.col("value")
    width = len(found.columns)
    # values outside quotes: a quoted value may hold the delimiter (its doubled quotes make two quoted runs)
    quote_char = re.escape(found.quote)
    unquoted = F.regexp_replace(text, F.lit(f"{quote_char}[^{quote_char}]*{quote_char}"), F.lit(""))
    found_values = F.size(F.split(unquoted, re.escape(found.delimiter), -1))
    size = F.octet_length(raw)
    reason = (
        F.when(size > MAX_LINE_BYTES, F.concat(
            F.lit(f"unreadable line (line size over maximum): Maximum line size of {MAX_LINE_BYTES} bytes exceeded. Actual Size:"),
            size.cast("string"), F.lit(" bytes."),
        ))
        .when(F.lit(encoding == "utf-8") & ~F.is_valid_utf8(raw), F.lit(
            "unreadable line (invalid encoding): Invalid unicode (byte sequence mismatch) detected. "
            "This file is not utf-8 encoded."
        ))
        .when(F.lit(read_mode != "tolerant") & (found_values > width), F.concat(
            F.lit(f"unreadable line (too many columns): Expected Number of Columns: {width} Found: "),
            found_values.cast("string"),
        ))
        .when(F.lit(read_mode != "tolerant") & (found_values < width), F.concat(
            F.lit(f"unreadable line (missing columns): Expected Number of Columns: {width} Found: "),
            found_values.cast("string"),
        ))
    )
    raw_line = F.when(F.lit(encoding == "utf-8") & ~F.is_valid_utf8(raw), escaped_bytes(raw)).otherwise(text)
    lines = lines.where("source_line > 1 and value <> ''").select(
        "_block", "source_line", text.alias("text"), reason.alias("reason"), F.substring(raw_line, 1, MAX_LINE_BYTES).alias("raw_line")
    ).persist()
    cached.append(lines)
    unreadable = lines.where("reason is not null").select("source_line", "reason", "raw_line")
    columns = [*found.columns, *([SURPLUS_COLUMN] if read_mode == "tolerant" else [])]
    schema = ", ".join(f"c{i} string" for i in range(len(columns)))
    options = {"sep": found.delimiter, "quote": found.quote, "escape": found.quote, "mode": "PERMISSIVE"}
    parsed, count, _ = number_rows(
        spark, lines.where("reason is null").select("_block", F.from_csv("text", schema, options).alias("values")), "source_row"
    )
    rows = parsed.select("source_row", *(F.col(f"values.c{i}").alias(column) for i, column in enumerate(columns)))
    return read_mode, rows, count, unreadable, unreadable.count(), cached


NEWLINES = {"\\n": "\n", "\\r\\n": "\r\n", "\\r": "\r"}  # DuckDB's spelling of a line ending, and the ending


def join_quoted_line_breaks(spark: SparkSession, lines: DataFrame, found: FileFormat) -> DataFrame:
    """The lines with a row whose quoted value holds line breaks joined into one line, numbered as
    its first line: a line with an odd number of quotes opens such a row, the next one closes it.
    Such lines are few, so they are found on the driver and joined where they are."""
    odd = [row[0] for row in lines.where("source_line > 1 and _odd_quotes").select("source_line").collect()]
    spans = list(zip(sorted(odd)[0::2], sorted(odd)[1::2]))
    if not spans:
        return lines
    spans = F.broadcast(spark.createDataFrame(spans, "_start bigint, _end bigint"))
    within = lines.join(spans, (F.col("source_line") >= F.col("_start")) & (F.col("source_line") <= F.col("_end")), "left")
    joined = within.where("_start is not null").groupBy("_start").agg(F.array_join(
        F.transform(F.array_sort(F.collect_list(F.struct("source_line", "value"))), lambda line: line["value"]),
        NEWLINES.get(found.newline, "\n"),
    ).alias("_joined"))
    return (
        within.join(F.broadcast(joined), "_start", "left")
        .where("_start is null or source_line = _start")
        .withColumn("value", F.coalesce("_joined", "value"))
        .drop("_start", "_end", "_joined")
    )


def read_failure(path: Path, error: Exception) -> str:
    """One line naming the file and the reason, in DuckDB's words where DuckDB has some (a cut-off
    gzip file), then Spark's message whole."""
    message = str(error)
    if "EOFException" in message and path.name.lower().endswith(".gz"):
        reason = f"Unexpected end of GZIP stream: {path}"
    else:
        reason = next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)
    return f"{path}: {reason}\n{message}"


def escaped_bytes(raw) -> F.Column:
    """A line that is not UTF-8 as text, each byte that is not ASCII as a \\x escape (as loading.raw_lines keeps it)."""
    hexed = F.hex(raw)
    # two hex digits per byte; bytes 80-FF become \xhh, the rest their character
    return F.array_join(
        F.transform(F.sequence(F.lit(0), F.octet_length(raw) - 1), lambda i: F.when(
            F.conv(F.substring(hexed, i * 2 + 1, 2), 16, 10).cast("int") >= 128,
            F.concat(F.lit("\\x"), F.lower(F.substring(hexed, i * 2 + 1, 2))),
        ).otherwise(F.decode(F.unhex(F.substring(hexed, i * 2 + 1, 2)), "US-ASCII"))),
        "",
    )


def number_rows(spark: SparkSession, frame: DataFrame, column: str, *flags: F.Column) -> tuple[DataFrame, int, list[int]]:
    """`frame` (rows in file order within each of its `_block`s, the file split it was read from)
    with `column` counting its rows in file order from 1, its number of rows, and how many of them
    each of `flags` holds for. One pass counts the rows of each split; the numbers come from those
    counts, without moving the rows to one place."""
    frame = frame.withColumn("_id", F.monotonically_increasing_id())
    counts = sorted(frame.groupBy("_block").agg(F.min("_id"), F.count(F.lit(1)), *(F.count_if(flag) for flag in flags)).collect())
    offsets, start = [], 0
    for block, first, count, *_ in counts:
        offsets.append((block, first, start))
        start += count
    lookup = spark.createDataFrame(offsets, "_block bigint, _first bigint, _start bigint")
    numbered = frame.join(F.broadcast(lookup), "_block").withColumn(
        column, F.col("_id") - F.col("_first") + F.col("_start") + 1
    ).drop("_id", "_first", "_start")
    return numbered, start, [sum(row[3 + i] for row in counts) for i in range(len(flags))]


# --- typing ------------------------------------------------------------------------------------


def stage_rows(spark: SparkSession, plan: SourcePlan, run_started_at: datetime) -> DataFrame:
    """Type the rows of `raw_rows` with the translated staging SQL, each with its quarantine reason."""
    spec = plan.spec
    spark.sql(to_spark((SQL / "exact_duplicates.sql").read_text())).createOrReplaceTempView("exact_duplicates")
    if spec.key:
        existing = (
            spark.sql(
                f"select {backtick(spec.key)} as key from {table_name(spec.table)} "
                "where source_file not in (select source_file from outdated_files)"
            )
            if spark.catalog.tableExists(table_name(spec.table))
            else spark.createDataFrame([], "key string")
        )
        set_view(spark, "existing_keys", existing)
    params = stage_params(plan)
    params["timestamp_format"] = java_datetime_pattern(params["timestamp_format"])
    params["run_started_at"] = run_started_at.astimezone(ZoneInfo(plan.timezone))
    text = staging_sql(spec.source)
    # A view, analysed on its own when made, as spark.sql's result is in classic Spark: over Spark
    # Connect the SQL is analysed with what is built on it, and Spark 4.3 then fails on the staging
    # SQL's lateral column aliases (INTERNAL_ERROR: Resolved plan should not contain any
    # LateralColumnAliasReference).
    set_view(spark, "staged_rows", spark.sql(text, args=bound(text, params)))
    return spark.table("staged_rows")


@cache
def staging_sql(source: str) -> str:
    (select,) = spark_statements((SQL / f"stage_{source}.sql").read_text(), ingest_macros())
    return select


@cache
def ingest_macros():
    return macro_definitions((SQL / "macros.sql").read_text())


def mark_copies_of_loaded_rows(spark: SparkSession, plan: SourcePlan, staged: DataFrame) -> DataFrame:
    """Quarantine staged rows that repeat a row another file already loaded, naming that file:
    whole typed rows compared with nulls equal, as copies_of_loaded_rows.sql does in DuckDB."""
    table = spark.table(table_name(plan.spec.table))
    if table.limit(1).count() == 0:
        return staged  # the first file of the source: nothing to repeat
    columns = [c for c in table.columns if c not in ("source_row", "source_file")]
    outdated = spark.table("outdated_files")
    loaded = table.join(outdated, "source_file", "left_anti").select("source_file", *columns)
    incoming = staged.where("quarantine_reason is null").select("source_row", *canonical_columns(spark, plan, staged, columns))
    matched = incoming.alias("i").join(
        loaded.alias("l"), [F.col(f"i.{backtick(c)}").eqNullSafe(F.col(f"l.{backtick(c)}")) for c in columns]
    )
    copies = matched.groupBy("i.source_row").agg(F.min("l.source_file").alias("earlier_file"))
    return staged.join(copies, "source_row", "left").withColumn(
        "quarantine_reason",
        F.coalesce("quarantine_reason", F.concat(F.lit("exact duplicate of a row loaded from "), "earlier_file")),
    ).drop("earlier_file")


def canonical_columns(spark: SparkSession, plan: SourcePlan, staged: DataFrame, names: list[str] | None = None) -> list:
    """The staged columns that go into the canonical table, in its order (pass-through attributes
    become columns of their own), as loading.canonical_columns."""
    flat = staged.select(
        *(c for c in staged.columns if c not in ("source_row", "quarantine_reason", "attributes")),
        *(["attributes.*"] if plan.spec.passthrough and plan.passthrough else []),
    ).columns
    if names is not None:
        return [column_of(staged, plan, c) for c in names]
    return [column_of(staged, plan, c) for c in flat] + [F.col("source_row")]


def column_of(staged: DataFrame, plan: SourcePlan, name: str):
    if name in staged.columns:
        return F.col(backtick(name))
    return F.col(f"attributes.{backtick(name)}").alias(name)


def create_empty_table(spark: SparkSession, plan: SourcePlan, run_started_at: datetime) -> None:
    """Create the canonical table with its typed columns, so an absent source still yields a table."""
    spark.sql(to_spark(empty_raw_rows(plan))).createOrReplaceTempView("raw_rows")
    set_view(spark, "outdated_files", spark.createDataFrame([], "source_file string"))
    staged = stage_rows(spark, plan, run_started_at)
    columns = staged.select(*canonical_columns(spark, plan, staged), F.lit("").alias("source_file"))
    nullable = StructType([StructField(field.name, field.dataType) for field in columns.schema])  # as DuckDB's columns
    spark.catalog.createTable(table_name(plan.spec.table), source="parquet", schema=nullable)
    for view in ("raw_rows", "exact_duplicates", "existing_keys", "outdated_files", "staged_rows"):
        spark.catalog.dropTempView(view)


# --- writing -----------------------------------------------------------------------------------


def earlier_delivery(spark: SparkSession, spec: SourceSpec, content_hash: str) -> str | None:
    """The loaded file of the source with the same content, if any: the same delivery again."""
    return spark.sql(
        f"select min(source_file) from {table_name('load_audit')} where source = :source and content_hash = :hash "
        "and duplicate_of is null and rows_read > 0 and source_file not in (select source_file from outdated_files)",
        args={"source": spec.source, "hash": content_hash},
    ).collect()[0][0]


def insert(spark: SparkSession, table: str, frame: DataFrame) -> None:
    """Append rows to a table, its columns matched by name; a column the rows lack is null."""
    target = spark.table(table_name(table)).schema
    frame.select(*(
        F.col(backtick(field.name)) if field.name in frame.columns else F.lit(None).cast(field.dataType).alias(field.name)
        for field in target
    )).write.insertInto(table_name(table))


def forget_files(spark: SparkSession, spec: SourceSpec, names: list[str], audited: bool) -> None:
    """Remove the rows of files, and their audit entries when they have some: each table holding
    any is rewritten without them. A file not audited can have rows from a load that broke off."""
    gone = F.col("source_file").isin(names)
    tables = [table for table in (spec.table, spec.quarantine_table) if spark.catalog.tableExists(table_name(table))]
    holding = [spark.table(table_name(table)).where(gone).select(F.lit(table).alias("name")).limit(1) for table in tables]
    found = {row.name for row in reduce(DataFrame.unionByName, holding).collect()} if holding else set()
    for table in tables:
        if table in found:
            rewrite(spark, table, spark.table(table_name(table)).where(~gone))
    if audited:
        rewrite(spark, "load_audit", spark.table(table_name("load_audit")).where(~(gone & (F.col("source") == spec.source))))


def forget_source(spark: SparkSession, spec: SourceSpec) -> None:
    """Drop everything loaded from a source, for a full reload after its config changed."""
    drop_table(spark, spec.table)
    quarantine = spark.table(table_name(spec.quarantine_table))
    rewrite(spark, spec.quarantine_table, quarantine.where("false"))
    audit = spark.table(table_name("load_audit"))
    rewrite(spark, "load_audit", audit.where(F.col("source") != spec.source))


def rewrite(spark: SparkSession, table: str, rows: DataFrame) -> None:
    """Replace a table's rows by `rows` (computed from it): written aside first, since Spark cannot
    overwrite a table it is reading."""
    drop_table(spark, f"{table}__rewrite")
    aside = table_name(f"{table}__rewrite")
    rows.write.format("parquet").saveAsTable(aside)
    spark.table(aside).write.insertInto(table_name(table), overwrite=True)
    spark.sql(f"drop table {aside}")


@cache
def load_audit_ddl() -> str:
    """load_audit.sql's table for Spark: its first statement, without the key (Spark tables have
    none; the loader keeps one row per file) and NOT NULL (Parquet tables ignore it)."""
    create = sqlglot.parse((SQL / "load_audit.sql").read_text(), read="duckdb")[0]
    schema = create.this
    schema.set("expressions", [
        column for column in schema.expressions if isinstance(column, exp.ColumnDef)
    ])
    for column in schema.expressions:
        column.set("constraints", [])
    schema.set("this", exp.to_table(f"{DATABASE}.load_audit"))
    return create.sql(dialect="spark") + " USING parquet"


# --- helpers -----------------------------------------------------------------------------------


def table_name(table: str) -> str:
    return f"{DATABASE}.{backtick(table)}"


def set_view(spark: SparkSession, name: str, frame: DataFrame) -> None:
    frame.createOrReplaceTempView(name)


def hadoop_path(path: Path) -> str:
    """A file's path as Spark's readers take it: their glob characters escaped, so a name with
    brackets or braces names that file only."""
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", str(path))


def wall_clock(moment: datetime, timezone: str) -> datetime:
    """A time as DuckDB stores it in a TIMESTAMP column in the configured zone: naive times as they
    are, zoned ones converted to the zone's wall clock."""
    return moment if moment.tzinfo is None else moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


class session_time_zone:
    """Timestamps are typed in the configured zone (see to_local_timestamp in macros.sql); the
    session's own zone is restored afterwards."""

    def __init__(self, spark: SparkSession, timezone: str):
        self.spark, self.timezone = spark, timezone

    def __enter__(self):
        self.previous = self.spark.conf.get("spark.sql.session.timeZone")
        self.spark.conf.set("spark.sql.session.timeZone", self.timezone)

    def __exit__(self, *_):
        self.spark.conf.set("spark.sql.session.timeZone", self.previous)


# strptime directives (DuckDB's try_strptime) as Java DateTimeFormatter letters (Spark's
# try_to_timestamp); single letters read one or two digits, as strptime does.
JAVA_DATETIME = {
    "Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s", "f": "SSSSSS",
    "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "j": "D", "z": "[XXX][XX][X]", "Z": "z", "%": "%",
}


def java_datetime_pattern(strptime_format: str | None) -> str | None:
    """A strptime format as a Java pattern; text between directives is quoted."""
    if strptime_format is None:
        return None
    pattern, literal = [], ""
    parts = re.split(r"(%.)", strptime_format)
    for part in parts:
        if part.startswith("%") and len(part) == 2:
            if literal:
                pattern.append("'" + literal.replace("'", "''") + "'")
                literal = ""
            directive = part[1]
            if directive not in JAVA_DATETIME:
                raise ValueError(f"timestamp_format directive {part} has no Spark equivalent")
            pattern.append(JAVA_DATETIME[directive])
        else:
            literal += part
    if literal:
        pattern.append("'" + literal.replace("'", "''") + "'")
    return "".join(pattern)
