"""The pipeline's one configuration: a YAML file validated into typed settings at the start of a run.

Everything a retailer changes to run on their own data lives here; defaults come from the domain.
A bad config stops the run before anything is written, with one message naming the file, the
source and the column.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dagster._utils.schedules import is_valid_cron_string
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "lifecycle.yaml"
DEFAULT_HOME = REPO_ROOT / "data"
DATA_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet")


class ConfigError(Exception):
    """A problem with the user's configuration or input files, explained in one message."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sources -------------------------------------------------------------------------------------


class SourceConfig(Strict):
    """One input source: where its files are and how their columns map to canonical names.

    `columns` maps a canonical name to the user's column name; a canonical column the file
    already carries under its own name needs no entry.
    """

    path: str
    columns: dict[str, str] = Field(default_factory=dict)
    timestamp_format: str | None = None
    delimiter: str | None = None
    # the encodings DuckDB's CSV reader decodes itself; others need its network-installed extension
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"
    keep_exact_duplicates: bool = False  # some logs legitimately repeat a line (two identical orders)


class PurchasesSource(SourceConfig):
    return_order_prefix: str | None = None
    non_product_ids: list[str] = Field(default_factory=list)
    keep_zero_amounts: bool = False  # free items are purchases for some retailers, noise for others


class ProductsSource(SourceConfig):
    pass


class CustomersSource(SourceConfig):
    attributes: list[str] | None = None


class EventsSource(SourceConfig):
    pass


class ServiceScoresSource(SourceConfig):
    pass


class SurveySource(SourceConfig):
    factors: list[str] | None = None


class Sources(Strict):
    purchases: PurchasesSource
    products: ProductsSource | None = None
    customers: CustomersSource | None = None
    events: EventsSource | None = None
    service_scores: ServiceScoresSource | None = None
    survey: SurveySource | None = None


# --- analytics sections --------------------------------------------------------------------------


# Ranges: a share of customers is in (0, 1], a probability threshold in [0, 1], a number of days or
# of customers at least 1. A value outside its range is a config error naming the key.

PurchaseModelName = Literal["bg_nbd", "pareto_nbd", "mbg_nbd"]


class CustomerValueSettings(Strict):
    """CLV settings: the purchase models tried in the nightly backtest, the one in production (by default
    the candidate with the lowest holdout error), Gamma-Gamma spend, discounting and data sufficiency."""

    model: Literal["auto"] | PurchaseModelName = "auto"
    candidates: tuple[PurchaseModelName, ...] = ("bg_nbd", "pareto_nbd", "mbg_nbd")
    annual_discount_rate: float = Field(default=0.10, ge=0, le=1)
    holdout_fraction: float = Field(default=0.25, gt=0, lt=1)  # the rest calibrates the backtest's fit
    holdout_periods: int | None = Field(default=None, ge=1)
    penalizer: float = Field(default=0.0, ge=0)
    min_customers: int = Field(default=100, ge=1)
    min_repeat_buyers: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _model_is_a_candidate(self) -> CustomerValueSettings:
        if not self.candidates or len(set(self.candidates)) < len(self.candidates):
            raise ValueError("customer_value.candidates must list each model at most once, and at least one")
        if self.model != "auto" and self.model not in self.candidates:
            raise ValueError(f"customer_value.model '{self.model}' is not among customer_value.candidates {list(self.candidates)}")
        return self


class ChainSettings(Strict):
    """Repeat-purchase chains: a purchase 'continues' when the next one follows within the window."""

    window_days: int = Field(default=7, ge=1)
    min_support: int = Field(default=30, ge=1)


