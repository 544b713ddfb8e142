"""The pipeline reproduces the published BG/NBD and Gamma-Gamma fits on the CDNOW sample.

CDNOW_sample.txt ships inside `lifetimes`: 2,357 customers' purchases from 1997-01 to 1998-06.
Fader, Hardie & Lee (2005) fit BG/NBD on the 39 weeks to 1997-09-30: r=0.243, alpha=4.414, a=0.793,
b=2.426; Fader & Hardie's Gamma-Gamma on the same period gives p=6.25, q=3.74, gamma=15.44.
"""

from pathlib import Path

import lifetimes
import pandas as pd
import pytest

from conftest import connect, materialize, write_config

CDNOW = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow_home(tmp_path_factory):
    """The pipeline's warehouse after the customer-value stage ran on the CDNOW purchase log."""
    folder = tmp_path_factory.mktemp("cdnow")
    transactions = pd.read_csv(
        CDNOW, sep=r"\s+", header=None, names=["customer", "id", "date", "cds", "dollars"], dtype={"date": str}
    )
    transactions.to_csv(folder / "cdnow.csv", index=False)
    config_path = write_config(
        folder,
        {
            "as_of": "1997-09-30",
            "time_unit": "week",
            "sources": {
                "purchases": {
                    "path": "cdnow.csv",
                    "timestamp_format": "%Y%m%d",
                    "keep_exact_duplicates": True,  # CDNOW repeats identical same-day transactions
                    "keep_zero_amounts": True,  # and has a few $0 purchases; the papers count both
                    "columns": {"customer_id": "customer", "order_ts": "date", "amount": "dollars"},
                }
            },
        },
    )
    home = folder / "home"
    selection = "group:ingest or group:prepare or group:customer_value"
    assert materialize(config_path, home, selection=selection).success
    return home


@pytest.fixture(scope="module")
def cdnow_fit(cdnow_home):
    with connect(cdnow_home) as conn:
        models = conn.execute("select * from clv_model where purpose = 'production'").df().set_index("model")
        customers = int(models.loc["bg_nbd", "customers"])
        backtest = conn.execute("select * from clv_backtest").df()
    return models, customers, backtest


def test_the_calibration_period_holds_the_papers_2357_customers(cdnow_fit):
    models, customers, _ = cdnow_fit
    assert customers == 2357, customers
    assert (models["status"] == "ok").all()
    assert models.loc["bg_nbd", "time_unit"] == "week"


@pytest.mark.parametrize("parameter", BG_NBD)
def test_bg_nbd_parameters_match_fader_hardie_lee_2005_within_half_a_percent(cdnow_fit, parameter):
    models, _, _ = cdnow_fit
    assert models.loc["bg_nbd", parameter] == pytest.approx(BG_NBD[parameter], rel=0.005)


@pytest.mark.parametrize("parameter", GAMMA_GAMMA)
def test_gamma_gamma_parameters_match_fader_hardie_within_half_a_percent(cdnow_fit, parameter):
    models, _, _ = cdnow_fit
    assert models.loc["gamma_gamma", parameter] == pytest.approx(GAMMA_GAMMA[parameter], rel=0.005)


def test_the_backtest_tracks_total_repeat_purchases(cdnow_fit):
    _, _, backtest = cdnow_fit
    assert (backtest["status"] == "ok").all()
    predicted, actual = backtest["predicted_purchases"].sum(), backtest["actual_purchases"].sum()
    assert actual > 0
    assert predicted == pytest.approx(actual, rel=0.25)


