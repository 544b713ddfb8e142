"""Choosing the production purchase model by evidence, and saying honestly when a fit says nothing
about dropout: verdicts, the choice, the seasonality warning, the scorecard history, the Pareto/NBD
integrals, and Online Retail, where no model sees dropout."""

import os
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from assets.customer_value.gamma_gamma import fit_gamma_gamma
from assets.customer_value.likelihood import ModelFit
from assets.customer_value.modeling import Backtest, PurchaseFit, append_history, choose_model, seasonality_note
from assets.customer_value.pareto_nbd import _log_i_quadrature, _log_i_series, log_alive_term, log_dropout_term
from assets.customer_value.purchase_models import MODELS
from common.config import CustomerValueSettings, ConfigError, load_settings
from conftest import REPO, connect, materialize, requires_shared_data, write_config

DETERMINED = np.diag([50.0, 80.0, 120.0, 300.0])  # curvature of a well-determined fit


# --- verdicts --------------------------------------------------------------------------------------------


def test_a_fit_without_dropout_over_the_history_says_p_alive_is_not_informative():
    fit = ModelFit({"r": 0.8, "alpha": 70.0, "s": 1e-3, "beta": 18_000.0}, -100.0, DETERMINED)
    assert MODELS["pareto_nbd"].verdict(fit, span=373.0, span_days=373) == (
        "no dropout visible in the history: P(alive) not informative "
        "(Pareto/NBD expects 0.00% of customers to drop out within 373 days)"
    )


def test_a_fit_whose_dropout_shape_collapses_to_zero_says_it_sits_at_a_parameter_boundary():
    fit = ModelFit({"r": 0.5, "alpha": 5.0, "a": 5e-5, "b": 1e-4}, -100.0, DETERMINED)
    assert MODELS["bg_nbd"].verdict(fit, span=50.0, span_days=350) == (
        "fit at a parameter boundary: P(alive) not informative (BG/NBD: a = 5e-05, tending to 0)"
    )


def test_a_likelihood_flat_in_a_direction_that_moves_the_dropout_says_the_data_do_not_determine_it():
    flat = np.array([[1.0, 0, 0, 0], [0, 80.0, 0, 0], [0, 0, 1.0, 0.99], [0, 0, 0.99, 1.0]])  # flat: a up, b down
    fit = ModelFit({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}, -9582.4, flat)
    assert MODELS["mbg_nbd"].verdict(fit, span=78.0, span_days=546) == (
        "flat likelihood: P(alive) not informative (a and b can change e-fold with the log-likelihood moving "
        "by less than 0.05, and with them the share of customers dropping out within 546 days from 18% to 73%)"
    )
    assert MODELS["mbg_nbd"].verdict(ModelFit(fit.params, fit.log_likelihood, DETERMINED), 78.0, 546) == "ok"


def test_a_likelihood_flat_towards_homogeneous_dropout_leaves_p_alive_informative():
    """s and beta growing together keep the mean dropout rate s/beta: the fit says as much about
    dropout as before (the benchmark's purchase log ends on such a ridge)."""
    ridge = np.array([[50.0, 0, 0, 0], [0, 80.0, 0, 0], [0, 0, 1.0, -0.99], [0, 0, -0.99, 1.0]])  # flat: both up
    fit = ModelFit({"r": 1.07, "alpha": 553.0, "s": 340.0, "beta": 473_600.0}, -1e6, ridge)
    assert MODELS["pareto_nbd"].verdict(fit, span=730.0, span_days=730) == "ok"


# --- choosing the production model ---------------------------------------------------------------------


def backtest_with(mae: dict[str, float | None]) -> Backtest:
    fits = [PurchaseFit(model, "ok" if value is not None else "insufficient data: 20 repeat buyers, at least 30 needed",
                        1000, 400, 300, {} if value is not None else None) for model, value in mae.items()]
    scored = {model: value for model, value in mae.items() if value is not None}
    scores = pd.DataFrame({"mae": scored.values()}, index=pd.Index(list(scored), name="model"))
    return Backtest(date(2024, 6, 30), date(2024, 12, 31), 184, fits, scores=scores)