class SurveySettings(Strict):
    """Survey segmentation: k-means on standardized ratings, k chosen by several criteria among the
    stable ks unless fixed."""

    k_min: int = Field(default=2, ge=2)  # silhouette compares at least two segments
    k_max: int = Field(default=8, ge=2)
    k: int | None = Field(default=None, ge=2)
    min_stability: float = Field(default=0.9, ge=0, le=1)  # mean bootstrap ARI for a k to count as stable
    seed: int = Field(default=42, ge=0, lt=2**32)
    center_per_respondent: bool = True  # removes each respondent's own scale-use bias
    scale_min: float = 1
    scale_max: float = 5
    likert_scale: dict[str, int] | None = None  # extra or overriding label -> rating entries
    max_missing_share: float = Field(default=0.2, ge=0, lt=1)  # more unusable answers and a respondent is left out
    min_respondents: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _ranges_agree(self):
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is larger than k_max ({self.k_max})")
        if self.scale_min >= self.scale_max:
            raise ValueError(f"scale_min ({self.scale_min:g}) must be below scale_max ({self.scale_max:g})")
        outside = {label: rating for label, rating in (self.likert_scale or {}).items()
                   if not self.scale_min <= rating <= self.scale_max}
        if outside:
            raise ValueError(f"likert_scale ratings {outside} are outside the scale {self.scale_min:g}-{self.scale_max:g}")
        return self


class LifecycleSettings(Strict):
    """Lifecycle stage thresholds; defaults from retail practice."""

    new_customer_days: int = Field(default=90, ge=1)
    lapsed_days: int = Field(default=365, ge=1)
    vip_top_share: float = Field(default=0.20, gt=0, le=1)
    at_risk_p_alive: float = Field(default=0.5, ge=0, le=1)
    lapsed_p_alive: float = Field(default=0.1, ge=0, le=1)
    one_time_buyer_risk_multiple: float = Field(default=2.0, gt=0)
    prospect_active_days: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _thresholds_agree(self):
        if self.lapsed_p_alive > self.at_risk_p_alive:
            raise ValueError(
                f"lapsed_p_alive ({self.lapsed_p_alive}) is above at_risk_p_alive ({self.at_risk_p_alive}): "
                "no customer could be at risk before being lapsed"
            )
        return self


class ActionsSettings(Strict):
    """Customer actions: cross-sell offers, repurchase reminders, next best action (rules v1)."""

    # how many categories to offer, and how many customers must have bought both categories
    # before their affinity counts
    cross_sell_offers: int = Field(default=3, ge=1)
    cross_sell_min_customers: int = Field(default=10, ge=1)
    # repurchase windows: own inter-purchase times are used from this many intervals on
    repurchase_min_intervals: int = Field(default=3, ge=1)
    welcome_days: int = Field(default=30, ge=1)
    reminder_lead_days: int = Field(default=7, ge=0)  # 0: remind on the day the customer is due
    win_back_top_value_share: float = Field(default=0.5, gt=0, le=1)
    engagement_days: int = Field(default=90, ge=1)


class ReportSettings(Strict):
    """The morning report and the action lists: how they read and which contact details they carry."""

    title: str = "Customer lifecycle: morning report"
    currency: str = "EUR"  # an ISO code (EUR, GBP, USD, ... shown as its symbol) or any prefix, e.g. "CHF"
    top_customers: int = Field(default=5, ge=1)  # customers shown per action in the report
    contact_columns: list[str] = Field(default_factory=list)  # customers-file columns copied into the action lists


# --- operations ----------------------------------------------------------------------------------


class PublishSettings(Strict):
    """Published nights kept on disk, the current one included, so an analyst holding an older night
    open keeps reading it while new ones are published."""

    keep_nights: int = Field(default=7, ge=1)


def iana_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone such as 'UTC' or 'Europe/Berlin'") from None
    return value


