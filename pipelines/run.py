"""`make run`: validate the config, run the nightly job once, and say where every output is.

The run is recorded in DAGSTER_HOME, so it shows in the UI (`make ui`) like a scheduled one.
"""

from __future__ import annotations

import sys

import dagster as dg
import duckdb

from assets.publish.publishing import SNAPSHOT
from assets.report.rendering import ACTIONS, PAGE
from common.config import ConfigError, load_settings, outputs_home
from common.sources import plan_sources


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
        for event in result.all_events:
            if event.is_step_failure:
                print(f"FAILED {event.step_key}: {event.event_specific_data.error.message.strip()}", file=sys.stderr)
        return 1
    print_outputs()
    return 0


def print_outputs() -> None:
    exports = outputs_home() / "exports"
    with duckdb.connect(str(exports / SNAPSHOT), read_only=True) as snapshot:
        tables = snapshot.execute(
            "select table_name, estimated_size from duckdb_tables() order by table_name"
        ).fetchall()
        width = max(len(name) for name, _ in tables)
        print(f"\n{'table'.ljust(width)}  {'rows':>10}  parquet")
        for name, _ in tables:
            rows = snapshot.execute(f'select count(*) from "{name}"').fetchone()[0]
            print(f"{name.ljust(width)}  {rows:>10,}  {exports / (name + '.parquet')}")
    print(f"\nDuckDB snapshot: {exports / SNAPSHOT}")
    charts = sorted((exports / "charts").glob("*.png"))
    if charts:
        print(f"charts ({len(charts)}): {exports / 'charts'}")
    lists = sorted((exports / ACTIONS).glob("*.csv"))
    if lists:
        print(f"action lists ({len(lists)}, CSV and Parquet): {exports / ACTIONS}")
    if (exports / PAGE).exists():
        print(f"\nmorning report (open it in a browser): {exports / PAGE}")


if __name__ == "__main__":
    sys.exit(main())
