"""Publish: after every other asset, the warehouse becomes the next night analysts read under exports/."""

import dagster as dg
import pandas as pd

from assets.ingest.assets import scope_warnings
from assets.publish.publishing import NIGHTS, publish_exports
from common.metadata import table
from common.resources import LifecycleConfig, Warehouse
from common.warehouse import table_exists


def build_publish_asset(
    upstream: list[dg.AssetsDefinition], freshness_policy: dg.FreshnessPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        name="analyst_exports",
        group_name="publish",
        kinds={"parquet", "duckdb"},
        deps=[key for assets_def in upstream for key in assets_def.keys],
        freshness_policy=freshness_policy,
    )
    def analyst_exports(
        context: dg.AssetExecutionContext, lifecycle_config: LifecycleConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        """One night: a Parquet file per warehouse table, a `lifecycle.duckdb` snapshot, the charts
        and a manifest, in `exports/nights/<night>/`; `exports/current` switches to it once it is whole."""
        with warehouse.get_connection() as conn:
            as_of, warnings = None, []
            if table_exists(conn, "analysis_scope"):
                as_of, last_order_date = conn.execute("select as_of, last_order_date from analysis_scope").fetchone()
                warnings = scope_warnings(as_of, last_order_date)
            manifest = publish_exports(
                conn,
                lifecycle_config.published_dir,
                run_id=context.run_id,
                unpublished=lifecycle_config.exports_dir,
                as_of=as_of,
                warnings=warnings,
                keep_nights=lifecycle_config.settings.publish.keep_nights,
            )
        night = lifecycle_config.published_dir / NIGHTS / manifest["night"]
        listing = pd.DataFrame(
            [(f["path"], f.get("rows"), f["bytes"]) for f in manifest["files"]], columns=["file", "rows", "bytes"]
        )
        return dg.MaterializeResult(
            metadata={
                "night": manifest["night"],
                "as_of": manifest["as_of"],
                "warnings": manifest["warnings"],
                "path": dg.MetadataValue.path(str(night)),
                "files": table(listing, max_rows=500),
            }
        )

    return analyst_exports
