"""The morning report as files: one self-contained HTML page (styles inline, charts as data: URIs, so
it opens from disk with no network), one list per next best action as CSV and Parquet, and the data
dictionary as a page where the warehouse has one."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import jinja2
import pandas as pd

from assets.publish.publishing import PARQUET_COMPRESSION
from assets.report.building import Chart, Details, Report, action_file_stem
from common.charts import data_uri
from common.labels import day, text

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["data_uri"] = data_uri
TEMPLATES.tests["tiles"] = lambda block: isinstance(block, list)
TEMPLATES.tests["chart"] = lambda block: isinstance(block, Chart)
TEMPLATES.tests["details"] = lambda block: isinstance(block, Details)

PAGE = "morning_report.html"
# Spark's CSV written as DuckDB writes it: a header, quotes doubled inside quoted values (not
# backslash-escaped), timestamps as `2025-01-31 09:30:00`, nulls as empty fields.
SPARK_CSV = {
    "header": "true", "escape": '"', "timestampFormat": "yyyy-MM-dd HH:mm:ss",
    "timestampNTZFormat": "yyyy-MM-dd HH:mm:ss", "dateFormat": "yyyy-MM-dd", "encoding": "UTF-8",
}
ACTIONS = "actions"
DATA_DICTIONARY = "data_dictionary.html"


@dataclass
class ReportFiles:
    page: Path  # the night's report at a fixed path
    archived: Path  # the same night under report/<as_of>.html
    action_lists: dict[str, Path]  # action -> its CSV file (the Parquet file beside it)
    data_dictionary: Path | None


def render_report(report: Report, root: str = "") -> str:
    """The page; `root` leads every link to the report's folder (for a copy kept in a subfolder)."""
    return TEMPLATES.get_template("morning_report.html.j2").render(
        title=report.title,
        as_of_text=text("as_of", date=day(report.as_of)),
        built_text=text("generated", when=f"{report.built_at:%d %b %Y %H:%M}", run_id=report.run_id[:8], date=day(report.as_of)),
        sections=report.sections,
        no_data=text("no_data"),
        root=root,
        footer=text("report.archive"),
    )


def write_report_files(
    conn: duckdb.DuckDBPyConnection, folder: Path, report: Report, archive: Path | None = None
) -> ReportFiles:
    """Write everything the report consists of into `folder` (the exports, or one night's folder):
    the action lists first, so the page never links to a list that is not there yet, then the data
    dictionary, then the page itself, and a copy of the page into `archive` (default `folder/report`),
    which keeps every night's. Each file is replaced whole. Reads the temp table `action_list`."""
    folder.mkdir(parents=True, exist_ok=True)
    lists = write_action_lists(conn, folder / ACTIONS, report.actions)
    dictionary = None
    if report.has_data_dictionary:
        frame = conn.execute("select * from data_dictionary").df()
        dictionary = write_text(folder / DATA_DICTIONARY, render_data_dictionary(frame, report))
    archived = write_text((archive or folder / "report") / f"{report.as_of}.html", render_report(report, root="../"))
    page = write_text(folder / PAGE, render_report(report))
    return ReportFiles(page, archived, lists, dictionary)


def write_action_lists(conn: duckdb.DuckDBPyConnection, target: Path, actions: list[str]) -> dict[str, Path]:
    """One CSV and one Parquet file per action, written into a fresh folder that then replaces the
    old one, so a list whose action has no customers tonight does not linger from an earlier night.
    On Spark each file is written on the cluster, as DuckDB writes it (see SPARK_CSV)."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    written = {}
    for action in actions:
        stem = action_file_stem(action)
        select = (
            "select * from action_list where action = $action "
            "order by contact_on, expected_value desc nulls last, customer_id"
        )
        if isinstance(conn, duckdb.DuckDBPyConnection):
            # sorted once for both files: a scan keeps the order rows were inserted in
            conn.execute(f"create or replace temp table one_action_list as {select}", {"action": action})
            conn.execute("copy one_action_list to $path (format csv, header)", {"path": str(partial / f"{stem}.csv")})
            conn.execute(
                f"copy one_action_list to $path (format parquet, {PARQUET_COMPRESSION})", {"path": str(partial / f"{stem}.parquet")}
            )
        else:
            from common.spark import without_time_zone

            frame = conn.execute(select, {"action": action}).frame
            conn.write_file(frame, partial / f"{stem}.csv", "csv", SPARK_CSV)
            conn.write_file(without_time_zone(frame), partial / f"{stem}.parquet", "parquet", {"compression": "zstd"})
        written[action] = target / f"{stem}.csv"
    if isinstance(conn, duckdb.DuckDBPyConnection):
        conn.execute("drop table if exists one_action_list")
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        os.replace(target, retired)
    os.replace(partial, target)
    shutil.rmtree(retired, ignore_errors=True)
    return written


def render_data_dictionary(frame: pd.DataFrame, report: Report) -> str:
    return TEMPLATES.get_template("data_dictionary.html.j2").render(
        title=text("data_dictionary"),
        as_of_text=text("as_of", date=day(report.as_of)),
        columns=list(frame.columns),
        rows=[["" if pd.isna(value) else str(value) for value in row] for row in frame.itertuples(index=False)],
    )


def write_text(target: Path, content: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(content, encoding="utf-8")
    os.replace(partial, target)
    return target
