"""One benchmark contender, run in a process of its own so its peak memory is its own.

`python -m bench.measure NAME CONFIG HOME CSV` prints one JSON line: the seconds of the measured
work (imports and set-up excluded) and any counts worth reporting.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

MEMORY_LIMIT = os.environ.get("LIFECYCLE_DUCKDB_MEMORY", "1GB")
LOAD_MEMORY_LIMIT = os.environ.get("LIFECYCLE_DUCKDB_LOAD_MEMORY", "1500MB")
SPARK_DRIVER_MEMORY = "4g"


def duckdb_read_csv(config: Path, home: Path, csv: Path) -> dict:
    """The floor for ingestion: DuckDB's own typed CSV reader into a table, nothing else."""
    with duckdb.connect(str(home / "floor.duckdb"), config={"memory_limit": LOAD_MEMORY_LIMIT}) as conn:
        started = time.perf_counter()
        conn.execute(f"create or replace table raw_purchases as select * from read_csv('{csv}')")
        seconds = time.perf_counter() - started
        rows = conn.execute("select count(*) from raw_purchases").fetchone()[0]
    return {"seconds": seconds, "rows": rows}


def pandas_read_csv(config: Path, home: Path, csv: Path) -> dict:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def project_ingest(config: Path, home: Path, csv: Path) -> dict:
    """The project's purchases load: typing, quarantine, duplicates, audit (checks timed apart)."""
    from assets.ingest.checks import trustworthy, validate_table
    from assets.ingest.loading import sync_source
    from common.sources import plan_sources
    from common.config import load_settings
    from common.resources import warehouse_path

    database = warehouse_path(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database), config={"memory_limit": LOAD_MEMORY_LIMIT}) as conn:
        started = time.perf_counter()
        plans = plan_sources(load_settings(config))
        report = sync_source(conn, plans["purchases"], datetime.now())
        load_seconds = time.perf_counter() - started
        for name in plans.keys() - {"purchases"}:
            sync_source(conn, plans[name], datetime.now())  # unconfigured: empty tables for later stages
        started = time.perf_counter()
        outcome = validate_table(conn, "purchases", trustworthy("purchases"))
        check_seconds = time.perf_counter() - started
    (load,) = report.loaded
    return {
        "seconds": load_seconds,
        "check_seconds": check_seconds,
        "rows": load.rows_read,
        "rows_loaded": load.rows_loaded,
        "rows_quarantined": load.rows_quarantined,
        "checks_passed": bool((outcome["unexpected"] == 0).all()),
    }


def materialize_selection(config: Path, home: Path, selection: str) -> dict:
    """Materialize part of the real graph; seconds are the sum of its steps' own durations."""
    import dagster as dg

    from pipelines.definitions import defs
    from common.resources import build_resources

    started = time.perf_counter()
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=selection,
        resources=build_resources(str(config), home),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    wall = time.perf_counter() - started
    durations = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    failed = [event.step_key for event in result.all_events if event.is_step_failure]
    if failed or not durations:
        raise SystemExit(f"selection {selection!r}: failed steps {failed}, succeeded {sorted(durations)}")
    # the contracts' checks run as steps of their own: timed apart, so asset steps stay comparable
    check_steps = {check.node_def.name for check in defs.asset_checks or []}
    steps = {step: seconds for step, seconds in durations.items() if step not in check_steps}
    checks = {step: seconds for step, seconds in durations.items() if step in check_steps}
    return {
        "seconds": sum(steps.values()), "check_seconds": sum(checks.values()), "wall_seconds": wall,
        "steps": steps, "check_steps": checks, "failed_steps": failed,
    }


def project_customer_value(config: Path, home: Path, csv: Path) -> dict:
    """RFM + CLV as the pandas + lifetimes script does them: from purchase lines to per-customer CLV,
    with the model the backtest's scorecard chose (so project_clv_backtest runs first)."""
    return materialize_selection(
        config, home,
        "key:analysis_scope or key:purchase_lines or key:customer_purchase_days "
        "or key:customer_rfm or key:clv_model or key:customer_clv",
    )


def project_clv_backtest(config: Path, home: Path, csv: Path) -> dict:
    """The nightly backtest of every candidate model (refits with the holdout hidden, scoring, the
    scorecard): its own step; the purchase days it reads are built first and timed apart."""
    measured = materialize_selection(
        config, home,
        "key:analysis_scope or key:purchase_lines or key:customer_purchase_days "
        "or key:clv_backtest or key:clv_model_selection or key:clv_model_selection_history",
    )
    return {**measured, "seconds": measured["steps"]["clv_backtest"]}