def test_the_candidate_with_the_lowest_holdout_error_goes_into_production_ties_to_the_earlier():
    chosen, reasons = choose_model(backtest_with({"bg_nbd": 0.80, "pareto_nbd": 0.75, "mbg_nbd": 0.75}), CustomerValueSettings())
    assert chosen == "pareto_nbd"
    assert reasons == {
        "pareto_nbd": "lowest holdout MAE: 0.750 (against mbg_nbd 0.750, bg_nbd 0.800)",
        "mbg_nbd": "holdout MAE 0.750, 0.000 above pareto_nbd",
        "bg_nbd": "holdout MAE 0.800, 0.050 above pareto_nbd",
    }


def test_a_model_fixed_by_config_goes_into_production_and_the_scorecard_names_the_better_one():
    settings = CustomerValueSettings(model="bg_nbd")
    chosen, reasons = choose_model(backtest_with({"bg_nbd": 0.80, "pareto_nbd": 0.75, "mbg_nbd": None}), settings)
    assert chosen == "bg_nbd"
    assert reasons["bg_nbd"] == "fixed by config (customer_value.model: bg_nbd); the lowest holdout MAE is pareto_nbd's (0.750)"
    assert reasons["pareto_nbd"] == reasons["mbg_nbd"] == "not chosen: customer_value.model fixes bg_nbd"


def test_when_no_candidate_can_be_scored_the_first_one_runs_and_every_reason_says_why():
    settings = CustomerValueSettings(candidates=("mbg_nbd", "bg_nbd"))
    chosen, reasons = choose_model(backtest_with({"mbg_nbd": None, "bg_nbd": None}), settings)
    assert chosen == "mbg_nbd"
    assert reasons == {
        "mbg_nbd": "no candidate could be scored on the holdout: mbg_nbd, the first candidate",
        "bg_nbd": "not scored: insufficient data: 20 repeat buyers, at least 30 needed",
    }


def test_a_fixed_model_must_be_one_of_the_candidates(tmp_path):
    (tmp_path / "p.csv").write_text("order_id,customer_id,order_ts,product_id,quantity,unit_price\n")
    config = write_config(tmp_path, {"sources": {"purchases": {"path": "p.csv"}},
                                     "customer_value": {"model": "pareto_nbd", "candidates": ["bg_nbd", "mbg_nbd"]}})
    with pytest.raises(ConfigError, match=r"customer_value.model 'pareto_nbd' is not among customer_value.candidates \['bg_nbd', 'mbg_nbd'\]"):
        load_settings(config)


# --- the seasonality warning and the scorecard history --------------------------------------------------


def purchase_days(daily: dict[int, int]) -> duckdb.DuckDBPyConnection:
    """Two years of purchase days, `daily[month]` of them on each day of that calendar month."""
    conn = duckdb.connect()
    conn.execute(
        "create table customer_purchase_days as "
        "select 'C' || n as customer_id, day::date as purchase_date, true as is_purchase_day "
        "from range(date '2023-01-01', date '2025-01-01', interval 1 day) as days(day), "
        "range(list_extract(?::integer[], month(day))) as copies(n)",
        [[daily.get(month, 10) for month in range(1, 13)]],
    )
    return conn


def test_a_holdout_shorter_than_a_year_of_a_seasonal_history_is_flagged():
    christmas = purchase_days({10: 14, 11: 16, 12: 15})
    note = seasonality_note(christmas, date(2024, 12, 31), held_out=92)
    assert note == (
        "the holdout covers 92 days, less than a year, of a seasonal history (trend removed, the three months "
        "around 2024-11 had 1.33x the purchase days of those around 2024-08): its scores measure the season "
        "as much as the models"
    )
    assert seasonality_note(christmas, date(2024, 12, 31), held_out=365) is None
    assert seasonality_note(purchase_days({}), date(2024, 12, 31), held_out=92) is None
    assert seasonality_note(christmas, date(2023, 6, 30), held_out=92) is None  # under 12 complete months


