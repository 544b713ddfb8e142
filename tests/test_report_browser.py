"""The morning report as a marketer gets it: two nights of the shipped sample a day apart, and the
second night's page opened from disk in headless Chromium with networking off. It loads with no
failed request and no console error, its headline figures equal queries on the warehouse, every
chart is there and not blank, and the change since the previous night is shown. A full-page
screenshot is saved beside the report for a person to look at."""

import base64
import html
import io
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageStat

from browser import MISSING, Browser, find_chromium
from common.resources import build_resources
from conftest import REPO, connect, requires_shared_data
from pipelines.definitions import defs

CHROMIUM = find_chromium()
REPORT_STEPS = ("run_history", "morning_report")
SECTIONS = ["headline", "actions", "flow", "cohorts", "new_vs_established", "concentration", "segments", "chains", "trust"]


def night_config(folder: Path, source: Path, as_of: str | None) -> Path:
    """A copy of a shipped config with its paths made absolute and as_of set."""
    settings = yaml.safe_load(source.read_text())
    for spec in settings["sources"].values():
        spec["path"] = str((source.parent / spec["path"]).resolve())
    if as_of:
        settings["as_of"] = as_of
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def run_night(config_path: Path, home: Path) -> dict[str, float]:
    """The whole graph once, as the nightly job runs it; returns seconds per step."""
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])], resources=build_resources(str(config_path), home), instance=instance
        )
        assert result.success
        return {stats.step_key: stats.end_time - stats.start_time for stats in instance.get_run_step_stats(result.run_id)}


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("report")
    home = root / "home"
    run_night(night_config(root / "first", REPO / "lifecycle.yaml", "2025-12-30"), home)
    steps = run_night(night_config(root / "second", REPO / "lifecycle.yaml", "2025-12-31"), home)
    return home, steps


def number(written: str) -> float:
    """'€181,819' or '−1,234' as a number."""
    return float(re.sub(r"[^0-9.\-]", "", written.replace("−", "-")))


def takeaways(page: str) -> dict[str, str]:
    return {key: html.unescape(sentence) for key, sentence in re.findall(r'data-takeaway="(\w+)">(.*?)</p>', page, re.S)}


def test_the_report_and_its_action_lists_are_written_and_cost_little(two_nights):
    home, steps = two_nights
    exports = home / "exports"
    assert (exports / "morning_report.html").exists()
    assert sorted(path.name for path in (exports / "report").glob("*.html")) == ["2025-12-30.html", "2025-12-31.html"]
    assert (exports / "run_history.parquet").exists()  # published with the night's tables
    assert sum(steps[step] for step in REPORT_STEPS) < 10, steps


def test_the_sample_action_lists_partition_next_best_action(two_nights):
    home, _ = two_nights
    lists = {path.stem: pd.read_csv(path) for path in (home / "exports" / "actions").glob("*.csv")}
    with connect(home) as warehouse:
        actions = warehouse.execute("select customer_id, action from next_best_action").df()
    together = pd.concat(lists.values())
    assert len(together) == len(actions) and together["customer_id"].is_unique
    assert set(lists) == set(actions["action"])
    merged = together.merge(actions, on="customer_id", suffixes=("_listed", ""))
    assert (merged["action_listed"] == merged["action"]).all()
    assert {"email_opt_in", "region", "contact_on", "action_reason", "expected_value", "survey_segment"} <= set(together.columns)


def test_run_history_keeps_one_row_per_night_with_the_warehouse_figures(two_nights):
    home, _ = two_nights
    with connect(home) as warehouse:
        history = warehouse.execute("select * from run_history order by as_of").df()
        lapsed, customers = warehouse.execute(
            "select count(*) filter (where stage = 'lapsed'), count(*) filter (where not is_prospect) from customer_lifecycle"
        ).fetchone()
        clv = warehouse.execute("select sum(clv_12m) from customer_clv").fetchone()[0]
    assert [str(day)[:10] for day in history["as_of"]] == ["2025-12-30", "2025-12-31"]
    assert history["run_id"].is_unique
    latest = history.iloc[-1]
    assert (latest["customers_lapsed"], latest["customers"]) == (lapsed, customers)
    assert latest["total_clv_12m"] == pytest.approx(clv)
    assert latest["rows_loaded"] + latest["rows_quarantined"] == latest["rows_read"]
    assert latest["production_model"] == "bg_nbd" and pd.notna(latest["holdout_error_pct"])


