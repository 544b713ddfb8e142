"""Resources: the validated run configuration and the DuckDB warehouse, configured from the environment."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from common.config import DEFAULT_CONFIG, Settings, load_settings, outputs_home
from common.sources import SourcePlan, plan_sources


class LifecycleConfig(dg.ConfigurableResource):
    """The YAML config, validated with every source file when a run starts, before anything is written."""

    config_path: str
    home: str

    _settings: Settings = PrivateAttr()
    _plans: dict[str, SourcePlan] = PrivateAttr()
    _started_at: datetime = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._started_at = datetime.now()
        self._settings = load_settings(self.config_path)
        self._plans = plan_sources(self._settings)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def plans(self) -> dict[str, SourcePlan]:
        return self._plans

    @property
    def exports_dir(self) -> Path:
        """Where analysts read: Parquet per table, the DuckDB snapshot, and charts."""
        return Path(self.home) / "exports"

    @property
    def run_started_at(self) -> datetime:
        """The run's own clock: input dated after it is quarantined as 'in the future'."""
        return self._started_at


class Warehouse(DuckDBResource):
    """The working DuckDB database. It has one writer: runs that write it are queued one at a time."""

    load_memory_limit: str = "1500MB"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def get_loading_connection(self):
        """A connection for loading files, which holds one file's raw text while typing it."""
        with self.get_connection() as conn:
            conn.execute(f"set memory_limit = '{self.load_memory_limit}'")
            yield conn


def warehouse_path(home: Path) -> Path:
    return home / "warehouse" / "lifecycle.duckdb"


def build_resources(config_path: str | None = None, home: Path | None = None) -> dict[str, dg.ConfigurableResource]:
    """Resources for a config and output root; by default from LIFECYCLE_CONFIG and LIFECYCLE_HOME."""
    home = home or outputs_home()
    database = warehouse_path(home)
    return {
        "lifecycle_config": LifecycleConfig(
            config_path=str(config_path or os.environ.get("LIFECYCLE_CONFIG") or DEFAULT_CONFIG),
            home=str(home),
        ),
        "warehouse": Warehouse(
            database=str(database),
            connection_config={
                "memory_limit": os.environ.get("LIFECYCLE_DUCKDB_MEMORY", "1GB"),
                "temp_directory": str(database.parent / "spill"),
            },
            load_memory_limit=os.environ.get("LIFECYCLE_DUCKDB_LOAD_MEMORY", "1500MB"),
        ),
    }
