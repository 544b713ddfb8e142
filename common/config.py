"""The pipeline's one configuration: a YAML file validated into typed settings at the start of a run.

Everything a retailer changes to run on their own data lives here; defaults come from the domain.
A bad config stops the run before anything is written, with one message naming the file, the
source and the column.
"""

from __future__ import annotations

import glob
import os
import warnings
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class ClvSettings(Strict):
    """BG/NBD + Gamma-Gamma settings (issue: RFM and CLTV)."""

    annual_discount_rate: float = 0.10
    holdout_fraction: float = 0.25
    holdout_periods: int | None = None
    penalizer: float = 0.0
    min_customers: int = 100
    min_repeat_buyers: int = 30


class ChainSettings(Strict):
    """Repeat-purchase chains: a purchase 'continues' when the next one follows within the window."""

    window_days: int = 7
    min_support: int = 30


class SegmentationSettings(Strict):
    """Survey segmentation: k-means on standardized ratings, k chosen by silhouette unless fixed."""

    k_min: int = 2
    k_max: int = 8
    k: int | None = None
    seed: int = 42
    center_per_respondent: bool = True  # removes each respondent's own scale-use bias
    scale_min: float = 1
    scale_max: float = 5
    likert_scale: dict[str, int] | None = None  # extra or overriding label -> rating entries
    max_missing_share: float = 0.2  # more unusable answers than this and a respondent is left out
    min_respondents: int = 30


class LifecycleSettings(Strict):
    """Lifecycle stage thresholds; defaults from retail practice."""

    new_customer_days: int = 90
    lapsed_days: int = 365
    vip_top_share: float = 0.20
    at_risk_p_alive: float = 0.5
    lapsed_p_alive: float = 0.1
    one_time_buyer_risk_multiple: float = 2.0
    prospect_active_days: int = 30


class ActionsSettings(Strict):
    """Customer actions: cross-sell offers, repurchase reminders, next best action (rules v1)."""

    # how many categories to offer, and how many customers must have bought both categories
    # before their affinity counts
    cross_sell_offers: int = Field(default=3, ge=1)
    cross_sell_min_customers: int = Field(default=10, ge=1)
    # repurchase windows: own inter-purchase times are used from this many intervals on
    repurchase_min_intervals: int = Field(default=3, ge=1)
    welcome_days: int = 30
    reminder_lead_days: int = 7
    win_back_top_value_share: float = Field(default=0.5, gt=0, le=1)
    engagement_days: int = 90


class ReportSettings(Strict):
    """The morning report and the action lists: how they read and which contact details they carry."""

    title: str = "Customer lifecycle: morning report"
    currency: str = "EUR"  # an ISO code (EUR, GBP, USD, ... shown as its symbol) or any prefix, e.g. "CHF"
    top_customers: int = Field(default=5, ge=1)  # customers shown per action in the report
    contact_columns: list[str] = Field(default_factory=list)  # customers-file columns copied into the action lists


class Settings(Strict):
    """The validated configuration of one run."""

    as_of: date | None = None
    time_unit: Literal["day", "week"] = "day"
    sources: Sources
    clv: ClvSettings = ClvSettings()
    chains: ChainSettings = ChainSettings()
    segmentation: SegmentationSettings = SegmentationSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    actions: ActionsSettings = ActionsSettings()
    report: ReportSettings = ReportSettings()
    config_path: Path = Field(exclude=True)

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


def load_settings(config_path: str | os.PathLike | None = None) -> Settings:
    """Read and validate the YAML config; raise ConfigError with a readable message."""
    path = Path(config_path or os.environ.get("LIFECYCLE_CONFIG") or DEFAULT_CONFIG).resolve()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (set LIFECYCLE_CONFIG to your config file)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return Settings(**upgrade_deprecated(raw, path), config_path=path)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(err) for err in exc.errors())) from None


class ConfigDeprecation(UserWarning):
    """A config written for an older release: it still runs, and the message says what to change."""


# Keys that moved to the section named after the stage folder that uses them: (old section, new section, keys)
MOVED_KEYS = [
    ("lifecycle", "actions", tuple(ActionsSettings.model_fields)),
]


def upgrade_deprecated(raw: dict, path: Path) -> dict:
    """Accept a config in an older layout, with one warning per moved key naming its new place."""
    raw = dict(raw)
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
    return f"'{where}': {error['msg']}"


def outputs_home() -> Path:
    """Root of everything the pipeline writes: the working warehouse and the analysts' exports."""
    return Path(os.environ.get("LIFECYCLE_HOME") or DEFAULT_HOME).resolve()
