"""The morning report's content: each section's figures, charts and tables, read from the warehouse,
and its one-sentence takeaway. Rendering to HTML is `rendering.py`'s business."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from assets.actions.building import action_chart
from assets.chains.building import (
    breakers_chart,
    chain_standouts,
    continuation_by_month,
    continuation_chart,
    standout_name,
)
from assets.customer_value.plots import clv_distribution
from assets.lifecycle.building import (
    DEFINITIONAL_TOPICS,
    cohort_heatmap,
    new_vs_established_chart,
    pareto_chart,
    stage_sizes_chart,
    transition_heatmap,
)
from assets.report import takeaways
from assets.report.history import as_date, comparison_rows, read_history
from assets.survey.charts import factor_heatmap
from common.charts import png_bytes
from common.config import Settings
from common.labels import count, day, label, money, percent, signed_count, signed_percent, text
from common.warehouse import quote, read_sql, table_exists, table_names

SQL = Path(__file__).parent / "sql"
CLV_HISTOGRAM = Path(__file__).parent.parent / "customer_value" / "sql" / "clv_histogram.sql"
# the action-list columns a customers-file column must not shadow
ACTION_LIST_COLUMNS = frozenset({
    "action", "customer_id", "contact_on", "action_reason", "expected_value", "expected_value_basis",
    "survey_segment", "cross_sell_category", "stage",
})


# --- what a report is made of -------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    href: str | None = None  # a link relative to the report's folder
    figure: str | None = None  # names a headline figure, so a test can find it on the page
    numeric: bool = False


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str | None = None

    @property
    def numeric_columns(self) -> set[int]:
        return {index for row in self.rows for index, cell in enumerate(row) if cell.numeric}


@dataclass
class Chart:
    name: str
    alt: str
    png: bytes


@dataclass
class Tile:
    figure: str
    label: str
    value: str
    changes: list[str]


@dataclass
class Details:
    """A block folded away by default: the top customers of one action."""

    summary: str
    table: Table


@dataclass
class Section:
    key: str
    title: str
    takeaway: str
    has_data: bool = True
    blocks: list = field(default_factory=list)
    notes: list[Cell] = field(default_factory=list)


@dataclass
class Report:
    title: str
    as_of: date
    run_id: str
    built_at: datetime
    sections: list[Section]
    headline: dict  # this run's run_history row
    actions: list[str]  # the actions that get a list file
    has_data_dictionary: bool


def action_file_stem(action: str) -> str:
    """The action lists' file name: the action's identifier, kept to safe characters."""
    return re.sub(r"[^a-z0-9_]+", "_", action.lower()).strip("_") or "action"


def figure(chart_name: str, alt: str, fig) -> Chart:
    return Chart(chart_name, alt, png_bytes(fig))


# --- the report ---------------------------------------------------------------------------------


def define_action_list(conn: duckdb.DuckDBPyConnection, contact_columns: list[str]) -> None:
    """The temp table `action_list`: next_best_action with the configured contact columns of the
    customers file, read by the report's top customers and written out as the action lists."""
    contact = "".join(
        f"customers.{quote(column)} as {quote('customer_' + column if column in ACTION_LIST_COLUMNS else column)},\n    "
        for column in contact_columns
    )
    select = read_sql(SQL / "action_list.sql", contact_columns=contact)
    conn.execute(f"create or replace temp table action_list as {select}")


def build_report(
    conn: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, checks: pd.DataFrame, built_at: datetime
) -> Report:
    """Every section of the night's report; `define_action_list` must have run on `conn`."""
    report = settings.report
    history = read_history(conn)
    now, previous, month_ago = comparison_rows(history, run_id)
    as_of = as_date(now["as_of"])
    per_action = actions_per_action(conn)
    sections = [
        headline_section(now, previous, month_ago, report.currency),
        actions_section(conn, per_action, as_of, report.currency, report.top_customers),
        flow_section(conn),
        cohorts_section(conn),
        new_vs_established_section(conn, settings.lifecycle.new_customer_days),
        concentration_section(conn, now, as_of, report.currency),
        segments_section(conn, settings, report.currency),
        chains_section(conn, settings.chains.window_days, as_of),
        trust_section(conn, now, checks),
    ]
    return Report(
        title=report.title,
        as_of=as_of,
        run_id=run_id,
        built_at=built_at,
        sections=sections,
        headline=now,
        actions=list(per_action["action"]),
        has_data_dictionary=table_exists(conn, "data_dictionary"),
    )