def test_the_backtest_predicts_with_lifetimes_and_its_tracking_curve_ends_at_the_reported_total(cdnow_home):
    """The holdout prediction per customer is lifetimes' conditional expectation for the refitted model;
    the tracking plot's last point is the same total the backtest table reports."""
    from assets.customer_value.modeling import run_backtest
    from common.config import load_settings

    settings = load_settings(cdnow_home.parent / "lifecycle.yaml")
    with connect(cdnow_home, read_only=False) as conn:
        first, as_of = conn.execute("select first_order_date, as_of from analysis_scope").fetchone()
        backtest = run_backtest(conn, settings.clv, first, as_of, settings.time_unit)
    assert backtest.fit.ok
    tracking = backtest.tracking
    assert tracking["days_after_cutoff"].iloc[-1] == backtest.holdout_days
    assert tracking["predicted"].is_monotonic_increasing and tracking["actual"].is_monotonic_increasing
    assert tracking["predicted"].iloc[-1] == pytest.approx(backtest.scores["predicted_purchases"], rel=1e-9)
    assert tracking["predicted"].iloc[-1] == pytest.approx(backtest.by_frequency["predicted_purchases"].sum(), rel=1e-9)
    assert tracking["actual"].iloc[-1] == backtest.scores["actual_purchases"]
    # lifetimes' own expectation for the refitted model, summed over the calibration customers
    lifetimes_total = sum(
        backtest.fit.bg_nbd.conditional_expected_number_of_purchases_up_to_time(
            backtest.holdout_days / 7, frequency, recency, age
        ) * customers
        for frequency, recency, age, customers in backtest_rows(cdnow_home, backtest.cutoff)
    )
    assert tracking["predicted"].iloc[-1] == pytest.approx(lifetimes_total, rel=1e-9)


def backtest_rows(home, cutoff):
    """The calibration summary's distinct (frequency, recency, T) rows and their customer counts."""
    from assets.customer_value.modeling import build_summary

    with connect(home, read_only=False) as conn:
        build_summary(conn, "test_calibration_summary", cutoff, "week")
        rows = conn.execute(
            "select frequency, recency, T, count(*) from test_calibration_summary group by all"
        ).fetchall()
        conn.execute("drop table test_calibration_summary")
    return rows