class ScheduleSettings(Strict):
    """When the nightly run starts, in which time zone, and when its exports count as late."""

    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    # the published exports are overdue (red in the UI) when a night's run has not published
    # this many hours after its scheduled start
    late_after_hours: float = Field(default=6, gt=0)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not is_valid_cron_string(value):
            raise ValueError(f"'{value}' is not a cron schedule of five fields (minute hour day month weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return iana_time_zone(value)


class AlertSettings(Strict):
    """Where a failed run is reported; LIFECYCLE_ALERT_WEBHOOK, when set, takes precedence."""

    webhook_url: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value


class SparkSettings(Strict):
    """Where the Spark engine runs: a master URL (`local[*]`, `spark://host:7077`, `yarn`, `k8s://...`)
    or a Spark Connect URL in `remote` (`sc://host:15002`), settings passed to the session as they are,
    and the folder the Spark tables live in (default `LIFECYCLE_HOME/warehouse/spark`)."""

    master: str = "local[*]"
    remote: str | None = None
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    warehouse_dir: str | None = None

    @field_validator("master")
    @classmethod
    def _master(cls, value: str) -> str:
        if not re.fullmatch(r"local(\[(\*|[1-9][0-9]*)(, *[0-9]+)?\])?|(spark|k8s|mesos)://\S+|yarn", value):
            raise ValueError(
                f"'{value}' is not a Spark master URL such as local[*], local[4], spark://host:7077, yarn or k8s://https://host"
            )
        return value

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"sc://\S+", value):
            raise ValueError(f"'{value}' is not a Spark Connect URL such as sc://host:15002")
        return value

    @model_validator(mode="after")
    def _one_way_to_connect(self):
        if self.remote is not None and "master" in self.model_fields_set:
            raise ValueError("give either 'master' (a Spark master URL) or 'remote' (a Spark Connect URL), not both")
        return self


class Settings(Strict):
    """The validated configuration of one run."""

    # duckdb (one machine, the default) or spark (a cluster, or local[*]); the tables are the same
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()

    as_of: date | None = None
    time_unit: Literal["day", "week"] = "day"
    # the zone every timestamp is stored in: values with an offset are converted to it, naive ones are taken to be in it
    timezone: str = "UTC"
    sources: Sources
    customer_value: CustomerValueSettings = CustomerValueSettings()
    chains: ChainSettings = ChainSettings()
    survey: SurveySettings = SurveySettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    actions: ActionsSettings = ActionsSettings()
    report: ReportSettings = ReportSettings()
    publish: PublishSettings = PublishSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    config_path: Path = Field(exclude=True)

    @field_validator("as_of")
    @classmethod
    def _as_of_not_in_the_future(cls, value: date | None, info: ValidationInfo) -> date | None:
        today = (info.context or {}).get("today") or date.today()
        if value is not None and value > today:
            raise ValueError(
                f"{value} is after the run's own date, {today}: an analysis date cannot be in the future "
                "(leave as_of empty to use the latest purchase date)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _data_timezone(cls, value: str) -> str:
        return iana_time_zone(value)

    @cached_property
    def base_dir(self) -> Path:
        return self.config_path.parent

    def configured_sources(self) -> dict[str, SourceConfig]:
        return {name: src for name, src in self.sources if src is not None}

    def source_files(self, name: str) -> list[Path]:
        """The data files of a source: a file, a glob, or every data file in a folder."""
        source = getattr(self.sources, name)
        pattern = Path(os.path.expanduser(source.path))
        if not pattern.is_absolute():
            pattern = self.base_dir / pattern
        if pattern.is_dir():
            files = [p for p in pattern.iterdir() if p.is_file() and p.name.lower().endswith(DATA_FILE_SUFFIXES)]
        else:
            files = [Path(p) for p in glob.glob(str(pattern))] if glob.has_magic(str(pattern)) else [pattern]
            files = [p for p in files if p.is_file()]
        if not files:
            raise ConfigError(
                f"{self.config_path}: source '{name}': no data file found at path '{source.path}' "
                f"(resolved to {pattern})"
            )
        return sorted(p.resolve() for p in files)


def load_settings(config_path: str | os.PathLike | None = None, today: date | None = None) -> Settings:
    """Read and validate the YAML config; raise ConfigError with a readable message. `today` is the
    run's own date (default: the clock's), after which no as_of may lie."""
    path, raw = read_config(config_path)
    try:
        return Settings.model_validate(
            {**engine_from_environment(upgrade_deprecated(raw, path)), "config_path": path}, context={"today": today or date.today()}
        )
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(err) for err in exc.errors())) from None