def compared(before: dict | None) -> str | None:
    return None if before is None else day(as_date(before["as_of"]))


def change_text(now, before: dict | None, key: str, currency: str | None = None) -> str:
    """'+12 (+0.4%)', or '+€1,680 (+0.9%)' with a currency, against an earlier run; '–' where there is none."""
    if before is None or now is None or pd.isna(now) or before.get(key) is None or pd.isna(before.get(key)):
        return "–"
    was = float(before[key])
    difference = float(now) - was
    absolute = ("+" if difference > 0 else "") + money(difference, currency) if currency else signed_count(difference)
    return absolute + (f" ({signed_percent(difference / was)})" if was else "")


def since(key: str, now, before: dict | None, figure_key: str, currency: str | None) -> str:
    """A tile's line of change against an earlier run, or that there is no such run."""
    if before is None:
        return text("no_previous" if key == "since_previous" else "no_month")
    return text(key, change=change_text(now, before, figure_key, currency), date=compared(before))


def column_since(key: str, before: dict | None) -> str:
    return text(f"column.{key}", date=compared(before)) if before is not None else text(f"column.{key}.none")


def headline_section(now: dict, previous: dict | None, month_ago: dict | None, currency: str) -> Section:
    tiles = []
    for key, written in (
        ("customers", count(now["customers"])),
        ("active_customers_30d", count(now["active_customers_30d"])),
        ("revenue_30d", money(now["revenue_30d"], currency)),
        ("total_clv_12m", money(now["total_clv_12m"], currency)),
    ):
        currency_of = currency if key in ("revenue_30d", "total_clv_12m") else None
        tiles.append(Tile(key, label(key), written, [
            since("since_previous", now[key], previous, key, currency_of),
            since("since_month", now[key], month_ago, key, currency_of),
        ]))
    rows = [
        [
            Cell(label(stage)),
            Cell(count(now[f"customers_{stage}"]), figure=f"customers_{stage}", numeric=True),
            Cell(change_text(now[f"customers_{stage}"], previous, f"customers_{stage}"), numeric=True),
            Cell(change_text(now[f"customers_{stage}"], month_ago, f"customers_{stage}"), numeric=True),
        ]
        for stage in takeaways.STAGES
    ]
    stages = Table(
        [text("column.stage"), text("column.customers"), column_since("since_previous", previous),
         column_since("since_month", month_ago)],
        rows,
    )
    before_label = None if previous is None else text("previous_night", date=compared(previous))
    sentence = takeaways.headline(now, previous, before_label)
    has_data = bool(now["customers"]) or bool(now["customers_prospect_active"] + now["customers_prospect_inactive"])
    return Section("headline", text("section.headline"), sentence, has_data, [tiles, stages])


