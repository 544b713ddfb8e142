"""The Spark engine: its config, where the warehouse's folders are reached from, and the translation
of the project's DuckDB SQL, expression by expression. That every table comes out equal to DuckDB's
is tests/test_spark_graph.py's proof (the whole graph, locally, on a cluster and over Spark Connect).
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from common.config import ConfigError, load_settings
from tests.conftest import REPO, free_port, write_config

# --- config ------------------------------------------------------------------------------------


def sample_config(tmp_path: Path, **extra) -> Path:
    return write_config(tmp_path, {"sources": {"purchases": {"path": str(REPO / "data/sample/purchases")}}, **extra})


def test_the_engine_is_duckdb_unless_the_config_says_spark(tmp_path):
    settings = load_settings(sample_config(tmp_path))
    assert settings.engine == "duckdb"
    assert settings.spark.master == "local[*]" and settings.spark.remote is None
    spark = load_settings(sample_config(tmp_path, engine="spark", spark={"master": "spark://10.0.0.5:7077", "conf": {"spark.executor.memory": "4g"}}))
    assert (spark.engine, spark.spark.master, spark.spark.conf) == ("spark", "spark://10.0.0.5:7077", {"spark.executor.memory": "4g"})


@pytest.mark.parametrize(
    ("spark", "message"),
    [
        ({"master": "localhost"}, "'spark.master': 'localhost' is not a Spark master URL"),
        ({"remote": "http://host:15002"}, "'spark.remote': 'http://host:15002' is not a Spark Connect URL"),
        ({"master": "local[2]", "remote": "sc://host:15002"}, "give either 'master'"),
        ({"cores": 4}, "unknown key 'spark.cores'"),
    ],
)
def test_a_spark_section_that_cannot_work_is_a_config_error_naming_the_key(tmp_path, spark, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_settings(sample_config(tmp_path, engine="spark", spark=spark))


def test_an_engine_that_does_not_exist_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'engine'"):
        load_settings(sample_config(tmp_path, engine="postgres"))


def test_the_environment_chooses_the_engine_and_the_cluster(tmp_path, monkeypatch):
    config = sample_config(tmp_path, spark={"remote": "sc://gateway:15002"})
    monkeypatch.setenv("LIFECYCLE_ENGINE", "spark")
    monkeypatch.setenv("LIFECYCLE_SPARK_MASTER", "spark://127.0.0.1:7077")
    settings = load_settings(config)
    assert (settings.engine, settings.spark.master, settings.spark.remote) == ("spark", "spark://127.0.0.1:7077", None)


@pytest.mark.parametrize(
    ("location", "folder"),
    [
        ("file:/data/spark/main.db", "/data/spark/main.db"),
        ("file:///data/spark/main.db/purchases", "/data/spark/main.db/purchases"),
        ("/data/spark/main.db", "/data/spark/main.db"),
        ("/data/night:2/main.db", "/data/night:2/main.db"),
        ("hdfs://namenode:8020/data/spark/main.db", None),
        ("s3a://bucket/spark/main.db", None),
        ("file://fileserver/data/spark/main.db", None),
    ],
)
def test_the_warehouse_folders_python_reaches_are_the_local_ones(location, folder):
    """Python lists and removes the warehouse's folders where they are local (always so over Spark
    Connect, whose client has no JVM); another file system goes through Hadoop's, on the driver."""
    from common.spark import local_path

    assert local_path(location) == (Path(folder) if folder else None)


def test_a_spark_connect_url_nothing_listens_at_stops_at_once_naming_it():
    from common.config import SparkSettings
    from common.spark import connect_session

    port = free_port()
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"'spark.remote': no Spark Connect server answers at 127.0.0.1:{port} \(Connection refused\)"):
        connect_session(SparkSettings(remote=f"sc://127.0.0.1:{port}"))
    assert time.monotonic() - started < 10


# --- translation -------------------------------------------------------------------------------

# DuckDB expressions whose Spark translation must mean the same: each is evaluated on both engines
# over the same little table and must give the same value.
SAME_MEANING = {
    "a date minus a date (columns named as dates are) is a number of days": "max(order_date) - min(order_date)",
    "a difference of dates compares with a number": "(max(order_date) - min(order_date)) > 30",
    "dividing decimals gives a double": "sum(amount) / 3",
    "dividing integers gives a double": "count(*) / 4",
    "the average of decimals is a double": "avg(amount)",
    "quantile_cont interpolates": "quantile_cont(amount, 0.3)",
    "quantile_disc picks a value": "quantile_disc(n, 0.4)",
    "a list of quantiles, indexed from 1": "quantile_disc(n, [0.2, 0.8])[2]",
    "the median": "median(n)",
    "format with placeholders": "format('{} of {:.2f}', count(*), avg(amount))",
    "the latest value": "arg_max(n, order_date)",
    "a filtered count": "count(*) filter (where n > 2)",
    "integer division": "max(n) // 2",
    "a list in order, counted from the end": "list(n order by order_date)[-2]",
    "any_value skips nulls": "any_value(case when n > 3 then n end)",
    "a sum in a fixed order": "sum(amount::double / 3 order by order_date)",
    "a filtered integer sum in a fixed order": "sum(n order by order_date) filter (where n > 2)",
    "a sum in a fixed order of nothing is null": "sum(n order by order_date) filter (where n > 9)",
    "an average in a fixed order": "avg(amount::double order by n desc)",
}
SAMPLE_ROWS = "select * from (values (1, date '2024-01-05', 10.25::decimal(18, 4)), (2, date '2024-03-01', 3.5::decimal(18, 4)), (3, date '2024-02-10', 7.125::decimal(18, 4)), (4, date '2024-01-20', 1.0::decimal(18, 4)), (5, date '2024-04-30', 2.0::decimal(18, 4))) as rows(n, order_date, amount)"


