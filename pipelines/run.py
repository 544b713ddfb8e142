"""`make run`: validate the config, run the nightly job once, and say where every output is.

The run is recorded in DAGSTER_HOME, so it shows in the UI (`make ui`) like a scheduled one, and it
takes the warehouse's writer lock like every run: started while another run writes, it waits.
"""

from __future__ import annotations

import sys

import dagster as dg

from assets.publish.publishing import (
    CURRENT,
    MANIFEST,
    SNAPSHOT,
    current_night,
    read_manifest,
)
from assets.report.rendering import ACTIONS, PAGE
from common.config import ConfigError, load_settings, outputs_home
from common.sources import plan_sources
from pipelines.sensors import failure_reason


def main() -> int:
    try:
        settings = load_settings()
        plan_sources(settings)
    except ConfigError as error:
        print(f"Config error: {error}", file=sys.stderr)
        return 2
    from pipelines.definitions import defs

    print(f"config: {settings.config_path}\noutputs: {outputs_home()}")
    job = defs.resolve_job_def("nightly_lifecycle")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    if not result.success:
        step_failures = [event for event in result.all_events if event.is_step_failure]
        for event in step_failures or [result.get_run_failure_event()]:
            print(f"FAILED {event.step_key or 'run'}: {failure_reason(event)}", file=sys.stderr)
        return 1
    print_outputs()
    return 0


def print_outputs() -> None:
    exports = outputs_home() / "exports"
    night = current_night(exports)
    manifest = read_manifest(night)
    tables = [entry for entry in manifest["files"] if "table" in entry]
    width = max(len(entry["table"]) for entry in tables)
    print(f"\nnight {manifest['night']} (as_of {manifest['as_of']}), now {exports / CURRENT} -> {night}")
    print(f"\n{'table'.ljust(width)}  {'rows':>10}  parquet")
    for entry in tables:
        print(f"{entry['table'].ljust(width)}  {entry['rows']:>10,}  {exports / CURRENT / entry['path']}")
    print(f"\nDuckDB snapshot: {exports / CURRENT / SNAPSHOT}")
    charts = [entry for entry in manifest["files"] if entry["path"].startswith("charts/")]
    if charts:
        print(f"charts ({len(charts)}): {exports / CURRENT / 'charts'}")
    lists = sorted((night / ACTIONS).glob("*.csv"))
    if lists:
        print(f"action lists ({len(lists)}, CSV and Parquet): {exports / CURRENT / ACTIONS}")
    print(f"manifest: {exports / CURRENT / MANIFEST}")
    for warning in manifest["warnings"]:
        print(f"WARNING: {warning}")
    if (night / PAGE).exists():
        print(f"\nmorning report (open it in a browser): {exports / CURRENT / PAGE}")


if __name__ == "__main__":
    sys.exit(main())