def test_the_second_night_shows_the_change_since_the_previous_night(two_nights):
    home, _ = two_nights
    page = (home / "exports" / "morning_report.html").read_text()
    with connect(home) as warehouse:
        before, now = warehouse.execute("select * from run_history order by as_of").df().to_dict("records")
    assert "Since the previous night (30 Dec 2025)" in page
    assert "since the previous night (30 Dec 2025)" in takeaways(page)["headline"]
    for stage in ("new", "active", "vip", "at_risk", "lapsed"):
        cells = re.search(rf'data-figure="customers_{stage}">([^<]+)</td>\s*<td class="numeric">([^<]+)</td>', page)
        assert number(cells.group(1)) == now[f"customers_{stage}"]
        change = now[f"customers_{stage}"] - before[f"customers_{stage}"]
        written = html.unescape(cells.group(2))
        assert written.startswith("±0" if change == 0 else f"{'+' if change > 0 else '−'}{abs(change):,}"), (stage, written)


@pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
def test_the_report_opens_from_disk_offline_with_every_figure_and_chart(two_nights, tmp_path):
    home, _ = two_nights
    report = home / "exports" / "morning_report.html"
    browser = Browser(CHROMIUM, tmp_path / "profile")
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.send(f"{domain}.enable")
        browser.send("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1)
        browser.send("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
        browser.send("Page.navigate", url=report.as_uri())
        browser.wait_for("Page.loadEventFired")
        figures = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.textContent.trim()]))"
        )
        charts = browser.evaluate("""
            [...document.images].map(image => {
                const canvas = document.createElement('canvas');
                canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
                const context = canvas.getContext('2d');
                context.drawImage(image, 0, 0);
                const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 0; i < pixels.length; i += 4) {
                    if (pixels[i] < 200 || pixels[i + 1] < 200 || pixels[i + 2] < 200) inked++;
                }
                return {name: image.dataset.chart, loaded: image.complete, width: image.naturalWidth,
                        inked: inked / (pixels.length / 4), local: image.src.startsWith('data:image/png;base64,')};
            })
        """)
        size = browser.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        failures = browser.events_named("Network.loadingFailed", "Runtime.exceptionThrown")
        errors = [event for event in browser.events_named("Runtime.consoleAPICalled") if event["params"]["type"] == "error"]
        errors += [event for event in browser.events_named("Log.entryAdded") if event["params"]["entry"]["level"] == "error"]
    finally:
        browser.close()

    screenshot = home / "exports" / "report" / "morning_report_screenshot.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot of the report: {screenshot}")
    assert failures == [] and errors == []

    with connect(home) as warehouse:
        expected = warehouse.execute("""
            select
                (select count(*) from customer_lifecycle where not is_prospect) as customers,
                (select count(distinct customer_id) from customer_purchase_days, analysis_scope
                 where is_purchase_day and purchase_date > as_of - 30 and purchase_date <= as_of) as active_customers_30d,
                (select sum(net_amount) from customer_purchase_days, analysis_scope
                 where purchase_date > as_of - 30 and purchase_date <= as_of) as revenue_30d,
                (select sum(clv_12m) from customer_clv) as total_clv_12m
        """).df().iloc[0].to_dict()
        stages = dict(warehouse.execute("select 'customers_' || stage, count(*) from customer_lifecycle group by 1").fetchall())
        actions = dict(warehouse.execute("select 'action_' || action, count(*) from next_best_action group by 1").fetchall())
    for key, value in (expected | stages | actions).items():
        assert number(figures[key]) == round(float(value)), key

    names = {chart["name"] for chart in charts}
    assert {"next_best_action", "lifecycle_stage_sizes", "lifecycle_transitions", "cohort_retention", "pareto",
            "clv_distribution", "survey_segment_heatmap", "chain_continuation", "chain_breakers"} <= names
    for chart in charts:
        assert chart["loaded"] and chart["width"] > 300 and chart["local"], chart
        assert chart["inked"] > 0.01, chart  # not blank: more than 1% of the pixels carry ink
    picture = Image.open(io.BytesIO(base64.b64decode(shot["data"])))
    assert picture.height > 3000 and ImageStat.Stat(picture.convert("L")).stddev[0] > 10


def test_on_online_retail_every_section_is_there_and_those_without_data_say_why(tmp_path):
    requires_shared_data("online_retail/online_retail.csv.gz")
    run_night(night_config(tmp_path / "config", REPO / "examples" / "online_retail.yaml", None), tmp_path / "home")
    page = (tmp_path / "home" / "exports" / "morning_report.html").read_text()
    sentences = takeaways(page)
    assert list(sentences) == SECTIONS
    assert sentences["segments"] == "No survey segments: no survey source is configured."
    assert re.search(r'<section id="segments" class="no-data">', page)
    assert "£" in sentences["concentration"]  # the example config's currency