def project_model_fits(config: Path, home: Path, csv: Path) -> dict:
    """Each candidate purchase model fitted alone, from scratch, on the full history's distinct rows
    (production fits only the chosen one, starting from its backtest parameters)."""
    from assets.customer_value.modeling import define_summary_as_of, read_model_input
    from assets.customer_value.purchase_models import MODELS
    from common.config import load_settings
    from common.resources import warehouse_path

    with duckdb.connect(str(warehouse_path(home)), read_only=True) as conn:
        define_summary_as_of(conn, load_settings(config).time_unit)
        model_input = read_model_input(conn, "clv_summary")
    rows, seconds = model_input.rows, {}
    for name, model in MODELS.items():
        started = time.perf_counter()
        model.fit(rows["frequency"], rows["recency"], rows["T"], rows["weight"], 0.0)
        seconds[name] = time.perf_counter() - started
    return {"seconds": sum(seconds.values()), "fit_seconds": seconds, "customers": model_input.customers,
            "distinct_rows": len(rows)}


def project_chain_labels(config: Path, home: Path, csv: Path) -> dict:
    """The chain labels themselves: purchase_chains."""
    return materialize_selection(config, home, "key:purchase_chains")


def project_chains(config: Path, home: Path, csv: Path) -> dict:
    return materialize_selection(config, home, "group:chains")


def project_whole_graph(config: Path, home: Path, csv: Path) -> dict:
    return materialize_selection(config, home, "*")


def spark_whole_graph(config: Path, home: Path, csv: Path) -> dict:
    """The whole graph on `engine: spark`, local[*]: the same steps as project_whole_graph on a
    Spark session started first (its start-up timed apart) and used by the run. The peak memory
    measured around the process is Python's; the JVM's own peak (VmHWM) is reported beside it."""
    from common.config import load_settings
    from common.resources import warehouse_path
    from common.spark import spark_session

    os.environ["LIFECYCLE_ENGINE"] = "spark"
    os.environ.setdefault("LIFECYCLE_SPARK_MASTER", "local[*]")
    settings = load_settings(config)
    # local mode runs the executors in the driver's JVM: it gets the memory DuckDB may use and more
    conf = {"spark.driver.memory": SPARK_DRIVER_MEMORY, **settings.spark.conf}
    started = time.perf_counter()
    spark = spark_session(settings.spark.model_copy(update={"conf": conf}), warehouse_path(home).parent / "spark")
    spark.sparkContext.setLogLevel("ERROR")
    session_seconds = time.perf_counter() - started
    try:
        measured = materialize_selection(config, home, "*")
        jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        status = Path(f"/proc/{jvm}/status").read_text()
        jvm_peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    finally:
        spark.stop()
    return {**measured, "session_seconds": session_seconds, "master": settings.spark.master, "jvm_peak_mb": jvm_peak_mb}


def duckdb_customer_group_by(config: Path, home: Path, csv: Path) -> dict:
    """The floor for RFM+CLV: one DuckDB group-by per customer over the same purchase file, stored
    as a table like the project stores its results."""
    with duckdb.connect(str(home / "floor.duckdb"), config={"memory_limit": MEMORY_LIMIT}) as conn:
        started = time.perf_counter()
        conn.execute(
            f"""
            create or replace table floor_customers as
            select customer_id, count(distinct cast(order_date as date)) as purchase_days,
                   max(cast(order_date as date)) as last_purchase, sum(qty * unit_price) as spend
            from read_csv('{csv}')
            group by customer_id
            """
        )
        seconds = time.perf_counter() - started
        customers = conn.execute("select count(*) from floor_customers").fetchall()[0][0]
    return {"seconds": seconds, "customers": customers}


def duckdb_purchases_pass(config: Path, home: Path, csv: Path) -> dict:
    """The floor for chains: one DuckDB aggregation pass over the loaded purchases, stored as a table
    in the warehouse like the chain tables are."""
    from common.resources import warehouse_path

    with duckdb.connect(str(warehouse_path(home)), config={"memory_limit": MEMORY_LIMIT}) as conn:
        started = time.perf_counter()
        conn.execute(
            "create or replace table floor_one_pass as "
            "select customer_id, order_date, sum(amount) as amount from purchases group by all"
        )
        seconds = time.perf_counter() - started
        conn.execute("drop table floor_one_pass")
    return {"seconds": seconds}


def pandas_lifetimes(config: Path, home: Path, csv: Path) -> dict:
    from bench.clv_baseline import pandas_lifetimes_clv, with_project_outputs
    from common.config import load_settings

    settings = load_settings(config)
    started = time.perf_counter()
    baseline = pandas_lifetimes_clv(str(csv), str(settings.as_of) if settings.as_of else None, settings.time_unit)
    seconds = time.perf_counter() - started
    with_project_outputs(baseline, settings.time_unit)
    return {
        "seconds": seconds,
        "same_outputs_seconds": time.perf_counter() - started,
        "customers": len(baseline.summary),
    }


CONTENDERS = {
    function.__name__: function
    for function in (
        duckdb_read_csv, pandas_read_csv, project_ingest, project_customer_value, project_clv_backtest, project_model_fits,
        project_chain_labels, project_chains, project_whole_graph, spark_whole_graph, duckdb_customer_group_by,
        duckdb_purchases_pass,
        pandas_lifetimes,
    )
}


if __name__ == "__main__":
    name, config, home, csv = sys.argv[1:5]
    print(json.dumps(CONTENDERS[name](Path(config), Path(home), Path(csv))))
