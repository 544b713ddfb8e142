"""The Dagster code location: every stage's assets, the checks from their contracts, the nightly job,
schedule and sensors."""

import dagster as dg

from assets.actions import assets as actions
from assets.chains import assets as chains
from assets.customer_value import assets as customer_value
from assets.ingest import assets as ingest
from assets.lifecycle import assets as lifecycle
from assets.publish.assets import build_publish_asset
from assets.publish.dictionary import build_dictionary_asset
from assets.report.assets import build_run_history_asset, morning_report
from assets.survey import assets as survey
from common.config import load_operations_section
from common.contracts import apply_contracts
from common.resources import build_resources
from pipelines.jobs import nightly_lifecycle
from pipelines.schedules import build_nightly_schedule, exports_freshness
from pipelines.sensors import alert_on_failure, new_source_files

STAGES = [ingest, customer_value, survey, chains, lifecycle, actions]

schedule_settings = load_operations_section("schedule")
stage_assets = dg.load_assets_from_modules(STAGES)
# the night's record comes after every stage table and is published with them; the report reads the published night
night = [*stage_assets, build_run_history_asset(stage_assets)]
# Each table's contract gives its asset a description, column schema and checks, and its SQL the deps.
documented, contract_checks = apply_contracts([*night, build_dictionary_asset(night)])

defs = dg.Definitions(
    assets=[*documented, build_publish_asset(documented, exports_freshness(schedule_settings)), morning_report],
    asset_checks=contract_checks,
    jobs=[nightly_lifecycle],
    schedules=[build_nightly_schedule(schedule_settings)],
    sensors=[new_source_files, alert_on_failure],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
