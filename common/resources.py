"""Resources: the validated run configuration and the DuckDB warehouse, configured from the environment.

The faults an operator has to act on are translated here, once for every asset, into a one-line
failure: a config mistake, DuckDB out of memory (which setting to raise), the warehouse held open
by another process (which one), another run writing the warehouse (wait for it).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.errors import DagsterUserCodeProcessError
from dagster_duckdb import DuckDBResource
from dagster_shared.error import SerializableErrorInfo
from pydantic import PrivateAttr

from common.config import (
    DEFAULT_CONFIG,
    ConfigError,
    Settings,
    load_operations_section,
    load_settings,
    outputs_home,
)
from common.sources import SourcePlan, plan_sources
from common.spark import DATABASE, SparkConnection, attach_warehouse, spark_session
from common.warehouse import explain_duckdb_error, parse_memory_limit, process_command

MEMORY_SETTING = "LIFECYCLE_DUCKDB_MEMORY"
LOAD_MEMORY_SETTING = "LIFECYCLE_DUCKDB_LOAD_MEMORY"
ALERT_WEBHOOK_SETTING = "LIFECYCLE_ALERT_WEBHOOK"


def setup_failure(message: str) -> DagsterUserCodeProcessError:
    """A resource set-up failure as Dagster prints it: once, as it is. A plain exception raised there
    is shown twice with two stack traces (96 lines through `dagster asset materialize`); an error
    carrying its message as already-serialized user-code error info is shown alone."""
    info = SerializableErrorInfo(message=message + "\n", stack=[], cls_name="SetupError")
    return DagsterUserCodeProcessError(info.message, user_code_process_error_infos=[info])


def config_failure(message: str) -> DagsterUserCodeProcessError:
    return setup_failure(f"Config error: {message}")


class LifecycleConfig(dg.ConfigurableResource):
    """The YAML config, validated with every source file when a run starts, before anything is written."""

    config_path: str
    home: str

    _settings: Settings = PrivateAttr()
    _plans: dict[str, SourcePlan] = PrivateAttr()
    _started_at: datetime = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._started_at = datetime.now()
        try:
            self._settings = load_settings(self.config_path, today=self._started_at.date())
            self._plans = plan_sources(self._settings)
        except ConfigError as error:
            raise config_failure(str(error)) from None

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def plans(self) -> dict[str, SourcePlan]:
        return self._plans

    @property
    def published_dir(self) -> Path:
        """Where analysts read: `nights/<night>/` folders and `current`, the latest complete one."""
        return Path(self.home) / "exports"

    @property
    def exports_dir(self) -> Path:
        """Files for the next published night besides the tables (`charts/`): assets write them here
        during a run, and publishing copies the folder into the night it publishes."""
        return Path(self.home) / "warehouse" / "unpublished"

    @property
    def run_started_at(self) -> datetime:
        """The run's own clock: input dated after it is quarantined as 'in the future'."""
        return self._started_at


