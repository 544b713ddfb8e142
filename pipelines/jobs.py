"""Jobs: the nightly job materializes every asset; its runs write the warehouse, so they queue one at a time."""

import dagster as dg

WAREHOUSE_WRITE_TAGS = {"lifecycle/warehouse": "write"}

nightly_lifecycle = dg.define_asset_job(
    name="nightly_lifecycle",
    selection=dg.AssetSelection.all(),
    description="Load new input files and rebuild every lifecycle table, then publish them for analysts.",
    tags=WAREHOUSE_WRITE_TAGS,
)
