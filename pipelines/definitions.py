"""The Dagster code location: every stage's assets and checks, the nightly job, schedule and sensor."""

import dagster as dg

from assets.actions import assets as actions
from assets.chains import assets as chains
from assets.customer_value import assets as customer_value
from assets.ingest import assets as ingest
from assets.lifecycle import assets as lifecycle
from assets.publish.assets import build_publish_asset
from assets.survey import assets as survey
from common.resources import build_resources
from pipelines.jobs import nightly_lifecycle
from pipelines.schedules import nightly_schedule
from pipelines.sensors import new_source_files

STAGES = [ingest, customer_value, survey, chains, lifecycle, actions]

stage_assets = dg.load_assets_from_modules(STAGES)

defs = dg.Definitions(
    assets=[*stage_assets, build_publish_asset(stage_assets)],
    asset_checks=dg.load_asset_checks_from_modules(STAGES),
    jobs=[nightly_lifecycle],
    schedules=[nightly_schedule],
    sensors=[new_source_files],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
