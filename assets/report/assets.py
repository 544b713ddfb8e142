"""The morning report: the night's headline figures kept run after run (`run_history`), and one page a
marketer reads with coffee plus one list per next best action (`morning_report`)."""

from datetime import datetime

import dagster as dg
import pandas as pd

from assets.publish.publishing import add_to_night, current_night
from assets.report.building import build_report, define_action_list
from assets.report.history import is_published, latest_run_id, record_run
from assets.report.rendering import write_report_files
from common import labels
from common.metadata import money, percent, rounded, table
from common.resources import LifecycleConfig, Warehouse

REPORT_ASSET = dict(group_name="report")


def build_run_history_asset(upstream: list[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """run_history records the night once every stage table is built, and is published with them."""

    @dg.asset(**REPORT_ASSET, kinds={"duckdb"}, deps=[key for assets_def in upstream for key in assets_def.keys])
    def run_history(
        context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        """One row per run, appended: as-of, run id, start and end, rows read, loaded and quarantined,
        customers per stage, buyers and revenue of the last 30 days, total 12-month CLV, the top-20%
        revenue share, repeat rate, chain continuation rate, and the production model with its holdout
        error. The report's "since the previous night" and "since a month ago" read it."""
        with warehouse.get_connection() as conn:
            row = record_run(conn, context.run_id, lifecycle_config.run_started_at, datetime.now())
            runs = conn.execute("select count(*) from run_history").fetchone()[0]
        return dg.MaterializeResult(metadata={"dagster/row_count": runs, **headline_metadata(row, lifecycle_config)})

    return run_history


def headline_metadata(row: dict, lifecycle_config: LifecycleConfig) -> dict[str, dg.MetadataValue]:
    """The night's figures as people write them; counts stay numbers so the UI plots them over runs."""
    currency = lifecycle_config.settings.report.currency
    stages = {f"customers_{stage}": int(row[f"customers_{stage}"]) for stage in
              ("new", "active", "vip", "at_risk", "reactivated", "lapsed", "prospect_active", "prospect_inactive")}
    return {
        "as_of": dg.MetadataValue.text(str(row["as_of"])[:10]),
        "customers": int(row["customers"]),
        **stages,
        "active_customers_30d": int(row["active_customers_30d"]),
        "revenue_30d": money(row["revenue_30d"], currency),
        "total_clv_12m": money(row["total_clv_12m"], currency),
        "top_20_percent_revenue_share": percent(row["top_20_percent_revenue_share"]),
        "repeat_rate": percent(row["repeat_rate"]),
        "chain_continuation_rate": percent(row["chain_continuation_rate"]),
        "production_model": dg.MetadataValue.text(labels.label(row["production_model"]) or "none"),
        "holdout_error_pct": rounded(row["holdout_error_pct"], 1),
    }


def check_results(instance: dg.DagsterInstance, run_id: str) -> pd.DataFrame:
    """The data checks evaluated in this run: asset, check name, passed, severity."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    return pd.DataFrame(
        [(e.asset_key.to_user_string(), e.check_name, bool(e.passed), e.severity.value) for e in evaluations],
        columns=["asset", "check_name", "passed", "severity"],
    )


@dg.asset(**REPORT_ASSET, kinds={"html", "csv", "parquet"}, deps=["analyst_exports", "run_history"])
def morning_report(
    context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The night's report as one self-contained HTML page and one list per next best action for a
    CRM, added to the night just published (exports/current/morning_report.html, .../actions/), and
    the page kept for every night under exports/report/<as_of>.html."""
    settings = lifecycle_config.settings
    checks = check_results(context.instance, context.run_id)
    with warehouse.get_connection() as conn:
        define_action_list(conn, settings.report.contact_columns)
        night = latest_run_id(conn)
        if night is None:
            raise dg.Failure("no night recorded in run_history yet: materialize run_history (with the tables it reads) first")
        report = build_report(conn, settings, night, checks, datetime.now())
        published = current_night(lifecycle_config.published_dir)
        if not is_published(published, night):
            raise dg.Failure(
                f"the night of run {night[:8]} is not published yet (exports/current holds "
                f"{published.name if published else 'nothing'}): materialize analyst_exports before morning_report"
            )
        files = write_report_files(conn, published, report, archive=lifecycle_config.published_dir / "report")
        add_to_night(lifecycle_config.published_dir, published)
        lists = conn.execute("select action, count(*) as customers from action_list group by 1 order by 2 desc").df()
        conn.execute("drop table action_list")
    lists["file"] = lists["action"].map(lambda action: str(files.action_lists[action]))
    empty = [section.title for section in report.sections if not section.has_data]
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(files.page)),
            "open_report": dg.MetadataValue.url(files.page.as_uri()),
            "archived_report": dg.MetadataValue.path(str(files.archived)),
            **headline_metadata(report.headline, lifecycle_config),
            "action_lists": table(lists, max_rows=50),
            "sections_without_data": dg.MetadataValue.text(", ".join(empty) or "none"),
            **({"data_dictionary": dg.MetadataValue.path(str(files.data_dictionary))} if files.data_dictionary else {}),
        }
    )
