"""Specification of the sample-data generator (`python -m generator`).

The sample is what the pipeline ships and what the ingestion and analytics tests count on: its
layout, its planted mess and its planted segments are part of the contract.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from generator.purchases import PLANTED_MESS
from generator.sample import write_sample

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SAMPLE = REPO_ROOT / "data" / "sample"
QUARTERS = [f"{year}_q{q}" for year in (2024, 2025) for q in (1, 2, 3, 4)]
PURCHASE_COLUMNS = ["order_id", "customer_id", "order_date", "sku", "qty", "unit_price", "channel", "store",
                    "discount", "is_return"]  # fmt: skip
FACTORS = ["price", "discounts", "quality", "brand", "novelty", "assortment", "speed", "convenience", "location",
           "service", "loyalty_program"]  # fmt: skip
EXPECTED_COLUMNS = {
    **{f"purchases/purchases_{quarter}.csv.gz": PURCHASE_COLUMNS for quarter in QUARTERS},
    "products.csv": ["sku", "category", "product_name", "brand"],
    "customers.csv": ["customer_id", "registered_at", "acquisition_channel", "email_opt_in", "region",
                      "customer_type", "company_size"],
    "events.csv.gz": ["customer_id", "event_ts", "event_type"],
    "service_scores.csv": ["customer_id", "score_ts", "nps", "csi", "ces"],
    "survey.csv": ["respondent_id", "customer_id", *FACTORS],
    "survey_truth.csv": ["respondent_id", "segment"],
}  # fmt: skip
SEGMENTS = {"loyal_regulars", "discount_lovers", "quality_connoisseurs", "unusual_seekers", "fast_convenient"}
LIKERT = {"not important": 1, "slightly important": 2, "moderately important": 3, "important": 4,
          "very important": 5}  # fmt: skip
TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    subprocess.run([sys.executable, "-m", "generator", "--out", str(out)], check=True, cwd=REPO_ROOT)
    return out


def read(folder: Path, name: str) -> pd.DataFrame:
    """A file exactly as written: every value text, blanks as empty strings."""
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def purchases(sample) -> pd.DataFrame:
    return pd.concat(
        [read(sample, f"purchases/purchases_{q}.csv.gz").assign(file=q) for q in QUARTERS], ignore_index=True
    )


@pytest.fixture(scope="module")
def clean_lines(purchases, sample) -> pd.DataFrame:
    """Purchase lines with the planted mess removed, typed, with the product category."""
    lines = purchases.drop(columns="file").drop_duplicates()
    lines = lines.assign(
        ts=pd.to_datetime(lines.order_date, format=TIMESTAMP, errors="coerce"),
        price=pd.to_numeric(lines.unit_price, errors="coerce"),
        qty=lines.qty.astype(int),
        discount=lines.discount.astype(float),
        is_return=lines.is_return.astype(int),
    )
    lines = lines[lines.ts.notna() & lines.price.gt(0) & lines.customer_id.ne("")]
    return lines.merge(read(sample, "products.csv")[["sku", "category"]], on="sku", validate="many_to_one")


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(sample, tmp_path):
    write_sample(tmp_path, seed=42)
    assert all_bytes(tmp_path) == all_bytes(sample)


def test_another_seed_gives_other_data(sample, tmp_path):
    write_sample(tmp_path, seed=7)
    assert all_bytes(tmp_path)["customers.csv"] != all_bytes(sample)["customers.csv"]


def test_shipped_sample_is_the_default_seed_output(sample):
    """data/sample is committed; it must be regenerated whenever the generator changes."""

    def content(folder: Path) -> dict[str, bytes]:
        """Compared uncompressed, so another zlib version cannot fail the test."""
        return {name: gzip.decompress(data) if name.endswith(".gz") else data
                for name, data in all_bytes(folder).items()}  # fmt: skip

    shipped, fresh = content(SHIPPED_SAMPLE), content(sample)
    assert sorted(shipped) == sorted(fresh)
    changed = [name for name in fresh if shipped[name] != fresh[name]]
    assert not changed, f"regenerate with `python -m generator --out data/sample`: {changed}"


def test_files_and_columns_are_exactly_as_specified(sample):
    assert set(all_bytes(sample)) == set(EXPECTED_COLUMNS)
    for name, columns in EXPECTED_COLUMNS.items():
        assert list(read(sample, name).columns) == columns, name


def test_sample_stays_small(sample):
    assert sum(len(data) for data in all_bytes(sample).values()) < 3_000_000


def test_purchase_lines_follow_the_format(purchases, clean_lines):
    assert purchases.order_id.str.fullmatch(r"(R-)?O\d{6}").all()
    assert purchases.customer_id.str.fullmatch(r"(C\d{5})?").all()
    assert set(purchases.channel) == {"online", "store", "app"}
    assert purchases.store.eq("").eq(purchases.channel.ne("store")).all()
    assert purchases.store.str.fullmatch(r"(S(0[1-9]|1[0-2]))?").all()
    assert purchases.discount.str.fullmatch(r"-?\d+\.\d\d").all()
    assert set(purchases.is_return) == {"0", "1"}

    returns = clean_lines[clean_lines.is_return == 1]
    sold = clean_lines[clean_lines.is_return == 0]
    assert returns.order_id.str.startswith("R-O").all() and returns.qty.lt(0).all()
    assert sold.order_id.str.startswith("O").all() and sold.qty.gt(0).all()
    assert 0.02 < len(returns) / len(sold) < 0.08
    original = returns.assign(order_id=returns.order_id.str[2:]).merge(
        sold, on=["order_id", "sku"], suffixes=("", "_sold"), validate="one_to_one"
    )
    assert len(original) == len(returns)
    assert original.ts.dt.normalize().sub(original.ts_sold.dt.normalize()).dt.days.between(1, 30).all()


def test_each_quarter_file_holds_its_quarter_in_time_order(purchases):
    ts = pd.to_datetime(purchases.order_date, format=TIMESTAMP, errors="coerce")
    valid = ts.notna()
    quarter = ts[valid].dt.year.astype(str) + "_q" + ts[valid].dt.quarter.astype(str)
    assert quarter.eq(purchases.file[valid]).all()
    assert ts[valid].groupby(purchases.file[valid]).is_monotonic_increasing.all()


def test_orders_have_several_lines_and_online_orders_shipping(clean_lines):
    sold = clean_lines[clean_lines.is_return == 0]
    per_order = pd.DataFrame({
        "lines": sold.groupby("order_id").size(),
        "shipped": sold.sku.eq("SHIP").groupby(sold.order_id).any(),
        "channel": sold.groupby("order_id").channel.first(),
    })  # fmt: skip
    assert per_order.lines.mean() > 2
    assert per_order[per_order.channel == "online"].shipped.mean() > 0.3
    assert not per_order[per_order.channel == "store"].shipped.any()
    same_day = sold.groupby(["customer_id", sold.ts.dt.date]).order_id.nunique()
    assert 20 <= (same_day >= 2).sum() <= 300


def test_products_cover_the_diy_categories_and_shipping(sample):
    products = read(sample, "products.csv")
    assert products.sku.is_unique
    assert set(products.category) == {"tools", "paint", "garden", "lighting", "plumbing", "electrical", "flooring",
                                      "decor", "hardware", "kitchen_bath", "non_product"}  # fmt: skip
    assert products.set_index("sku").loc["SHIP", "category"] == "non_product"


def test_planted_mess_is_present_in_the_stated_amounts(purchases):
    valid_date = pd.to_datetime(purchases.order_date, format=TIMESTAMP, errors="coerce").notna()
    found = {
        "unparseable_date": (~valid_date).sum(),
        "missing_customer_id": purchases.customer_id.eq("").sum(),
        "duplicate_line": purchases.duplicated().sum(),
        "non_numeric_unit_price": purchases.unit_price.eq("n/a").sum(),
        "zero_unit_price": purchases.unit_price.eq("0.00").sum(),
    }
    assert found == {"unparseable_date": 5, "missing_customer_id": 3, "duplicate_line": 3,
                     "non_numeric_unit_price": 2, "zero_unit_price": 2}  # fmt: skip
    assert found == pd.Series([kind for kind, _, _ in PLANTED_MESS]).value_counts().to_dict()
    bad_price = purchases.unit_price.isin(["n/a", "0.00"])
    messy = ~valid_date | purchases.customer_id.eq("") | purchases.duplicated() | bad_price
    assert purchases[messy].file.nunique() == len(QUARTERS)


def test_customers_are_buyers_plus_some_prospects(sample, clean_lines):
    customers = read(sample, "customers.csv")
    assert customers.customer_id.is_unique
    buyers = set(clean_lines.customer_id)
    assert buyers <= set(customers.customer_id)
    assert 2_900 <= len(buyers) <= 3_100
    assert 0.12 < 1 - len(buyers) / len(customers) < 0.18
    assert set(customers.customer_type) == {"B2C", "B2B"}
    assert customers.company_size.ne("").eq(customers.customer_type.eq("B2B")).all()
    assert set(customers.email_opt_in) == {"true", "false"}


def test_acquisition_is_staggered_over_two_years(clean_lines):
    first_purchase = clean_lines.groupby("customer_id").ts.min()
    assert first_purchase.dt.year.value_counts().min() > 1_000


def test_events_are_denser_for_buyers_and_some_prospects_are_recent(sample, clean_lines):
    events = read(sample, "events.csv.gz")
    assert set(events.event_type) == {"site_visit", "email_open", "email_click", "cart_add", "cart_abandon"}
    assert not events.duplicated().any()
    per_person = events.groupby("customer_id").size()
    buyers = per_person.index.isin(set(clean_lines.customer_id))
    assert per_person[buyers].mean() > 3 * per_person[~buyers].mean()
    last_seen = pd.to_datetime(events.groupby("customer_id").event_ts.max()[~buyers])
    recent = (last_seen >= pd.Timestamp("2025-12-01")).mean()
    assert 0.25 < recent < 0.75


def test_service_scores_stay_on_their_scales_with_some_blanks(sample):
    scores = read(sample, "service_scores.csv")
    for column, (low, high) in {"nps": (0, 10), "csi": (1, 5), "ces": (1, 7)}.items():
        values = pd.to_numeric(scores[column].replace("", np.nan))
        assert values.dropna().between(low, high).all()
        assert 0 < values.isna().mean() < 0.1
    assert scores[["nps", "csi", "ces"]].ne("").any(axis=1).all()
    assert not scores.duplicated(["customer_id", "score_ts"]).any()
    assert scores.groupby("customer_id").size().ge(2).all()


def survey_ratings(survey: pd.DataFrame) -> pd.DataFrame:
    """One row per respondent, answers mapped to 1-5; unmappable and blank answers become NaN."""
    answers = survey.drop_duplicates("respondent_id").set_index("respondent_id")[FACTORS]
    mapped = answers.apply(lambda column: column.str.strip().str.lower().replace(LIKERT))
    return mapped.apply(pd.to_numeric, errors="coerce")


def test_survey_is_messy_in_the_stated_ways(sample):
    survey = read(sample, "survey.csv")
    answers = survey[FACTORS]
    assert survey.respondent_id.duplicated().sum() == 2
    assert survey.duplicated().sum() == 2
    assert answers.isin(["n/a", "?"]).sum().sum() == 4
    assert answers.eq("").sum().sum() == 6
    texts = answers.apply(lambda column: column.str.strip().str.lower().isin(LIKERT.keys()))
    assert 0.25 < texts.all(axis=1).mean() < 0.42
    assert (answers != answers.apply(lambda column: column.str.strip()))[texts].any().any()
    assert 0.33 < survey.drop_duplicates("respondent_id").customer_id.ne("").mean() < 0.47


def test_survey_truth_names_the_planted_segments(sample):
    truth = read(sample, "survey_truth.csv")
    survey = read(sample, "survey.csv")
    assert truth.respondent_id.is_unique
    assert set(truth.respondent_id) == set(survey.respondent_id)
    assert 550 <= len(truth) <= 650
    assert set(truth.segment) == SEGMENTS


def test_kmeans_on_standardized_ratings_recovers_the_segments(sample):
    ratings = survey_ratings(read(sample, "survey.csv"))
    ratings = ratings.fillna(ratings.median())
    truth = read(sample, "survey_truth.csv").set_index("respondent_id").segment.loc[ratings.index]
    clusters = KMeans(n_clusters=5, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(ratings))
    assert adjusted_rand_score(truth, clusters) >= 0.9


@pytest.fixture(scope="module")
def linked_behaviour(sample, clean_lines) -> pd.DataFrame:
    """Per segment, the purchase behaviour of survey respondents linked to a customer."""
    survey = read(sample, "survey.csv").drop_duplicates("respondent_id")
    truth = read(sample, "survey_truth.csv")
    linked = survey[survey.customer_id.ne("")].merge(truth, on="respondent_id")[["customer_id", "segment"]]
    products = clean_lines[clean_lines.sku.ne("SHIP")].merge(linked, on="customer_id")
    sold = products[products.is_return == 0]
    by_segment = sold.groupby("segment")
    order_value = sold.assign(value=sold.qty * sold.price - sold.discount).groupby(["segment", "order_id"]).value.sum()
    categories = sold.groupby(["segment", "customer_id"]).category.nunique()
    return pd.DataFrame({
        "return_rate": products.groupby("segment").is_return.sum() / by_segment.size(),
        "discounted_share": by_segment.discount.apply(lambda discount: discount.gt(0).mean()),
        "order_value": order_value.groupby("segment").mean(),
        "orders_per_customer": by_segment.order_id.nunique() / by_segment.customer_id.nunique(),
        "categories_per_customer": categories.groupby("segment").mean(),
    })  # fmt: skip


def test_fast_convenient_return_clearly_more_than_every_other_segment(linked_behaviour):
    rates = linked_behaviour.return_rate
    assert rates.idxmax() == "fast_convenient"
    assert rates["fast_convenient"] > 2 * rates.drop("fast_convenient").max()


@pytest.mark.parametrize(
    ("segment", "behaviour"),
    [
        ("discount_lovers", "discounted_share"),
        ("quality_connoisseurs", "order_value"),
        ("loyal_regulars", "orders_per_customer"),
        ("unusual_seekers", "categories_per_customer"),
    ],
)
def test_linked_customers_buy_like_their_segment(linked_behaviour, segment, behaviour):
    assert linked_behaviour[behaviour].idxmax() == segment


def test_projects_continue_after_paint_and_tools_more_than_after_decor_and_lighting(clean_lines):
    """The share of orders followed by another order of the same customer within 7 days."""
    sold = clean_lines[(clean_lines.is_return == 0) & clean_lines.sku.ne("SHIP")]
    orders = sold.groupby("order_id").agg(customer_id=("customer_id", "first"), ts=("ts", "min")).sort_values("ts")
    next_order = orders.groupby("customer_id").ts.shift(-1)
    orders["continued"] = (next_order - orders.ts).dt.days.le(7)
    continued = sold[["order_id", "category"]].drop_duplicates().join(orders.continued, on="order_id")
    rate = continued.groupby("category").continued.mean()
    assert min(rate["paint"], rate["tools"]) > max(rate["decor"], rate["lighting"]) + 0.1


@pytest.mark.parametrize("name", ["purchases.csv", "purchases.csv.gz"])
def test_large_mode_writes_exactly_the_requested_rows(tmp_path, name):
    out = tmp_path / "large" / name
    subprocess.run(
        [sys.executable, "-m", "generator", "--rows", "20000", "--out", str(out), "--seed", "1"],
        check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    if name.endswith(".gz"):
        assert out.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert out.read_bytes().startswith(b"order_id,")
    log = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(log) == 20_000
    assert list(log.columns) == PURCHASE_COLUMNS
    assert not log.duplicated().any()
    assert log.order_id.str.fullmatch(r"(R-)?O\d{6}").all()
    assert pd.to_datetime(log.order_date, format=TIMESTAMP).between("2024-01-01", "2026-01-01").all()
    assert 2 < len(log) / log.customer_id.nunique() < 3.2
    assert 0.01 < log.is_return.eq("1").mean() < 0.06
    assert re.fullmatch(r"-?\d+\.\d\d", log.unit_price.iloc[0])
