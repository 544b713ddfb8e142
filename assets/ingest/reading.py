"""Read one source file into DuckDB, every value as text, and say which lines could not be read.

DuckDB's CSV sniffer detects a file's dialect; where it fails (a stray line ending, an over-long line
among the lines it samples), the file is read with the dialect spelled out, and where even that
fails, in DuckDB's tolerant mode. The lines the reader rejects come back with their real line number
and their raw text, fetched from the file itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from common.sources import MAX_LINE_BYTES, READ_MODES, SURPLUS_COLUMN, SourcePlan, is_parquet, open_text, reader
from common.warehouse import quote, run_sql

SQL = Path(__file__).parent / "sql"


class InputError(Exception):
    """A file that cannot be loaded at all. The first line of the message names the file, the line
    when the reader gave one, and the reason; the reader's own message follows whole."""


@dataclass(frozen=True)
class UnreadableLine:
    line: int
    reason: str
    raw_line: str


def read_file(conn: duckdb.DuckDBPyConnection, plan: SourcePlan, path: Path) -> tuple[str, list[UnreadableLine]]:
    """Read one file into the temp table `raw_file` and define `raw_rows` over it; return how it was
    read and the lines the reader could not split. DuckDB's own detection is tried first; where it
    fails (a stray line ending, an over-long line among those it samples), the dialect is spelled
    out, and where even that fails, the file is read in DuckDB's tolerant mode."""
    found = plan.formats.get(path)
    if found is None:  # an empty file
        conn.execute(f"create or replace temp view raw_rows as {empty_raw_rows(plan)}")
        return "sniffed", []
    modes = ("sniffed",) if is_parquet(path) else READ_MODES if found.sniffed else READ_MODES[1:]
    failure: duckdb.Error | None = None
    for mode in modes:
        conn.execute("drop table if exists ingest_rejects; drop table if exists ingest_reject_scans")
        select, params = reader(path, plan.config, found, mode, store_rejects=not is_parquet(path))
        try:
            # Read once into a temp table: its rowid is the row's position in the file, for free.
            run_sql(conn, f"create or replace temp table raw_file as select * from {select}", params)
        except duckdb.Error as error:
            failure = error
            continue
        conn.execute(f"create or replace temp view raw_rows as {raw_rows(plan, mode)}")
        unreadable = [] if is_parquet(path) else unreadable_lines(conn, path, plan.config.encoding)
        conn.execute("drop table if exists ingest_rejects; drop table if exists ingest_reject_scans")
        return mode, unreadable
    raise InputError(read_failure(path, failure))


def read_failure(path: Path, error: duckdb.Error) -> str:
    """One line naming the file, the line and the reader's reason; then the reader's message whole."""
    message = str(error)
    lines = [line for line in message.splitlines() if line.strip()]
    line = re.search(r"CSV Error on Line: (\d+)", message)
    details = [text for text in lines[1:] if not text.startswith(("Original Line", "Possible", "*", "  "))]
    reason = details[0] if line and details else lines[0].split(": ", 1)[-1]
    where = f"{path}, line {line.group(1)}" if line else str(path)
    return f"{where}: {reason}\n{message}"


def unreadable_lines(conn: duckdb.DuckDBPyConnection, path: Path, encoding: str) -> list[UnreadableLine]:
    """The lines the reader rejected, each with its real line number and its raw text."""
    rejects = run_sql(conn, SQL / "unreadable_lines.sql")
    if not rejects:
        return []
    found = raw_lines(path, encoding, [position for _, position, *_ in rejects])
    lines = []
    for line, position, error_types, messages, csv_line in rejects:
        number, text = found.get(position, (line, csv_line))
        lines.append(UnreadableLine(number, f"unreadable line ({error_types}): {messages}", text))
    return lines


def raw_lines(path: Path, encoding: str, positions: list[int]) -> dict[int, tuple[int, str]]:
    """The line number and raw text of the physical lines holding the given byte positions of the
    file as DuckDB reads it (UTF-8: transcoded from other encodings). Bytes that are not text in the
    file's encoding are kept as \\x escapes; a line is kept up to the reader's maximum line size."""
    wanted = sorted(set(positions))
    found: dict[int, tuple[int, str]] = {}
    utf8 = encoding == "utf-8"
    offset = 0
    with open_text(path, encoding, errors="surrogateescape" if utf8 else "backslashreplace") as handle:
        for number, text in enumerate(handle, start=1):
            size = len(text.encode("utf-8", "surrogateescape" if utf8 else "strict"))
            while wanted and wanted[0] < offset + size:
                if utf8:
                    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                found[wanted.pop(0)] = (number, text.rstrip("\r\n")[:MAX_LINE_BYTES])
            if not wanted:
                break
            offset += size
    return found


# rowids of a table created inside a transaction start at a large offset: count from the first.
ROW_POSITION = "rowid - (select min(rowid) from raw_file) + 1"


def raw_rows(plan: SourcePlan, read_mode: str, position: str = ROW_POSITION) -> str:
    """Rename the file's columns to canonical names; every value stays text for the staging SQL.
    A tolerant read keeps its surplus values in the raw record, where the loader looks for them.
    `position` is the row's position in the file (the Spark loader numbers rows itself)."""
    fields = [
        f"{quote(canonical)} := "
        + (f"cast({quote(plan.columns[canonical])} as varchar)" if canonical in plan.columns else "null::varchar")
        for canonical in plan.spec.canonical
    ]
    passthrough = {out: f"cast({quote(col)} as varchar)" for out, col in plan.passthrough.items()}
    fields += [f"{quote('extra_' + out)} := {value}" for out, value in passthrough.items()]
    if read_mode == "tolerant":
        fields.append(f"{quote(SURPLUS_COLUMN)} := {quote(SURPLUS_COLUMN)}")
    attributes = ""
    if plan.spec.passthrough:
        packed = ", ".join(f"{quote(out)} := to_text({value})" for out, value in passthrough.items())
        attributes = f", struct_pack({packed}) as attributes" if packed else ", null::varchar as attributes"
    return f"select {position} as source_row, struct_pack({', '.join(fields)}) as raw{attributes} from raw_file"


def empty_raw_rows(plan: SourcePlan) -> str:
    fields = ", ".join(f"{quote(canonical)} := null::varchar" for canonical in plan.spec.canonical)
    attributes = ""
    if plan.spec.passthrough:
        packed = ", ".join(f"{quote(out)} := null::varchar" for out in plan.passthrough)
        attributes = f", struct_pack({packed}) as attributes" if packed else ", null::varchar as attributes"
    return f"select 0::bigint as source_row, struct_pack({fields}) as raw{attributes} where false"