@pytest.mark.parametrize("expression", SAME_MEANING.values(), ids=SAME_MEANING.keys())
def test_duckdb_sql_means_the_same_on_spark(spark, expression):
    from common.spark import SparkConnection

    query = f"select {expression} as value from ({SAMPLE_ROWS})"
    with duckdb.connect() as duck:
        expected = duck.execute(query).fetchall()[0][0]
    actual = SparkConnection(spark).execute(query).fetchone()[0]
    assert_equal_values(expected, actual)


def test_a_models_lookup_is_sent_whole_to_the_executors_however_large_it_grows(spark):
    """Scoring joins the per-customer rows to the models' per-(frequency, T) lookups: the lookups
    are broadcast, not shuffled with the customers, even past Spark's size threshold for doing so."""
    from common.spark import SparkConnection

    conn = SparkConnection(spark)
    # names of their own: the session is shared with the other Spark tests, whose warehouses have `customers`
    conn.register("probe_lookup", pd.DataFrame({"frequency": range(100), "value": [f / 2 for f in range(100)]}))
    spark.range(10_000).selectExpr("id % 100 as frequency", "id").createOrReplaceTempView("probe_customers")
    threshold = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # Spark would broadcast nothing by itself
    try:
        scored = spark.sql("select id, value from probe_customers join probe_lookup using (frequency)")
        plan = scored._jdf.queryExecution().executedPlan().toString()
        assert "BroadcastHashJoin" in plan and "SortMergeJoin" not in plan
        assert scored.count() == 10_000
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", threshold)
        conn.unregister("probe_lookup")
        spark.catalog.dropTempView("probe_customers")


def test_a_numbering_in_no_order_gives_every_row_a_key_of_its_own_on_both_engines(spark):
    """`row_number() over ()` (chain_breakers' day id): Spark numbers rows only in an order, so there
    it is monotonically_increasing_id(), unique as well."""
    from common.spark import SparkConnection

    query = f"select count(distinct row_key) = count(*) and count(*) = 5 from (select row_number() over () as row_key from ({SAMPLE_ROWS}))"
    with duckdb.connect() as duck:
        assert duck.execute(query).fetchone()[0] is True
    assert SparkConnection(spark).execute(query).fetchone()[0] is True


def test_a_duckdb_macro_is_expanded_where_it_is_used(spark):
    from common.spark import SparkConnection

    conn = SparkConnection(spark)
    conn.execute(
        "create or replace temp macro days_between(start_date, end_date) as end_date - start_date;"
        "create or replace temp macro late(a, b) as days_between(a, b) > 30"
    )
    assert conn.execute("select late(date '2024-01-01', date '2024-03-01'), days_between(date '2024-01-01', $day)", {"day": "2024-01-11"}).fetchone() == (True, 10)


# --- comparing values across engines -----------------------------------------------------------


def assert_equal_values(expected, actual, where: str = "value") -> None:
    if isinstance(expected, float) or isinstance(actual, float):
        if expected is None or actual is None:
            assert expected is None and actual is None, f"{where}: {expected!r} != {actual!r}"
        elif math.isnan(float(expected)):
            assert math.isnan(float(actual)), f"{where}: {expected!r} != {actual!r}"
        else:
            assert float(actual) == pytest.approx(float(expected), rel=1e-9, abs=1e-12), f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, Decimal) and isinstance(actual, Decimal):
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, list) and isinstance(actual, list):
        assert len(expected) == len(actual), f"{where}: {expected!r} != {actual!r}"
        for left, right in zip(expected, actual, strict=True):
            assert_equal_values(left, right, where)
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


def test_the_profile_built_in_parts_is_built_on_spark_with_the_rows_it_has_on_duckdb(spark, tmp_path, monkeypatch):
    """Spark builds the profile in one statement of every customer, however many a DuckDB part
    holds: the variables naming the part are set before Spark first plans its SELECT (for the
    column names), where an unset one is an error (on DuckDB it reads as null)."""
    from assets.actions import building as actions_building
    from assets.actions.building import build_customer_profile
    from common.spark import SparkConnection
    from common.warehouse import literal, quote
    from tests.test_customer_actions import profile

    duck = profile(with_sources=True)
    spark.sql("drop database if exists main cascade")
    conn = SparkConnection(spark)
    try:
        inputs = duck.execute("select table_name from duckdb_tables() where table_name <> 'customer_profile'").fetchall()
        for (table,) in inputs:
            file = tmp_path / f"{table}.parquet"
            duck.execute(f"copy {quote(table)} to {literal(str(file))} (format parquet)")
            spark.read.parquet(str(file)).write.saveAsTable(f"main.{table}")
        monkeypatch.setattr(actions_building, "PROFILE_PART_CUSTOMERS", 1)  # three parts on DuckDB
        assert build_customer_profile(conn) == 3
        on_spark = spark.table("main.customer_profile")
        on_duckdb = duck.execute("select * from customer_profile")
        assert on_spark.columns == [column[0] for column in on_duckdb.description]
        assert sorted(tuple(row) for row in on_spark.collect()) == sorted(on_duckdb.fetchall())
    finally:
        spark.catalog.dropTempView("customer_attributes")
        spark.sql("drop database if exists main cascade")
