"""Ingest: one asset per source loads its files into a canonical DuckDB table, then the analysis
scope (as-of date), the purchase lines the analytics read, and customer purchase days."""


from datetime import datetime
from pathlib import Path

import dagster as dg

from assets.ingest.checks import run_trust_checks, trust_check_specs
from assets.ingest.loading import SourceLoad, sync_source
from assets.ingest.reading import InputError
from common.contracts import materialized
from common.metadata import table
from common.resources import LifecycleConfig, Warehouse
from common.sources import SOURCES, SourcePlan, SourceSpec
from common.warehouse import create_table, create_view, quote, row_count, run_sql

SQL = Path(__file__).parent / "sql"


def build_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The load of one source writes its table and its quarantine in one transaction, so both are
    outputs of one asset; a run that selects only one of them still keeps the two in step."""

    @dg.multi_asset(
        name=spec.table,
        specs=[
            dg.AssetSpec(spec.table, group_name="ingest", kinds={"duckdb"}),
            dg.AssetSpec(spec.quarantine_table, group_name="ingest", kinds={"duckdb"}),
        ],
        check_specs=trust_check_specs(spec.table),
        can_subset=True,
    )
    def source_table(context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse):
        plan = lifecycle_config.plans[spec.source]
        with warehouse.get_loading_connection() as conn:
            try:
                report = load_source(conn, plan, lifecycle_config.run_started_at)
            except InputError as error:
                summary, _, message = str(error).partition("\n")
                raise dg.Failure(description=summary, metadata={"reader_message": dg.MetadataValue.text(message)}) from None
            metadata = {
                spec.table: {"source_configured": plan.config is not None, **load_metadata(conn, spec, report)},
                spec.quarantine_table: materialized(conn, spec.quarantine_table),
            }
            rows_read = dict(conn.execute(
                "select source_file, rows_read from load_audit where source = ? order by source_file", [spec.source]
            ).fetchall())
        empty = [name for name, rows in rows_read.items() if rows == 0]
        if plan.config is None:
            context.log.info(f"source '{spec.source}' is not configured: `{spec.table}` is empty")
        elif spec.source == "purchases" and empty and len(empty) == len(rows_read):
            raise dg.Failure(description=f"no rows: {' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
        elif empty:
            context.log.warning(f"source '{spec.source}': no rows in {', '.join(empty)}")
        for key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key, metadata=metadata[key.to_user_string()])
        if dg.AssetKey(spec.table) in context.selected_asset_keys:
            yield from run_trust_checks(warehouse, spec.table, lifecycle_config.run_started_at)

    return source_table


def load_source(conn, plan: SourcePlan, run_started_at: datetime) -> SourceLoad:
    """One source's files loaded by the warehouse's engine: DuckDB's loader, or Spark's, which keeps
    the same promise (assets/ingest/spark_loading.py)."""
    if getattr(conn, "engine", "duckdb") == "spark":
        from assets.ingest.spark_loading import sync_source_spark  # imports pyspark

        return sync_source_spark(conn.spark, plan, run_started_at)
    return sync_source(conn, plan, run_started_at)


def load_metadata(conn, spec: SourceSpec, report: SourceLoad) -> dict:
    reasons = conn.execute(
        f"select reason, count(*) as rows from {quote(spec.quarantine_table)} group by reason order by rows desc"
    ).df()
    audit = conn.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, duplicate_of, loaded_at from load_audit "
        "where source = ? order by source_file",
        [spec.source],
    ).df()
    return {
        **materialized(conn, spec.table),
        "rows_quarantined": row_count(conn, spec.quarantine_table),
        "rows_read_this_run": sum(f.rows_read for f in report.loaded),
        "rows_loaded_this_run": sum(f.rows_loaded for f in report.loaded),
        "rows_quarantined_this_run": sum(f.rows_quarantined for f in report.loaded),
        "files_loaded": len(report.loaded),
        "files_unchanged": len(report.unchanged),
        "files_removed": len(report.removed),
        "files_repeating_another": sum(1 for f in report.loaded if f.duplicate_of),
        "files_read_without_sniffing": sum(1 for f in report.loaded if f.read_mode != "sniffed"),
        "full_reload": report.full_reload,
        "quarantine_reasons": table(reasons),
        "load_audit": table(audit),
    }


source_assets = [build_source_asset(spec) for spec in SOURCES.values()]


@dg.asset(group_name="ingest", kinds={"duckdb"}, deps=[spec.table for spec in SOURCES.values()])
def load_audit(warehouse: Warehouse) -> dg.MaterializeResult:
    """The ledger of loaded files. Each source's load keeps its own entries in step with its table;
    this asset publishes the ledger once every source has been loaded, and its checks hold every
    file to rows loaded + quarantined = rows read."""
    with warehouse.get_connection() as conn:
        by_source = conn.execute(
            "select source, count(*) as files, sum(rows_read) as rows_read, sum(rows_loaded) as rows_loaded, "
            "sum(rows_quarantined) as rows_quarantined from load_audit group by source order by source"
        ).df()
        return dg.MaterializeResult(metadata={**materialized(conn, "load_audit"), "by_source": table(by_source)})


# An as-of date this long after the last purchase makes every customer look lapsed: allowed (a
# retailer may want exactly that view), but said in the run log and in the published manifest.
STALE_AS_OF_DAYS = 30


@dg.asset(group_name="prepare", kinds={"duckdb"})
def analysis_scope(
    context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The as-of date every analytics stage uses: configured, or the latest purchase date. A
    configured date before the first purchase stops the run, before the scope is replaced."""
    settings = lifecycle_config.settings
    params = {"as_of": settings.as_of, "time_unit": settings.time_unit}
    with warehouse.get_connection() as conn:
        ((as_of, first, last, _),) = run_sql(conn, SQL / "analysis_scope.sql", params)
        if as_of is None:
            raise dg.Failure("no purchases were loaded, so there is no as-of date: check purchases_quarantine")
        if as_of < first:
            raise dg.Failure(
                f"as_of {as_of} in {settings.config_path} is before the first purchase, {first}: "
                "there is nothing to analyse as of that date"
            )
        create_table(conn, "analysis_scope", SQL / "analysis_scope.sql", params)
        metadata = materialized(conn, "analysis_scope")
    warnings = scope_warnings(as_of, last)
    for warning in warnings:
        context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of), "first_order_date": str(first), "last_order_date": str(last),
            "warnings": warnings, **metadata,
        }
    )


