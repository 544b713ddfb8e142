"""The Dagster code location: every stage's assets and checks, the nightly job, schedule and sensor."""

import dagster as dg

from assets.actions import assets as actions
from assets.chains import assets as chains
from assets.customer_value import assets as customer_value
from assets.ingest import assets as ingest
from assets.lifecycle import assets as lifecycle
from assets.publish.assets import build_publish_asset
from assets.report.assets import build_run_history_asset, morning_report
from assets.survey import assets as survey
from common.resources import build_resources
from pipelines.jobs import nightly_lifecycle
from pipelines.schedules import nightly_schedule
from pipelines.sensors import new_source_files

STAGES = [ingest, customer_value, survey, chains, lifecycle, actions]

stage_assets = dg.load_assets_from_modules(STAGES)
# the night's record comes after every stage table and is published with them; the report reads the published night
night = [*stage_assets, build_run_history_asset(stage_assets)]

defs = dg.Definitions(
    assets=[*night, build_publish_asset(night), morning_report],
    asset_checks=dg.load_asset_checks_from_modules(STAGES),
    jobs=[nightly_lifecycle],
    schedules=[nightly_schedule],
    sensors=[new_source_files],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