# The engine and where Spark runs can be chosen per machine, without editing the config.
ENGINE_SETTINGS = {
    "LIFECYCLE_ENGINE": ("engine",),
    "LIFECYCLE_SPARK_MASTER": ("spark", "master"),
    "LIFECYCLE_SPARK_REMOTE": ("spark", "remote"),
    "LIFECYCLE_SPARK_WAREHOUSE": ("spark", "warehouse_dir"),
}


def engine_from_environment(raw: dict) -> dict:
    """The config with the engine settings the environment overrides; setting the master (or the
    Spark Connect URL) from the environment replaces the other one given in the file."""
    raw = {**raw, "spark": dict(raw.get("spark") or {})}
    for variable, (*section, key) in ENGINE_SETTINGS.items():
        value = os.environ.get(variable)
        if not value:
            continue
        target = raw[section[0]] if section else raw
        target[key] = value
        if key in ("master", "remote"):
            target.pop("remote" if key == "master" else "master", None)
    return raw


def read_config(config_path: str | os.PathLike | None = None) -> tuple[Path, dict]:
    path = Path(config_path or os.environ.get("LIFECYCLE_CONFIG") or DEFAULT_CONFIG).resolve()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (set LIFECYCLE_CONFIG to your config file)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return path, raw


def load_operations_section(name: Literal["schedule", "alerts"], config_path: str | os.PathLike | None = None):
    """The `schedule:` or `alerts:` section read on its own, its defaults where it cannot be read: a
    mistake elsewhere in the config must not keep the night from starting, failing with that
    mistake's message, and being alerted."""
    model = {"schedule": ScheduleSettings, "alerts": AlertSettings}[name]
    try:
        _, raw = read_config(config_path)
        return model.model_validate(raw.get(name) or {})
    except (ConfigError, ValidationError):
        return model()


class ConfigDeprecation(UserWarning):
    """A config written for an older release: it still runs, and the message says what to change."""


# Sections are named after the stage folder that reads them; these are the names they had before.
RENAMED_SECTIONS = {"clv": "customer_value", "segmentation": "survey"}
# Keys that moved to the section of the stage that uses them: (old section, new section, keys)
MOVED_KEYS = [
    ("lifecycle", "actions", tuple(ActionsSettings.model_fields)),
]


def upgrade_deprecated(raw: dict, path: Path) -> dict:
    """Accept a config in an older layout, with one warning per renamed section or moved key naming
    its new place."""
    raw = dict(raw)
    for old, new in RENAMED_SECTIONS.items():
        if old not in raw:
            continue
        if new in raw:
            raise ConfigError(f"{path}: '{old}' is the old name of '{new}'; give the settings once, under '{new}'")
        warnings.warn(f"{path}: section '{old}' is deprecated, name it '{new}'", ConfigDeprecation, stacklevel=3)
        raw[new] = raw.pop(old)
    for old, new, keys in MOVED_KEYS:
        section = raw.get(old)
        if not isinstance(section, dict):
            continue
        moved = {key: section[key] for key in keys if key in section}
        if not moved:
            continue
        raw[old] = {key: value for key, value in section.items() if key not in moved}
        target = dict(raw.get(new) or {})
        for key, value in moved.items():
            warnings.warn(f"{path}: '{old}.{key}' is deprecated, write it as '{new}.{key}'", ConfigDeprecation, stacklevel=3)
            target.setdefault(key, value)
        raw[new] = target
    return raw


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    if error["type"] == "missing":
        return f"missing required key '{where}'"
    if error["type"] == "value_error":
        return f"'{where}': {error['ctx']['error']}"
    if error["type"] in RANGE_ERRORS:
        return f"'{where}': {error['input']!r} is out of range, {error['msg'].lower().replace('input', 'it')}"
    return f"'{where}': {error['msg']}"


RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def outputs_home() -> Path:
    """Root of everything the pipeline writes: the working warehouse and the analysts' exports."""
    return Path(os.environ.get("LIFECYCLE_HOME") or DEFAULT_HOME).resolve()
