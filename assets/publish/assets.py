"""Publish: after every other asset, the outputs are copied for analysts under exports/."""


import dagster as dg
import pandas as pd

from assets.publish.publishing import publish_exports
from common.metadata import table
from common.resources import LifecycleConfig, Warehouse


def build_publish_asset(upstream: list[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    @dg.asset(
        name="analyst_exports",
        group_name="publish",
        kinds={"parquet", "duckdb"},
        deps=[key for assets_def in upstream for key in assets_def.keys],
    )
    def analyst_exports(lifecycle_config: LifecycleConfig, warehouse: Warehouse) -> dg.MaterializeResult:
        """One Parquet file per warehouse table and a `lifecycle.duckdb` snapshot, each replaced atomically."""
        with warehouse.get_connection() as conn:
            published = publish_exports(conn, lifecycle_config.exports_dir)
            counts = {
                name: conn.execute(f'select count(*) from "{name}"').fetchone()[0]
                for name in published if name != "snapshot"
            }
        listing = pd.DataFrame(
            [(name, counts.get(name), str(path)) for name, path in published.items()],
            columns=["output", "rows", "path"],
        )
        return dg.MaterializeResult(
            metadata={"outputs": table(listing, max_rows=200), "snapshot": dg.MetadataValue.path(str(published["snapshot"]))}
        )

    return analyst_exports