def scope_warnings(as_of, last_order_date) -> list[str]:
    """What is worth saying about an as-of date that the run still accepts."""
    gap = (as_of - last_order_date).days
    if gap > STALE_AS_OF_DAYS:
        return [(
            f"as_of {as_of} is {gap} days after the last purchase ({last_order_date}): customers look "
            "lapsed for want of data; check that the latest purchase files were delivered"
        )]
    return []


@dg.asset(group_name="prepare", kinds={"duckdb"})
def purchase_lines(warehouse: Warehouse) -> dg.MaterializeResult:
    """A view of the product lines up to as-of, with categories resolved from the products file."""
    with warehouse.get_connection() as conn:
        create_view(conn, "purchase_lines", SQL / "purchase_lines.sql")
        return dg.MaterializeResult(metadata=materialized(conn, "purchase_lines"))


@dg.asset(group_name="prepare", kinds={"duckdb"})
def customer_purchase_days(warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per customer and day: same-day purchases form one purchase event, returns netted."""
    with warehouse.get_connection() as conn:
        # the customer count is customer_rfm's row count; a distinct count here would cost a second pass
        create_table(conn, "customer_purchase_days", SQL / "customer_purchase_days.sql", unordered=True)
        return dg.MaterializeResult(metadata=materialized(conn, "customer_purchase_days"))


prepare_assets = [load_audit, analysis_scope, purchase_lines, customer_purchase_days]