class WriterLock:
    """An exclusive lock on a file beside the warehouse, with who holds it written inside.

    The run queue lets one tagged run at a time start, but `make run` and ad-hoc runs do not go
    through the queue; every run that writes the warehouse takes this lock instead, so all of them
    wait their turn. The operating system releases it when the holder dies, even by kill -9."""

    POLL_SECONDS = 1.0
    REPORT_EVERY_SECONDS = 60.0

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def acquire(self, run_id: str, log) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 (the lock lasts as long as the open file)
        waited, reported = 0.0, None
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if reported is None or waited - reported >= self.REPORT_EVERY_SECONDS:
                    log.info(f"waiting for the warehouse: another run is writing it ({self.holder()}), "
                             f"{waited:.0f} s so far")
                    reported = waited
                time.sleep(self.POLL_SECONDS)
                waited += self.POLL_SECONDS
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(),
            "run_id": run_id,
            "command": process_command(os.getpid()),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }))
        handle.flush()
        self._handle = handle

    def holder(self) -> str:
        try:
            holder = json.loads(self.path.read_text())
            return f"pid {holder['pid']}, run {holder['run_id']}, since {holder['since']}: {holder['command']}"
        except (OSError, ValueError, KeyError):
            return "holder unknown"

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Warehouse(DuckDBResource):
    """The working database: the DuckDB file, or on `engine: spark` the Spark tables (database `main`
    under `spark.warehouse_dir`). It has one writer: a run holds the writer lock beside it from start
    to end, and a second run (scheduled, `make run` or from the UI) waits for it."""

    memory_limit: str = "1GB"
    load_memory_limit: str = "1500MB"
    config_path: str | None = None  # the config whose `engine:` and `spark:` settings say where the tables are

    _writer_lock: WriterLock | None = PrivateAttr(default=None)
    _spark: SparkConnection | None = PrivateAttr(default=None)
    _stop_spark: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        for setting, value in ((MEMORY_SETTING, self.memory_limit), (LOAD_MEMORY_SETTING, self.load_memory_limit)):
            if parse_memory_limit(value) is None:
                raise config_failure(f"{setting}={value!r} is not a memory size such as 1GB, 1500MB or 4GiB")
        try:
            settings = load_settings(self.config_path)
        except ConfigError as error:
            raise config_failure(str(error)) from None
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        self._writer_lock = WriterLock(Path(self.database).parent / "writer.lock")
        self._writer_lock.acquire(context.run_id, context.log)
        if settings.engine == "spark":
            try:
                self._start_spark(settings, context)
            except ConfigError as error:
                self._writer_lock.release()
                raise config_failure(f"{settings.config_path}: {error}") from None
            except BaseException:
                self._writer_lock.release()
                raise
            return
        if Path(self.database).exists():
            try:  # held open by a program outside the pipeline: say so once, before any step starts
                with self.get_connection():
                    pass
            except dg.Failure as failure:
                self._writer_lock.release()
                raise setup_failure(failure.description) from None

    def _start_spark(self, settings: Settings, context: dg.InitResourceContext) -> None:
        """One Spark session for the whole run (the executor is in-process): the active one when the
        run is inside a Spark application (spark-submit, tests), which is then left running, else a
        new one (on Spark Connect, this client's session on the server), stopped at teardown. The
        tables of earlier runs are registered from their folders."""
        from pyspark.sql import SparkSession

        location = Path(settings.spark.warehouse_dir or Path(self.database).parent / "spark")
        self._stop_spark = SparkSession.getActiveSession() is None or settings.spark.remote is not None
        spark = spark_session(settings.spark, location)
        try:
            registered = attach_warehouse(spark, location / f"{DATABASE}.db")
        except BaseException:
            if self._stop_spark:
                spark.stop()
            raise
        self._spark = SparkConnection(spark)
        where = settings.spark.remote or spark.sparkContext.master
        context.log.info(f"engine: spark on {where}, tables in {location / f'{DATABASE}.db'} "
                         f"({len(registered)} from earlier runs registered)")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._spark is not None and self._stop_spark:
            self._spark.spark.stop()
        self._spark = None
        if self._writer_lock is not None:
            self._writer_lock.release()

    @contextmanager
    def get_connection(self):
        if self._spark is not None:
            yield self._spark
            return
        with self._connection(MEMORY_SETTING, self.memory_limit) as conn:
            yield conn

    @contextmanager
    def get_loading_connection(self):
        """A connection for loading files, which holds one file's raw text while typing it."""
        if self._spark is not None:
            yield self._spark
            return
        with self._connection(LOAD_MEMORY_SETTING, self.load_memory_limit) as conn:
            yield conn

    @contextmanager
    def _connection(self, setting: str, memory_limit: str):
        """A connection whose DuckDB errors an operator can act on fail the step with one line that
        says what to do. No retries: a lock held by another process is reported at once."""
        # one configuration for every connection: DuckDB shares one instance per file in a process
        config = {
            "memory_limit": parse_memory_limit(self.memory_limit),
            "temp_directory": str(Path(self.database).parent / "spill"),
            "custom_user_agent": "dagster",
        }
        try:
            conn = duckdb.connect(self.database, config=config)
        except duckdb.Error as error:
            raise self._failure(error, setting, memory_limit) from error
        conn.execute("set memory_limit = $limit", {"limit": parse_memory_limit(memory_limit)})
        try:
            yield conn
        except duckdb.Error as error:
            raise self._failure(error, setting, memory_limit) from error
        finally:
            conn.close()

    def _failure(self, error: duckdb.Error, setting: str, memory_limit: str) -> Exception:
        explained = explain_duckdb_error(error, self.database, setting, memory_limit)
        return dg.Failure(description=explained) if explained else error


class OperationsConfig(dg.ConfigurableResource):
    """What the sensors read, without validating the config at start as a run does: the config's
    path, and where failed runs are reported (LIFECYCLE_ALERT_WEBHOOK, or else `alerts.webhook_url`,
    read on its own so that a mistake elsewhere in the config is still reported)."""

    config_path: str
    webhook_from_environment: str | None = None

    @property
    def alert_webhook_url(self) -> str | None:
        return self.webhook_from_environment or load_operations_section("alerts", self.config_path).webhook_url


def warehouse_path(home: Path) -> Path:
    return home / "warehouse" / "lifecycle.duckdb"


def build_resources(config_path: str | None = None, home: Path | None = None) -> dict[str, dg.ConfigurableResource]:
    """Resources for a config and output root; by default from LIFECYCLE_CONFIG and LIFECYCLE_HOME."""
    home = home or outputs_home()
    config_path = str(config_path or os.environ.get("LIFECYCLE_CONFIG") or DEFAULT_CONFIG)
    return {
        "lifecycle_config": LifecycleConfig(config_path=config_path, home=str(home)),
        "warehouse": Warehouse(
            database=str(warehouse_path(home)),
            config_path=config_path,
            memory_limit=os.environ.get(MEMORY_SETTING, "1GB"),
            load_memory_limit=os.environ.get(LOAD_MEMORY_SETTING, "1500MB"),
        ),
        "operations_config": OperationsConfig(
            config_path=config_path, webhook_from_environment=os.environ.get(ALERT_WEBHOOK_SETTING) or None
        ),
    }
