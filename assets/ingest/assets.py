"""Ingest: one asset per source loads its files into a canonical DuckDB table, then the analysis
scope (as-of date), the purchase lines the analytics read, and customer purchase days."""


from pathlib import Path

import dagster as dg

from assets.ingest.checks import run_trust_checks, trust_check_specs
from assets.ingest.loading import SourceLoad, sync_source
from common.metadata import table
from common.resources import LifecycleConfig, Warehouse
from common.sources import SOURCES, SourceSpec
from common.warehouse import create_table, create_view, quote, row_count

SQL = Path(__file__).parent / "sql"


def build_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.table,
        group_name="ingest",
        kinds={"duckdb"},
        check_specs=trust_check_specs(spec.table),
        description=(
            f"Canonical `{spec.table}` from the `{spec.source}` source; rows that cannot be loaded go to "
            f"`{spec.quarantine_table}` with their reason. Empty when the source is not configured."
        ),
    )
    def source_table(context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse):
        plan = lifecycle_config.plans[spec.source]
        with warehouse.get_loading_connection() as conn:
            report = sync_source(conn, plan, lifecycle_config.run_started_at)
            metadata = load_metadata(conn, spec, report)
        if plan.config is None:
            context.log.info(f"source '{spec.source}' is not configured: `{spec.table}` is empty")
        yield dg.MaterializeResult(metadata={"source_configured": plan.config is not None, **metadata})
        yield from run_trust_checks(warehouse, spec.table)

    return source_table


def load_metadata(conn, spec: SourceSpec, report: SourceLoad) -> dict:
    reasons = conn.execute(
        f"select reason, count(*) as rows from {quote(spec.quarantine_table)} group by reason order by rows desc"
    ).df()
    audit = conn.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, loaded_at from load_audit "
        "where source = ? order by source_file",
        [spec.source],
    ).df()
    return {
        "dagster/row_count": row_count(conn, spec.table),
        "rows_quarantined": row_count(conn, spec.quarantine_table),
        "rows_read_this_run": sum(f.rows_read for f in report.loaded),
        "rows_loaded_this_run": sum(f.rows_loaded for f in report.loaded),
        "rows_quarantined_this_run": sum(f.rows_quarantined for f in report.loaded),
        "files_loaded": len(report.loaded),
        "files_unchanged": len(report.unchanged),
        "files_removed": len(report.removed),
        "full_reload": report.full_reload,
        "quarantine_reasons": table(reasons),
        "load_audit": table(audit),
    }


source_assets = [build_source_asset(spec) for spec in SOURCES.values()]


@dg.asset(group_name="prepare", kinds={"duckdb"}, deps=["purchases"])
def analysis_scope(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The as-of date every analytics stage uses: configured, or the latest purchase date."""
    settings = lifecycle_config.settings
    with warehouse.get_connection() as conn:
        create_table(
            conn, "analysis_scope", SQL / "analysis_scope.sql",
            {"as_of": settings.as_of, "time_unit": settings.time_unit},
        )
        as_of, first, last, _ = conn.execute("select * from analysis_scope").fetchone()
    if as_of is None:
        raise dg.Failure("no purchases were loaded, so there is no as-of date: check purchases_quarantine")
    return dg.MaterializeResult(
        metadata={"as_of": str(as_of), "first_order_date": str(first), "last_order_date": str(last)}
    )


@dg.asset(group_name="prepare", kinds={"duckdb"}, deps=["purchases", "products", analysis_scope])
def purchase_lines(warehouse: Warehouse) -> dg.MaterializeResult:
    """A view of the product lines up to as-of, with categories resolved from the products file."""
    with warehouse.get_connection() as conn:
        create_view(conn, "purchase_lines", SQL / "purchase_lines.sql")
        rows = row_count(conn, "purchase_lines")
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.asset(group_name="prepare", kinds={"duckdb"}, deps=[purchase_lines])
def customer_purchase_days(warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per customer and day: same-day purchases form one purchase event, returns netted."""
    with warehouse.get_connection() as conn:
        # the customer count is customer_rfm's row count; a distinct count here would cost a second pass
        rows = create_table(conn, "customer_purchase_days", SQL / "customer_purchase_days.sql")
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


prepare_assets = [analysis_scope, purchase_lines, customer_purchase_days]
