"""Schedules: every night at 02:00, so the morning's tables are ready when marketing starts."""

import dagster as dg

from pipelines.jobs import nightly_lifecycle

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_schedule",
    job=nightly_lifecycle,
    cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
