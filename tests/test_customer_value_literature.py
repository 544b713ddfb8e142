"""The pipeline reproduces the published CLV fits and an independent model comparison on CDNOW.

CDNOW_sample.txt ships inside `lifetimes`: 2,357 customers' purchases from 1997-01 to 1998-06.
Fader, Hardie & Lee (2005) fit on the 39 weeks to 1997-09-30: BG/NBD r=0.243, alpha=4.414, a=0.793,
b=2.426 (log-likelihood -9582.4) and Pareto/NBD r=0.553, alpha=10.578, s=0.606, beta=11.669
(-9595.0); Fader & Hardie's Gamma-Gamma on the same period gives p=6.25, q=3.74, gamma=15.44.
Scored with lifetimes on the 39 weeks after it (issue 14), the three purchase models predict 1,653.4,
1,665.5 and 1,576.7 of the 1,882 repeat purchases, Pareto/NBD with the lowest error per customer;
on CDNOW_master.txt (23,570 customers, same split) Pareto/NBD also wins.
"""

import shutil
from pathlib import Path

import lifetimes
import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.datasets import load_cdnow_summary

from assets.customer_value.purchase_models import MODELS
from conftest import connect, materialize, write_config

DATASETS = Path(lifetimes.__file__).parent / "datasets"
BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_NBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
LIFETIMES_FITTERS = {"bg_nbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter, "mbg_nbd": ModifiedBetaGeoFitter}
# issue 14's lifetimes study: predicted holdout repeat purchases, total error %, MAE, correlation
SAMPLE_STUDY = {
    "bg_nbd": (1653.4, -12.15, 0.785, 0.626),
    "pareto_nbd": (1665.5, -11.50, 0.755, 0.630),
    "mbg_nbd": (1576.7, -16.22, 0.765, None),
}
MASTER_STUDY = {"bg_nbd": (-14.28, 0.819), "pareto_nbd": (-12.86, 0.794), "mbg_nbd": (-19.05, 0.795)}


def cdnow_pipeline(folder: Path, file: str, as_of: str, clv: dict | None = None) -> Path:
    """The customer-value stage run on a CDNOW purchase log through an ordinary config, in weeks."""
    columns = ["customer", "id", "date", "cds", "dollars"] if file == "CDNOW_sample.txt" else ["customer", "date", "cds", "dollars"]
    transactions = pd.read_csv(DATASETS / file, sep=r"\s+", header=None, names=columns, dtype={"date": str},
                               skiprows=0 if file == "CDNOW_sample.txt" else 1)
    transactions.to_csv(folder / "cdnow.csv", index=False)
    config_path = write_config(
        folder,
        {
            "as_of": as_of,
            "time_unit": "week",
            **({"customer_value": clv} if clv else {}),
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
    assert materialize(config_path, home, selection="group:ingest or group:prepare or group:customer_value").success
    return home


@pytest.fixture(scope="module")
def cdnow_home(tmp_path_factory):
    """The warehouse after the customer-value stage ran to the end of the papers' calibration period."""
    return cdnow_pipeline(tmp_path_factory.mktemp("cdnow"), "CDNOW_sample.txt", "1997-09-30")


@pytest.fixture(scope="module")
def cdnow_scored(tmp_path_factory):
    """The whole CDNOW sample, the last 39 weeks held out by the nightly backtest."""
    home = cdnow_pipeline(tmp_path_factory.mktemp("cdnow_scored"), "CDNOW_sample.txt", "1998-06-30", {"holdout_periods": 39})
    with connect(home) as conn:
        return (
            conn.execute("select * from clv_model_selection").df().set_index("model"),
            conn.execute("select * from clv_model").df().set_index("model"),
            conn.execute("select * from clv_backtest").df(),
        )


def test_the_calibration_period_holds_the_papers_2357_customers(cdnow_home):
    with connect(cdnow_home) as conn:
        models = conn.execute("select * from clv_model").df()
    assert (models["customers"] == 2357).all()
    assert (models["status"] == "ok").all() and (models["time_unit"] == "week").all()


@pytest.mark.parametrize("parameter", GAMMA_GAMMA)
def test_gamma_gamma_parameters_match_fader_hardie_within_half_a_percent(cdnow_home, parameter):
    with connect(cdnow_home) as conn:
        models = conn.execute("select * from clv_model").df().set_index("model")
    assert models.loc["gamma_gamma", parameter] == pytest.approx(GAMMA_GAMMA[parameter], rel=0.005)


@pytest.mark.parametrize("model, published", [("bg_nbd", BG_NBD), ("pareto_nbd", PARETO_NBD)])
def test_the_backtests_calibration_fits_reproduce_the_published_parameters_within_half_a_percent(cdnow_scored, model, published):
    scorecard, _, _ = cdnow_scored
    assert str(scorecard.loc[model, "calibration_end"].date()) == "1997-09-30"
    for parameter, value in published.items():
        assert scorecard.loc[model, parameter] == pytest.approx(value, rel=0.005), parameter


@pytest.mark.parametrize("model", SAMPLE_STUDY)
def test_the_scorecard_reproduces_the_independent_lifetimes_study_on_the_sample(cdnow_scored, model):
    scorecard, _, _ = cdnow_scored
    predicted, error_pct, mae, correlation = SAMPLE_STUDY[model]
    row = scorecard.loc[model]
    assert row["status"] == "ok" and row["customers"] == 2357
    assert row["actual_repeat_purchases"] == 1882
    assert row["predicted_repeat_purchases"] == pytest.approx(predicted, rel=0.005)
    assert row["total_error_pct"] == pytest.approx(error_pct, abs=0.01)
    assert row["mae"] == pytest.approx(mae, abs=0.0005)
    if correlation is not None:
        assert row["correlation"] == pytest.approx(correlation, abs=0.0005)
    assert row["rmse"] > row["mae"]


def test_pareto_nbd_wins_on_holdout_error_and_goes_into_production_saying_why(cdnow_scored):
    scorecard, models, _ = cdnow_scored
    assert scorecard.index[scorecard["chosen"]].tolist() == ["pareto_nbd"]
    assert scorecard.loc["pareto_nbd", "reason"] == "lowest holdout MAE: 0.755 (against mbg_nbd 0.765, bg_nbd 0.785)"
    assert scorecard.loc["bg_nbd", "reason"] == "holdout MAE 0.785, 0.031 above pareto_nbd"
    assert scorecard["note"].isna().all()  # no seasonal swell in CDNOW's last twelve months
    assert models.index.tolist() == ["pareto_nbd", "gamma_gamma"]
    assert models.loc["pareto_nbd", "reason"].startswith("chosen by the backtest to 1998-06-30: lowest holdout MAE: 0.755")
    assert models.loc["pareto_nbd", ["a", "b"]].isna().all() and models.loc["pareto_nbd", ["s", "beta"]].notna().all()


def test_the_backtest_table_holds_every_candidates_calibration_plot_adding_up_to_the_scorecard(cdnow_scored):
    scorecard, _, backtest = cdnow_scored
    assert backtest.groupby("model", sort=False)["calibration_frequency"].apply(list).to_dict() == {
        model: ["0", "1", "2", "3", "4", "5", "6", "7+"] for model in ("bg_nbd", "pareto_nbd", "mbg_nbd")
    }
    totals = backtest.groupby("model")[["customers", "predicted_purchases", "actual_purchases"]].sum()
    assert (totals["customers"] == 2357).all() and (totals["actual_purchases"] == 1882).all()
    assert totals["predicted_purchases"].to_dict() == pytest.approx(scorecard["predicted_repeat_purchases"].to_dict(), rel=1e-9)
    assert (backtest["mean_actual"] == backtest["actual_purchases"] / backtest["customers"]).all()


def test_on_cdnow_master_pareto_nbd_wins_too(tmp_path):
    home = cdnow_pipeline(tmp_path, "CDNOW_master.txt", "1998-06-30", {"holdout_periods": 39})
    with connect(home) as conn:
        scorecard = conn.execute("select * from clv_model_selection").df().set_index("model")
    assert (scorecard["customers"] == 23570).all() and (scorecard["actual_repeat_purchases"] == 19684).all()
    for model, (error_pct, mae) in MASTER_STUDY.items():
        predicted = 19684 * (1 + error_pct / 100)
        assert scorecard.loc[model, "predicted_repeat_purchases"] == pytest.approx(predicted, rel=0.005), model
        assert scorecard.loc[model, "mae"] == pytest.approx(mae, abs=0.001), model
    assert scorecard.index[scorecard["chosen"]].tolist() == ["pareto_nbd"]


def test_the_backtest_predicts_with_lifetimes_formulas_and_its_tracking_curves_end_at_the_reported_totals(cdnow_home):
    """The holdout prediction per customer is lifetimes' conditional expectation for each refitted
    model; the tracking plot's last points are the totals the scorecard reports."""
    from assets.customer_value.modeling import build_summary, run_backtest
    from common.config import load_settings

    settings = load_settings(cdnow_home.parent / "lifecycle.yaml")
    with connect(cdnow_home, read_only=False) as conn:
        first, as_of = conn.execute("select first_order_date, as_of from analysis_scope").fetchone()
        backtest = run_backtest(conn, settings.customer_value, first, as_of, settings.time_unit)
        build_summary(conn, "test_calibration_summary", backtest.cutoff, "week")
        rows = conn.execute("select frequency, recency, T, count(*) as customers from test_calibration_summary group by all").df()
        conn.execute("drop table test_calibration_summary")
    tracking = backtest.tracking
    assert tracking["days_after_cutoff"].iloc[-1] == backtest.holdout_days
    assert tracking["actual"].is_monotonic_increasing and tracking["actual"].iloc[-1] == backtest.scores["actual_repeat_purchases"].iloc[0]
    for fit in backtest.fits:
        assert fit.usable
        assert tracking[fit.model].is_monotonic_increasing
        assert tracking[fit.model].iloc[-1] == pytest.approx(backtest.scores.loc[fit.model, "predicted_repeat_purchases"], rel=1e-9)
        reference = LIFETIMES_FITTERS[fit.model]()
        reference.params_ = pd.Series(fit.params)
        expected = reference.conditional_expected_number_of_purchases_up_to_time(
            backtest.holdout_days / 7, rows["frequency"], rows["recency"], rows["T"])
        assert tracking[fit.model].iloc[-1] == pytest.approx(float(expected @ rows["customers"]), rel=1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_every_customers_predictions_are_lifetimes_own(cdnow_home, tmp_path, model):
    """customer_clv combines per-pair terms computed in Python with each customer's row in SQL; for
    each model, P(alive), expected purchases, order value and CLV must equal lifetimes' functions."""
    from assets.customer_value.modeling import build_customer_clv, define_summary_as_of, fit_production
    from common.config import load_settings

    settings = load_settings(cdnow_home.parent / "lifecycle.yaml")
    shutil.copytree(cdnow_home, tmp_path / "home")
    with connect(tmp_path / "home", read_only=False) as conn:
        define_summary_as_of(conn, "week")
        fit = fit_production(conn, settings.customer_value, model, "under test", "week")
        build_customer_clv(conn, fit, "week", settings.customer_value)
        rows = conn.execute(
            "select s.frequency, s.recency, s.T, s.monetary, c.p_alive, c.expected_purchases_90d, "
            "c.expected_avg_order_value, c.clv_12m from clv_summary s join customer_clv c using (customer_id)"
        ).df()
    purchases = LIFETIMES_FITTERS[model]()
    purchases.params_ = pd.Series(fit.purchases.params)
    gamma_gamma = GammaGammaFitter()
    gamma_gamma.params_ = fit.gamma_gamma.params_
    f, r, t = rows["frequency"], rows["recency"], rows["T"]
    repeat = f > 0

    assert rows["p_alive"][repeat].to_numpy() == pytest.approx(
        np.asarray(purchases.conditional_probability_alive(f, r, t))[repeat], rel=1e-9)
    assert rows["p_alive"][~repeat].isna().all()
    assert rows["expected_purchases_90d"].to_numpy() == pytest.approx(
        np.asarray(purchases.conditional_expected_number_of_purchases_up_to_time(90 / 7, f, r, t)), rel=1e-9)
    spend = rows["monetary"].where(repeat & (rows["monetary"] > 0))
    order_value = gamma_gamma.conditional_expected_average_profit(f.where(spend.notna(), 0), spend.fillna(0))
    order_value = order_value.where(spend.notna(), gamma_gamma.params_["v"] * gamma_gamma.params_["p"] / (gamma_gamma.params_["q"] - 1))
    assert rows["expected_avg_order_value"].to_numpy() == pytest.approx(order_value.to_numpy(), rel=1e-9)
    monthly_rate = 1.10 ** (1 / 12) - 1  # the default annual discount rate of 10%
    clv = sum(
        (np.asarray(purchases.conditional_expected_number_of_purchases_up_to_time(30 * month / 7, f, r, t))
         - np.asarray(purchases.conditional_expected_number_of_purchases_up_to_time(30 * (month - 1) / 7, f, r, t)))
        / (1 + monthly_rate) ** month
        for month in range(1, 13)
    ) * order_value.to_numpy()
    assert rows["clv_12m"].to_numpy() == pytest.approx(clv, rel=1e-9)


# --- the fitters on lifetimes' CDNOW summary ------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_summary():
    summary = load_cdnow_summary(index_col=[0])
    return tuple(summary[column].to_numpy(dtype=float) for column in ("frequency", "recency", "T"))


@pytest.mark.parametrize("model, published_log_likelihood", [("bg_nbd", -9582.4), ("pareto_nbd", -9595.0), ("mbg_nbd", None)])
def test_the_fast_fits_agree_with_lifetimes_own_fitters_and_the_papers_log_likelihoods(cdnow_summary, model, published_log_likelihood):
    frequency, recency, age = cdnow_summary
    fitter = LIFETIMES_FITTERS[model]()
    if model == "pareto_nbd":  # lifetimes' Nelder-Mead stops at tol=1e-4 from a random start by default
        reference = fitter.fit(frequency, recency, age, initial_params=np.ones(4), tol=1e-10, maxiter=20_000)
    else:
        reference = fitter.fit(frequency, recency, age)
    fast = MODELS[model].fit(frequency, recency, age, np.ones(len(frequency)), 0.0)
    for parameter in MODELS[model].parameters:
        assert fast.params[parameter] == pytest.approx(reference.params_[parameter], rel=1e-3), parameter
    if published_log_likelihood is not None:
        assert fast.log_likelihood == pytest.approx(published_log_likelihood, abs=0.1)


@pytest.mark.parametrize("model", MODELS)
def test_p_alive_and_expected_purchases_per_distinct_pair_equal_lifetimes_per_customer(cdnow_summary, model):
    frequency, recency, age = cdnow_summary
    purchase_model = MODELS[model]
    params = purchase_model.fit(frequency, recency, age, np.ones(len(frequency)), 0.0).params
    reference = LIFETIMES_FITTERS[model]()
    reference.params_ = pd.Series(params)
    judged = frequency > 0 if model == "bg_nbd" else np.full(len(frequency), True)  # BG/NBD: 1 without repeats
    p_alive = purchase_model.p_alive(params, frequency, recency, age)
    assert p_alive[judged] == pytest.approx(
        np.asarray(reference.conditional_probability_alive(frequency, recency, age))[judged], rel=1e-9)
    weeks = [1, 39, 52, 520]  # the last far enough for the overflow-safe form of BG/NBD's series
    fast = purchase_model.expected_purchases(params, weeks, frequency, age, p_alive)
    for horizon, values in zip(weeks, fast):
        assert values == pytest.approx(np.asarray(
            reference.conditional_expected_number_of_purchases_up_to_time(horizon, frequency, recency, age)), rel=1e-9)


@pytest.mark.parametrize("penalizer", [0.0, 0.01])
def test_the_fast_gamma_gamma_fit_agrees_with_lifetimes_own_fitter(penalizer):
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
        conn.execute("drop table summary_from_purchase_days")
    assert differences == 0 and rows == (2357, 946)  # 946 repeat buyers, as in lifetimes' CDNOW summary