def test_the_history_keeps_one_scorecard_per_as_of_the_latest_run_replacing_the_same_nights():
    conn = duckdb.connect()

    def card(as_of: str, mae: float) -> pd.DataFrame:
        return pd.DataFrame({"model": ["bg_nbd", "pareto_nbd"], "holdout_end": [date.fromisoformat(as_of)] * 2,
                             "mae": [mae, mae - 0.01], "chosen": [False, True]})

    assert append_history(conn, card("2024-12-30", 0.80), datetime(2024, 12, 31, 2, 0)) == 2
    assert append_history(conn, card("2024-12-31", 0.79), datetime(2025, 1, 1, 2, 0)) == 4
    assert append_history(conn, card("2024-12-31", 0.78), datetime(2025, 1, 1, 9, 30)) == 4  # a re-run
    rows = conn.execute("select holdout_end::varchar, model, mae, scored_at::varchar from clv_model_selection_history "
                        "order by 1, 2").fetchall()
    assert rows == [
        ("2024-12-30", "bg_nbd", 0.80, "2024-12-31 02:00:00"),
        ("2024-12-30", "pareto_nbd", pytest.approx(0.79), "2024-12-31 02:00:00"),
        ("2024-12-31", "bg_nbd", 0.78, "2025-01-01 09:30:00"),
        ("2024-12-31", "pareto_nbd", pytest.approx(0.77), "2025-01-01 09:30:00"),
    ]


# --- the Pareto/NBD integrals ---------------------------------------------------------------------------


