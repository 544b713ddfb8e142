"""Sensors: start the nightly job early when new or changed files land in a source folder, and
tell the operator's chat or pager (a webhook) when a run fails."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import dagster as dg

from common.config import ConfigError, Settings, load_settings
from common.resources import OperationsConfig
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
def new_source_files(context: dg.SensorEvaluationContext, operations_config: OperationsConfig):
    try:
        fingerprint = source_files_fingerprint(load_settings(operations_config.config_path))
    except ConfigError as error:
        return dg.SkipReason(f"config problem, not watching files: {error}")
    previous = context.cursor
    context.update_cursor(fingerprint)
    if previous is None:
        return dg.SkipReason("first look at the source folders; watching for changes from now on")
    if previous == fingerprint:
        return dg.SkipReason("no new or changed source files")
    return dg.RunRequest(run_key=fingerprint)


@dg.run_failure_sensor(
    name="alert_on_failure",
    # runs of `make run` have no code location of their own; DAGSTER_HOME is this project's alone
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed run, with the failed steps' one-line reasons, to the configured webhook.",
)
def alert_on_failure(context: dg.RunFailureSensorContext, operations_config: OperationsConfig):
    url = operations_config.alert_webhook_url
    if url is None:
        return dg.SkipReason("no webhook configured (alerts.webhook_url or LIFECYCLE_ALERT_WEBHOOK)")
    post_json(url, failure_alert(context.dagster_run, [context.failure_event, *context.get_step_failure_events()]))


def failure_alert(run: dg.DagsterRun, failure_events: list[dg.DagsterEvent]) -> dict:
    """The alert: a `text` line chat tools show as it is, and the details for anything that parses it.
    `failure_events` are the run's failure event and its failed steps' events."""
    run_failure, *step_failures = failure_events
    reasons = {event.step_key: failure_reason(event) for event in step_failures}
    summary = "; ".join(f"{step}: {reason}" for step, reason in reasons.items()) or failure_reason(run_failure)
    return {
        "text": f"Lifecycle run {run.run_id[:8]} ({run.job_name}) failed: {summary}",
        "run_id": run.run_id,
        "job": run.job_name,
        "failed_steps": reasons,
    }


def failure_reason(event: dg.DagsterEvent) -> str:
    """The one line that says why a step or run failed: a Failure's description, else the first
    line of the error under Dagster's wrapping, else the event's own message."""
    data = event.event_specific_data
    user_failure = getattr(data, "user_failure_data", None)
    if user_failure is not None and user_failure.description:
        return user_failure.description.strip().splitlines()[0]
    error = getattr(data, "error", None)
    if error is None:
        return event.message or "no reason recorded"
    while error.cause is not None and error.cls_name in WRAPPING_ERRORS:
        error = error.cause
    return error.message.strip().splitlines()[0]


WRAPPING_ERRORS = {"DagsterExecutionStepExecutionError", "DagsterResourceFunctionError"}


def post_json(url: str, payload: dict, timeout_seconds: float = 10) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
        response.read()
