"""Schedules: every night (02:00 UTC unless `schedule:` in the config says otherwise), so the
morning's tables are ready when marketing starts."""

from datetime import timedelta

import dagster as dg
from dagster._utils.schedules import get_smallest_cron_interval

from common.config import ScheduleSettings
from pipelines.jobs import nightly_lifecycle


def build_nightly_schedule(settings: ScheduleSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_schedule",
        job=nightly_lifecycle,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def exports_freshness(settings: ScheduleSettings) -> dg.FreshnessPolicy:
    """The published exports are late once a scheduled run should have published and has not: the
    time between two runs plus `late_after_hours`. A missed or failed night turns them red in the UI.
    The time between runs is taken in UTC, where a nightly run is 24 hours apart: across a change
    to or from summer time it is 23 or 25, which the hours of grace absorb."""
    return dg.FreshnessPolicy.time_window(
        fail_window=get_smallest_cron_interval(settings.cron)
        + timedelta(hours=settings.late_after_hours)
    )
