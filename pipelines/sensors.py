"""Sensors: start the nightly job early when new or changed files land in a source folder."""

from __future__ import annotations

import hashlib

import dagster as dg

from common.config import ConfigError, Settings, load_settings
from common.resources import LifecycleConfig
from pipelines.jobs import nightly_lifecycle


def source_files_fingerprint(settings: Settings) -> str:
    """A digest of every source file's path, size and modification time."""
    digest = hashlib.sha256()
    for name in settings.configured_sources():
        for path in settings.source_files(name):
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dg.sensor(
    job=nightly_lifecycle,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the nightly job when a source folder gets a new or changed file.",
)
def new_source_files(context: dg.SensorEvaluationContext, lifecycle_config: LifecycleConfig):
    try:
        fingerprint = source_files_fingerprint(load_settings(lifecycle_config.config_path))
    except ConfigError as error:
        return dg.SkipReason(f"config problem, not watching files: {error}")
    previous = context.cursor
    context.update_cursor(fingerprint)
    if previous is None:
        return dg.SkipReason("first look at the source folders; watching for changes from now on")
    if previous == fingerprint:
        return dg.SkipReason("no new or changed source files")
    return dg.RunRequest(run_key=fingerprint)