def test_the_pareto_integral_by_quadrature_agrees_with_its_series_where_both_apply():
    generator = np.random.default_rng(7)
    b = np.exp(generator.uniform(np.log(0.05), np.log(300), 2000))
    c = np.minimum(np.exp(generator.uniform(np.log(1e-5), np.log(40), 2000)), b + 1 - 1e-6)
    z = generator.uniform(0.5, 0.95, 2000)
    by_quadrature, by_series = _log_i_quadrature(b, b + 1 - c, z, 1 - z), _log_i_series(b, b + 1 - c, z, 1 - z)
    for quadrature, series in zip(by_quadrature, by_series):  # log I and its derivatives by b, d and z
        assert quadrature == pytest.approx(series, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("params", [
    [0.55, 10.6, 0.61, 11.7],  # CDNOW: alpha < beta
    [0.55, 11.7, 0.61, 10.6],  # alpha > beta
    [0.82, 0.07, 1e-3, 18.0],  # Online Retail's edge: beta far above alpha, the integrals by quadrature
])
def test_the_pareto_terms_gradients_are_their_derivatives(params):
    params = np.array(params)
    x = np.array([0.0, 1, 2, 5, 30, 120])
    times = np.array([0.0, 0.5, 2.0, 5.0, 9.0, 10.0])
    for term in (log_alive_term, log_dropout_term):
        _, gradient = term(params, x, times)
        for index in range(4):
            step = np.zeros(4)
            step[index] = 1e-6 * params[index]
            numeric = (term(params + step, x, times)[0] - term(params - step, x, times)[0]) / (2 * step[index])
            assert gradient[index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (term.__name__, index)


# --- reproducible fits -----------------------------------------------------------------------------------


def test_a_fit_gives_the_same_parameters_to_the_bit_however_many_blas_threads_the_process_allows():
    """A split sum's last bits depend on how it is split: OpenBLAS splits a long dot product over its
    threads, so the fits keep theirs on one thread, and a re-run on a machine with more cores fits
    the same parameters."""
    generator = np.random.default_rng(3)
    customers = 60_000  # long enough for OpenBLAS to split a dot product over threads
    frequency = generator.poisson(2.0, customers).astype(float)
    age = generator.uniform(10, 100, customers).round()
    recency = np.where(frequency > 0, np.minimum(age, generator.uniform(0, 100, customers)).round(), 0.0)
    monetary = generator.gamma(4.0, 10.0, customers).round(2)
    weights = np.ones(customers)
    repeat = frequency > 0

    def fits():
        purchases = {name: model.fit(frequency, recency, age, weights, 0.0).params for name, model in MODELS.items()}
        spend, log_likelihood = fit_gamma_gamma(frequency[repeat], monetary[repeat], weights[repeat])
        return purchases, spend.params_.to_dict(), log_likelihood

    fits_by_threads = []
    for threads in (1, os.cpu_count() or 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            fits_by_threads.append(fits())
    assert fits_by_threads[0] == fits_by_threads[1]


# --- on the real Online Retail data ---------------------------------------------------------------------


def test_on_online_retail_no_model_sees_dropout_and_lifecycle_judges_by_recency_saying_why(home):
    requires_shared_data("online_retail/online_retail.csv.gz")
    selection = "*customer_lifecycle"  # the lifecycle and everything it reads
    assert materialize(REPO / "examples" / "online_retail.yaml", home, selection=selection).success
    with connect(home) as conn:
        scorecard = conn.execute("select model, status, note from clv_model_selection").df()
        production = conn.execute("select status from clv_model where model <> 'gamma_gamma'").fetchone()[0]
        clv = conn.execute("select count(*), count(p_alive), count(clv_12m), any_value(clv_status) from customer_clv").fetchone()
        stages = conn.execute(
            "select stage, stage_rule from customer_lifecycle join customer_rfm using (customer_id) where frequency > 1"
        ).df()
    not_informative = "no dropout visible in the history: P(alive) not informative"
    assert scorecard["status"].str.startswith(not_informative).all(), scorecard["status"].tolist()
    assert scorecard["note"].str.startswith("the holdout covers 93 days, less than a year, of a seasonal history").all()
    assert production.startswith(not_informative)
    customers, with_p_alive, with_clv, status = clv
    assert with_p_alive == 0 and with_clv == customers and status == production
    at_risk = stages.loc[stages["stage"] == "at_risk", "stage_rule"]
    assert len(at_risk) > 100
    assert at_risk.str.contains(f"judged by recency as P(alive) is not available: {not_informative}", regex=False).all()
    assert not stages["stage_rule"].str.contains("P(alive) 0", regex=False).any()


def test_the_backtest_scores_do_not_depend_on_the_order_of_the_calibration_groups():
    # groups sharing (frequency, recency, T) and differing in their actual purchases: sums over them
    # in the order rows happen to arrive would differ in the last bits from run to run
    from assets.customer_value.modeling import SQL

    rng = np.random.default_rng(7)
    n = 20_000
    groups = pd.DataFrame({
        "model": "bg_nbd",
        "frequency": rng.integers(0, 3, n), "recency": rng.integers(0, 3, n).astype(float), "T": 10.0,
        "customers": rng.integers(1, 50, n), "actual": rng.integers(0, 5000, n), "p_alive": rng.random(n),
    }).drop_duplicates(["frequency", "recency", "T", "actual"])
    groups["predicted"] = groups["frequency"] * 0.1 + groups["recency"] / 3 + 1e-3
    scores = []
    for order in (groups, groups.sample(frac=1, random_state=1)):
        conn = duckdb.connect()
        conn.execute("set threads = 1")
        conn.register("order_frame", order.reset_index(drop=True))
        conn.execute("create table clv_backtest_compared as select * from order_frame")
        scores.append((conn.execute((SQL / "clv_model_scores.sql").read_text()).fetchall(),
                       conn.execute((SQL / "clv_backtest_by_frequency.sql").read_text()).fetchall()))
    assert scores[0] == scores[1]