def actions_per_action(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(
        "select action, count(*) as customers, count(*) filter (where contact_on <= as_of) as due_today, "
        "coalesce(sum(expected_value), 0)::double as expected_value "
        "from next_best_action cross join analysis_scope group by action order by customers desc, action"
    ).df()


def actions_section(conn: duckdb.DuckDBPyConnection, per_action: pd.DataFrame, as_of: date, currency: str, top: int) -> Section:
    sentence = takeaways.actions(per_action, currency)
    if per_action.empty:
        return Section("actions", text("section.actions"), sentence, has_data=False)
    chart = figure("next_best_action", text("chart.actions"), action_chart(per_action, as_of, currency))
    summary = Table(
        [text("column.action"), text("column.customers"), text("column.due_today"), text("column.expected_value"),
         "CSV", "Parquet"],
        [
            [
                Cell(label(row.action)),
                Cell(count(row.customers), figure=f"action_{row.action}", numeric=True),
                Cell(count(row.due_today), numeric=True),
                Cell(money(row.expected_value, currency), numeric=True),
                Cell(f"{action_file_stem(row.action)}.csv", href=f"actions/{action_file_stem(row.action)}.csv"),
                Cell(f"{action_file_stem(row.action)}.parquet", href=f"actions/{action_file_stem(row.action)}.parquet"),
            ]
            for row in per_action.itertuples()
        ],
    )
    blocks = [chart, summary]
    for action in per_action["action"]:
        if action in takeaways.NO_CONTACT_ACTIONS:
            continue
        # the action's first `top` rows, kept in a heap of that many while its rows are read: at
        # 10M purchase lines a fifth of the CPU of ranking the whole 4M-row list in one window
        rows = conn.execute(
            "select * from action_list where action = $action "
            f"order by expected_value desc nulls last, customer_id limit {int(top)}",
            {"action": action},
        ).df().sort_values(["expected_value", "customer_id"], ascending=[False, True])
        if rows.empty:
            continue
        contact = [column for column in rows.columns if column not in ACTION_LIST_COLUMNS]
        table = Table(
            [text("column.customer_id"), *[label(column) for column in contact], text("column.contact_on"),
             text("column.reason"), text("column.expected_value"), text("column.survey_segment")],
            [
                [
                    Cell(str(row["customer_id"])),
                    *[Cell("" if pd.isna(row[column]) else str(row[column])) for column in contact],
                    Cell(day(row["contact_on"]) if pd.notna(row["contact_on"]) else "–"),
                    Cell(row["action_reason"]),
                    Cell(money(row["expected_value"], currency), numeric=True),
                    Cell("" if pd.isna(row["survey_segment"]) else row["survey_segment"]),
                ]
                for _, row in rows.iterrows()
            ],
        )
        blocks.append(Details(text("top_customers", n=len(rows), action=label(action)), table))
    notes = [Cell(text("lists.all", folder="actions/"), href="actions/")]
    return Section("actions", text("section.actions"), sentence, True, blocks, notes)


def flow_section(conn: duckdb.DuckDBPyConnection) -> Section:
    last_month = conn.execute(
        "select snapshot_date, from_stage, to_stage, customers, rate from lifecycle_transitions "
        "where snapshot_date = (select max(snapshot_date) from lifecycle_transitions)"
    ).df()
    sentence = takeaways.flow(last_month)
    history_months = conn.execute("select count(distinct snapshot_date) from lifecycle_history").fetchone()[0]
    if history_months == 0:
        return Section("flow", text("section.flow"), sentence, has_data=False)
    blocks = [figure("lifecycle_stage_sizes", text("chart.stage_sizes"), stage_sizes_chart(conn))]
    if not last_month.empty:
        blocks.append(figure("lifecycle_transitions", text("section.flow"), transition_heatmap(conn)))
    return Section("flow", text("section.flow"), sentence, not last_month.empty, blocks)


def cohorts_section(conn: duckdb.DuckDBPyConnection) -> Section:
    month_one = conn.execute(
        "select cohort_month, retention_rate from cohort_retention where months_since_first_purchase = 1 order by cohort_month"
    ).df()
    sentence = takeaways.cohorts(month_one)
    if month_one.empty:
        return Section("cohorts", text("section.cohorts"), sentence, has_data=False)
    return Section("cohorts", text("section.cohorts"), sentence, True,
                   [figure("cohort_retention", text("chart.cohorts"), cohort_heatmap(conn))])


def new_vs_established_section(conn: duckdb.DuckDBPyConnection, new_customer_days: int) -> Section:
    comparison = conn.execute(
        "select measure, new_to_established_ratio as ratio, note from new_vs_established where not list_contains($definitional, topic)",
        {"definitional": list(DEFINITIONAL_TOPICS)},
    ).df()
    reason = next((note for note in comparison["note"] if isinstance(note, str) and note.startswith("not available")), None)
    sentence = takeaways.new_vs_established(comparison, reason or text("chart.no_data"))
    if comparison["ratio"].notna().sum() == 0:
        return Section("new_vs_established", text("section.new_vs_established"), sentence, has_data=False)
    chart = figure("new_vs_established", text("section.new_vs_established"), new_vs_established_chart(conn, new_customer_days))
    return Section("new_vs_established", text("section.new_vs_established"), sentence, True, [chart],
                   [Cell(text("new_vs_established.note"))])


def concentration_section(conn: duckdb.DuckDBPyConnection, now: dict, as_of: date, currency: str) -> Section:
    gini = conn.execute("select any_value(gini)::double from pareto").fetchone()[0]
    sentence = takeaways.concentration(now["top_20_percent_revenue_share"], gini, now["total_clv_12m"], currency, as_of)
    if now["top_20_percent_revenue_share"] is None or pd.isna(now["top_20_percent_revenue_share"]):
        return Section("concentration", text("section.concentration"), sentence, has_data=False)
    histogram = conn.execute(CLV_HISTOGRAM.read_text()).df()
    tiers = conn.execute(
        "select value_tier, count(*) as customers, sum(clv_12m)::double as clv_12m, "
        "sum(clv_12m) / sum(sum(clv_12m)) over () as share, max(clv_12m) as highest_clv_12m from customer_clv "
        # ordered by a column of its own: Spark reads `max(clv_12m)` in ORDER BY as the aggregate alias
        "where value_tier is not null group by value_tier order by highest_clv_12m desc"
    ).df()
    blocks = [
        figure("pareto", text("chart.pareto"), pareto_chart(conn)),
        figure("clv_distribution", text("chart.clv"), clv_distribution(histogram, as_of, currency)),
    ]
    if not tiers.empty:
        blocks.append(Table(
            [label("value_tier"), text("column.customers"), label("clv_12m"), text("column.share")],
            [[Cell(row.value_tier), Cell(count(row.customers), numeric=True), Cell(money(row.clv_12m, currency), numeric=True),
              Cell(percent(row.share), numeric=True)] for row in tiers.itertuples()],
        ))
    return Section("concentration", text("section.concentration"), sentence, True, blocks)


def segments_section(conn: duckdb.DuckDBPyConnection, settings: Settings, currency: str) -> Section:
    profiles = conn.execute("select * from survey_segment_profiles order by segment_id").df()
    if settings.sources.survey is None:
        reason = text("segments.no_survey")
    else:
        reason = conn.execute("select any_value(status) from survey_segment_quality").fetchone()[0] or text("chart.no_data")
    sentence = takeaways.segments(profiles, reason, currency)
    if profiles.empty:
        return Section("segments", text("section.segments"), sentence, has_data=False)
    rows = [
        [
            Cell(row["segment_name"]),
            Cell(count(row["respondents"]), numeric=True),
            Cell(percent(row["share"]), numeric=True),
            Cell(", ".join(label(factor.strip()) for factor in str(row.get("top_factors") or "").split(",") if factor.strip())),
            Cell(percent(row.get("return_rate")), numeric=True),
            Cell(percent(row.get("repeat_purchase_rate")), numeric=True),
            Cell(money(row.get("avg_order_value"), currency), numeric=True),
            Cell(money(row.get("mean_clv_12m"), currency), numeric=True),
        ]
        for _, row in profiles.iterrows()
    ]
    table = Table(
        [text("column.segment"), text("column.respondents"), text("column.share"), text("column.drivers"),
         text("column.return_rate"), text("column.repeat_rate"), text("column.avg_order_value"), text("column.mean_clv_12m")],
        rows,
    )
    return Section("segments", text("section.segments"), sentence, True,
                   [figure("survey_segment_heatmap", text("section.segments"), factor_heatmap(profiles)), table])


def chains_section(conn: duckdb.DuckDBPyConnection, window_days: int, as_of: date) -> Section:
    rates = continuation_by_month(conn, window_days)
    standouts = chain_standouts(conn)
    names = {}
    for kind in ("breaker", "keeper"):
        of_kind = standouts[standouts["kind"] == kind]
        # a category speaks to more customers than one product: name it first where one stands out
        preferred = of_kind[of_kind["dimension"] != "product"]
        chosen = preferred if not preferred.empty else of_kind
        if not chosen.empty:
            strongest = chosen.loc[(chosen["lift"] - 1).abs().idxmax()]
            names[kind] = standout_name(strongest)
    sentence = takeaways.chains(rates, names.get("breaker"), names.get("keeper"), window_days)
    if rates.empty:
        return Section("chains", text("section.chains"), sentence, has_data=False)
    blocks = [
        figure("chain_continuation", text("chart.continuation", window=window_days), continuation_chart(rates, window_days, as_of)),
        figure("chain_breakers", text("chart.breakers"), breakers_chart(standouts, as_of)),
    ]
    if not standouts.empty:
        blocks.append(Table(
            [text("column.kind"), text("column.what"), text("column.name"), text("column.category"),
             text("column.purchase_days"), text("column.end_rate"), text("column.lift")],
            [
                [
                    Cell(text(row.kind)),
                    Cell(label(row.dimension)),
                    Cell(standout_name(row)),
                    Cell(label(row.product_category) if isinstance(row.product_category, str) else ""),
                    Cell(count(row.purchase_days), numeric=True),
                    Cell(percent(row.end_rate), numeric=True),
                    Cell(f"{row.lift:.2f}×", numeric=True),
                ]
                for row in standouts.itertuples()
            ],
        ))
    return Section("chains", text("section.chains"), sentence, True, blocks)


def quarantine_reasons(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows per quarantine table and reason, largest first."""
    tables = [name for name in table_names(conn) if name.endswith("_quarantine")]
    if not tables:
        return pd.DataFrame({"table_name": [], "reason": [], "rows": []})
    union = " union all ".join(
        f"select ? as table_name, reason, count(*) as rows from {quote(name)} group by reason" for name in tables
    )
    return conn.execute(f"select * from ({union}) order by rows desc, table_name, reason", tables).df()


def model_line(conn: duckdb.DuckDBPyConnection, now: dict) -> str:
    """The model scorecard in one line: from clv_model_selection where the warehouse has it."""
    if table_exists(conn, "clv_model_selection"):
        scorecard = conn.execute(
            "select model, status, chosen, reason, total_error_pct::double as error, mae::double as mae, "
            "actual_repeat_purchases::double as actual from clv_model_selection order by chosen desc, mae"
        ).df()
        chosen = scorecard[scorecard["chosen"].fillna(False).astype(bool)]
        if not chosen.empty:
            best = chosen.iloc[0]
            others = scorecard[~scorecard.index.isin(chosen.index)]
            written = {
                "model": label(best["model"]), "reason": best["reason"], "error": pct_points(best["error"]),
                "actual": count(best["actual"]), "mae": f"{best['mae']:.3f}" if pd.notna(best["mae"]) else "–",
            }
            if others.empty:
                return text("model.selection.alone", **written)
            return text("model.selection", others="; ".join(
                f"{label(row.model)} {pct_points(row.error)}, MAE {row.mae:.3f}" if row.status == "ok" and pd.notna(row.mae)
                else f"{label(row.model)}: {row.status}" for row in others.itertuples()
            ), **written)
        statuses = "; ".join(f"{label(row.model)}: {row.status}" for row in scorecard.itertuples())
        return text("model.unavailable", status=statuses or text("chart.no_data"))
    status = conn.execute(
        "select any_value(status) from clv_model where purpose = 'production' and model <> 'gamma_gamma'"
    ).fetchone()[0]
    if now.get("production_model") is None:
        return text("model.unavailable", status=status or text("chart.no_data"))
    predicted, actual = conn.execute(
        "select sum(predicted_purchases)::double, sum(actual_purchases)::double from clv_backtest where status = 'ok'"
    ).fetchone()
    return text("model.backtest", model=label(now["production_model"]), predicted=count(predicted),
                actual=count(actual), error=pct_points(now.get("holdout_error_pct")))


def pct_points(value) -> str:
    """An error already in percent (-12.15) written with its sign (−12.2%)."""
    return "–" if value is None or pd.isna(value) else signed_percent(float(value) / 100)


def trust_section(conn: duckdb.DuckDBPyConnection, now: dict, checks: pd.DataFrame) -> Section:
    reasons = quarantine_reasons(conn)
    input_reasons = reasons[reasons["table_name"] != "survey_answers_quarantine"]
    sentence = takeaways.trust(int(now["rows_read"]), int(now["rows_loaded"]), int(now["rows_quarantined"]),
                               input_reasons.groupby("reason", as_index=False)["rows"].sum().sort_values("rows", ascending=False),
                               checks)
    sources = conn.execute(
        "select source, sum(rows_read) as rows_read, sum(rows_loaded) as rows_loaded, "
        "sum(rows_quarantined) as rows_quarantined from load_audit group by source order by source"
    ).df()
    blocks = [Table(
        [text("column.source"), text("column.rows_read"), text("column.rows_loaded"), text("column.rows_quarantined")],
        [[Cell(label(row.source)), Cell(count(row.rows_read), numeric=True), Cell(count(row.rows_loaded), numeric=True),
          Cell(count(row.rows_quarantined), numeric=True)] for row in sources.itertuples()],
    )]
    if not reasons.empty:
        blocks.append(Table(
            [text("column.table"), text("column.reason_quarantined"), text("column.rows")],
            [[Cell(row.table_name), Cell(row.reason), Cell(count(row.rows), numeric=True)] for row in reasons.head(12).itertuples()],
        ))
    if not checks.empty:
        blocks.append(Table(
            [text("column.check"), text("column.result")],
            [[Cell(row.check_name), Cell(text("check.passed") if row.passed else text("check.failed"))]
             for row in checks.sort_values(["passed", "check_name"]).itertuples()],
        ))
    notes = [Cell(model_line(conn, now))]
    if table_exists(conn, "data_dictionary"):
        notes.append(Cell(text("data_dictionary"), href="data_dictionary.html"))
    else:
        notes.append(Cell(text("data_dictionary.missing")))
    return Section("trust", text("section.trust"), sentence, bool(now["rows_read"]), blocks, notes)