def test_every_customers_predictions_are_lifetimes_own(cdnow_home):
    """customer_clv computes P(alive) and expected purchases in SQL from the fitted parameters; they
    must equal lifetimes' functions, and CLV the monthly discounted sum lifetimes' CLV takes."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from assets.customer_value.modeling import define_summary_as_of

    with connect(cdnow_home) as conn:
        define_summary_as_of(conn, "week")
        rows = conn.execute(
            "select s.frequency, s.recency, s.T, s.monetary, c.p_alive, c.expected_purchases_90d, "
            "c.expected_avg_order_value, c.clv_12m from clv_summary s join customer_clv c using (customer_id)"
        ).df()
        parameters = conn.execute("select * from clv_model where purpose = 'production'").df().set_index("model")
    bg_nbd, gamma_gamma = BetaGeoFitter(), GammaGammaFitter()
    bg_nbd.params_ = parameters.loc["bg_nbd", ["r", "alpha", "a", "b"]].astype(float)
    gamma_gamma.params_ = parameters.loc["gamma_gamma", ["p", "q", "v"]].astype(float)
    f, r, t = rows["frequency"], rows["recency"], rows["T"]
    repeat = f > 0

    assert rows["p_alive"][repeat].to_numpy() == pytest.approx(
        bg_nbd.conditional_probability_alive(f, r, t)[repeat], rel=1e-9)
    assert rows["p_alive"][~repeat].isna().all()
    assert rows["expected_purchases_90d"].to_numpy() == pytest.approx(
        bg_nbd.conditional_expected_number_of_purchases_up_to_time(90 / 7, f, r, t).to_numpy(), rel=1e-9)
    spend = rows["monetary"].where(repeat & (rows["monetary"] > 0))
    order_value = gamma_gamma.conditional_expected_average_profit(f.where(spend.notna(), 0), spend.fillna(0))
    order_value = order_value.where(spend.notna(), gamma_gamma.params_["v"] * gamma_gamma.params_["p"] / (gamma_gamma.params_["q"] - 1))
    assert rows["expected_avg_order_value"].to_numpy() == pytest.approx(order_value.to_numpy(), rel=1e-9)
    monthly_rate = 1.10 ** (1 / 12) - 1  # the default annual discount rate of 10%
    clv = sum(
        (bg_nbd.conditional_expected_number_of_purchases_up_to_time(30 * month / 7, f, r, t)
         - bg_nbd.conditional_expected_number_of_purchases_up_to_time(30 * (month - 1) / 7, f, r, t))
        / (1 + monthly_rate) ** month
        for month in range(1, 13)
    ) * order_value
    assert rows["clv_12m"].to_numpy() == pytest.approx(clv.to_numpy(), rel=1e-9)


def test_the_fast_bg_nbd_fit_agrees_with_lifetimes_own_fitter_and_the_papers_log_likelihood():
    from lifetimes import BetaGeoFitter
    from lifetimes.datasets import load_cdnow_summary

    from assets.customer_value.bgnbd import fit_bg_nbd

    summary = load_cdnow_summary(index_col=[0])
    frequency, recency, age = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    reference = BetaGeoFitter().fit(frequency, recency, age)
    fast, log_likelihood = fit_bg_nbd(frequency, recency, age, weights=[1] * len(summary))
    for parameter in ("r", "alpha", "a", "b"):
        assert fast.params_[parameter] == pytest.approx(reference.params_[parameter], rel=1e-3)
    assert log_likelihood == pytest.approx(-9582.4, abs=0.1)  # the paper's log-likelihood


def test_expected_purchases_per_distinct_frequency_and_age_equal_lifetimes_per_customer():
    from lifetimes import BetaGeoFitter
    from lifetimes.datasets import load_cdnow_summary

    from assets.customer_value.modeling import expected_purchases

    summary = load_cdnow_summary(index_col=[0])
    frequency, recency, age = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    model = BetaGeoFitter().fit(frequency, recency, age)
    horizons = [1, 39, 52, 520]  # weeks, the last far enough for the overflow-safe form of the series
    p_alive = model.conditional_probability_alive(frequency, recency, age)
    fast = expected_purchases(model, horizons, 1.0, frequency, age, p_alive)
    for weeks in horizons:
        reference = model.conditional_expected_number_of_purchases_up_to_time(weeks, frequency, recency, age)
        assert fast[weeks] == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize("penalizer", [0.0, 0.01])
def test_the_fast_gamma_gamma_fit_agrees_with_lifetimes_own_fitter(penalizer):
    from lifetimes import GammaGammaFitter
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    from assets.customer_value.gamma_gamma import fit_gamma_gamma

    summary = load_cdnow_summary_data_with_monetary_value()
    repeat = summary[summary["frequency"] > 0]
    reference = GammaGammaFitter(penalizer_coef=penalizer).fit(repeat["frequency"], repeat["monetary_value"])
    fast, log_likelihood = fit_gamma_gamma(
        repeat["frequency"], repeat["monetary_value"], weights=[1] * len(repeat), penalizer=penalizer
    )
    for parameter in ("p", "q", "v"):
        assert fast.params_[parameter] == pytest.approx(reference.params_[parameter], rel=1e-3)
    penalty = penalizer * (reference.params_ ** 2).sum()
    assert log_likelihood == pytest.approx(-(reference._negative_log_likelihood_ - penalty) * len(repeat), rel=1e-6)


def test_the_model_input_read_off_rfm_is_the_one_built_from_purchase_days_at_as_of(cdnow_home):
    from assets.customer_value.modeling import build_summary, define_summary_as_of

    with connect(cdnow_home, read_only=False) as conn:
        as_of = conn.execute("select as_of from analysis_scope").fetchone()[0]
        define_summary_as_of(conn, "week")
        build_summary(conn, "summary_from_purchase_days", as_of, "week")
        differences = conn.execute(
            "select count(*) from ((select * from clv_summary except select * from summary_from_purchase_days) "
            "union all (select * from summary_from_purchase_days except select * from clv_summary))"
        ).fetchone()[0]
        rows = conn.execute("select count(*), count(monetary) from summary_from_purchase_days").fetchone()
    assert differences == 0 and rows == (2357, 946)  # 946 repeat buyers, as in lifetimes' CDNOW summary
