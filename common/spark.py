"""The Spark engine: a session from the config, and a connection that runs the project's DuckDB SQL on it.

The assets talk to the warehouse through a connection's `execute(sql, params)` and the helpers in
`common.warehouse`. `SparkConnection` offers the same calls over a SparkSession: every SQL text is
translated once by `common.dialects`, `$name` parameters are bound as Spark named parameters and
`?` as positional ones (never formatted into the SQL), and tables are Parquet tables in the Spark
database `main`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import sqlglot
from sqlglot import exp

from common.config import ConfigError, SparkSettings
from common.dialects import macro_definitions, spark_statements
from common.warehouse import Parts, quote as quote_duckdb, select_part

DATABASE = "main"
# DuckDB statements that have no Spark counterpart and need none: Spark writes each table in one
# job, and there is no open file to checkpoint.
NO_OPS = re.compile(r"^\s*(begin transaction|begin|commit|rollback|checkpoint)\s*;?\s*$", re.IGNORECASE)
_SET_VARIABLE = re.compile(r"^\s*set\s+variable\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\?\s*;?\s*$", re.IGNORECASE)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


# Settings of the session's SQL, which a session may change at any time (also over Spark Connect).
SESSION_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    # small tables are many here: a few partitions per shuffle, Spark coalescing them further
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
}


def spark_session(settings: SparkSettings, warehouse_dir: Path, app_name: str = "retail-lifecycle"):
    """The session for a run: the one already active in this process (tests, a notebook), else a new
    one on the configured master, or a Spark Connect session (`connect_session`). Inside an
    application started by spark-submit, the master and settings given to spark-submit stand (the
    config's `spark.conf` is applied over them), so a cluster's usual submit command decides where
    the run goes."""
    from pyspark.sql import SparkSession

    if settings.remote:
        return connect_session(settings, app_name)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    if not submitted():
        builder = builder.master(settings.master)
    defaults = {
        "spark.sql.warehouse.dir": str(warehouse_dir),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **SESSION_DEFAULTS,
    }
    for key, value in {**defaults, **{key: str(value) for key, value in settings.conf.items()}}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def connect_session(settings: SparkSettings, app_name: str = "retail-lifecycle"):
    """A session on the Spark Connect server at `settings.remote`. The server was launched with its
    own settings (memory, cores, the UI, its default warehouse folder: the tables' folder is given
    when the database is created), so of `spark.conf` a client can only set what a session may
    change. Each setting is set on its own; one the server refuses (a launch setting such as
    spark.executor.memory) stops the run with a config error naming it, rather than being ignored
    as pyspark's builder does."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import SparkSession

    reach(settings.remote)
    spark = SparkSession.builder.remote(settings.remote).appName(app_name).getOrCreate()
    refused = {}
    for key, value in {**SESSION_DEFAULTS, **{key: str(value) for key, value in settings.conf.items()}}.items():
        try:
            spark.conf.set(key, value)
        except AnalysisException as error:
            refused[key] = error.getCondition() or str(error).splitlines()[0]
    if refused:
        spark.stop()
        raise ConfigError(
            f"'spark.conf': the Spark Connect server at {settings.remote} does not let a session set "
            + ", ".join(f"{key} ({reason})" for key, reason in refused.items())
            + "; give them where the server is started (start-connect-server.sh --conf KEY=VALUE) and remove them here"
        )
    return spark


def reach(url: str, timeout_seconds: float = 10) -> None:
    """Stop at once when nothing listens at a Spark Connect URL: pyspark's client retries a refused
    connection with backoff for many minutes (more than 6 here) before it fails."""
    address = urlparse(url)
    host, port = address.hostname, address.port or CONNECT_PORT
    try:
        socket.create_connection((host, port), timeout=timeout_seconds).close()
    except OSError as error:
        raise ConfigError(
            f"'spark.remote': no Spark Connect server answers at {host}:{port} ({error.strerror or error}); "
            "start it (sbin/start-connect-server.sh) or correct the URL"
        ) from None


CONNECT_PORT = 15002  # Spark Connect's port when the URL names none


def attach_warehouse(spark, location: Path, database: str = DATABASE) -> list[str]:
    """Make the tables of earlier runs visible to this session: the database `database` at `location`,
    and each table folder found there registered as a Parquet table. Spark's default catalog lives
    in memory, so without this a new process (the next night, a run launched from the UI) would not
    see yesterday's tables, and loads by file hash need `load_audit` and the canonical tables. The
    folders are the catalog: nothing else to keep in step, no metastore to run or lock. Folders of
    a write that broke off (`<table>__new`, `<table>__rewrite`) are not tables. Returns the tables
    registered.

    A Spark Connect server keeps its catalog for all its sessions: a database of that name it
    already holds elsewhere (another warehouse's) stops the run rather than taking its tables."""
    spark.sql(f"create database if not exists {quote(database)} location :location", args={"location": str(location)})
    found = spark.sql(f"describe database {quote(database)}").where("info_name = 'Location'").first().info_value
    folder = local_path(unquote(found))  # a database's location is a URI, a table's a plain path
    if connected(spark) and folder != Path(location).resolve():
        raise ConfigError(
            f"the Spark session's database '{database}' is at {folder}, not in this run's warehouse {location}: "
            "a Spark Connect server holds one catalog for all its clients, so give each warehouse its own server"
        )
    registered = []
    for name, path in table_folders(spark, found):
        if spark.catalog.tableExists(f"{database}.{name}"):
            continue
        spark.catalog.createTable(f"{quote(database)}.{quote(name)}", path=path, source="parquet")
        registered.append(name)
    return sorted(registered)


# suffixes of the names tables are written under before they are swapped in
UNFINISHED = ("__new", "__rewrite")


def drop_table(spark, table: str, database: str = DATABASE) -> None:
    """Drop a table of `database` with its files. A table registered from its folder by
    `attach_warehouse` is external to Spark, whose DROP TABLE would keep the folder, and the next
    table of that name could not be written there."""
    name = f"{quote(database)}.{quote(table)}"
    if not spark.catalog.tableExists(f"{database}.{table}"):
        return
    location = spark.sql(f"describe table extended {name}").where("col_name = 'Location'").first()
    spark.sql(f"drop table {name}")
    if location is not None:
        remove_folder(spark, location.data_type)


# --- the warehouse's folders ---------------------------------------------------------------------
# On a local file system (file:, which is also where Spark Connect's contract puts the warehouse:
# a folder the Dagster process and the cluster see at the same path) Python lists and removes the
# folders, which works from a Spark Connect client as from a driver. Only another file system
# (hdfs:, s3a:, ...) needs Hadoop's FileSystem, reached through the driver's JVM, which a Connect
# client does not have.


def table_folders(spark, location: str) -> list[tuple[str, str]]:
    """(name, location) of each table folder under a database's location: a folder holding Parquet
    files (one created but never written is made again by the step that creates it), not hidden
    and not a write that broke off."""
    def is_table(name: str) -> bool:
        return not name.startswith(("_", ".")) and not name.endswith(UNFINISHED)

    folder = local_path(unquote(location))  # a database's location is a URI
    if folder is not None:
        if not folder.is_dir():
            return []
        return [
            (entry.name, str(entry)) for entry in sorted(folder.iterdir())
            if entry.is_dir() and is_table(entry.name) and any(part.suffix == ".parquet" for part in entry.iterdir())
        ]
    filesystem, folder = hadoop_filesystem(spark, location)
    if not filesystem.exists(folder):
        return []
    return [
        (status.getPath().getName(), status.getPath().toString()) for status in filesystem.listStatus(folder)
        if status.isDirectory() and is_table(status.getPath().getName())
        and any(part.getPath().getName().endswith(".parquet") for part in filesystem.listStatus(status.getPath()))
    ]


def remove_folder(spark, location: str) -> None:
    folder = local_path(location)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    filesystem, folder = hadoop_filesystem(spark, location)
    if filesystem.exists(folder):
        filesystem.delete(folder, True)


def local_path(location: str) -> Path | None:
    """The folder a Spark location names on the local file system (`file:/x`, `file:///x`, `/x`),
    else None."""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", location)
    if scheme is None:
        return Path(location).resolve()
    rest = location[scheme.end():]
    if scheme.group(1) != "file" or rest.startswith("//") and not rest.startswith("///"):
        return None  # another file system, or a file: URI naming a host
    return Path("/" + rest.lstrip("/")).resolve()


def hadoop_filesystem(spark, location: str):
    """Hadoop's FileSystem for a location that is not local, and its path, through the driver's JVM."""
    if connected(spark):
        raise ConfigError(
            f"the Spark warehouse is at {location}, which is not a local path: over Spark Connect the warehouse, "
            "the sources and the exports must be in a folder the Dagster process and the cluster both see at the "
            "same path (a shared mount); set spark.warehouse_dir to such a folder"
        )
    jvm = spark.sparkContext._jvm
    folder = jvm.org.apache.hadoop.fs.Path(location)
    return folder.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), folder


def connected(spark) -> bool:
    """Whether a session is a Spark Connect client's (no JVM, no SparkContext in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def submitted() -> bool:
    """Whether this Python process is the driver of an application spark-submit started: spark-submit
    launches the JVM first and hands its gateway to Python."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


class SparkResult:
    """What `execute` returns: the rows of the last statement, read like a DuckDB result."""

    def __init__(self, frame):
        self.frame = frame
        self._rows = None

    def fetchall(self) -> list[tuple]:
        if self._rows is None:
            self._rows = [] if self.frame is None else [tuple(row) for row in self.frame.collect()]
        return self._rows

    def fetchone(self):
        rows = self.fetchall()
        return rows[0] if rows else None

    def df(self) -> pd.DataFrame:
        """Small results only (a chart's rows): collected to the driver."""
        columns = [] if self.frame is None else self.frame.columns
        return pd.DataFrame(self.fetchall(), columns=columns)


class SparkConnection:
    """The warehouse on Spark, with the calls the assets make on a DuckDB connection."""

    engine = "spark"

    def __init__(self, spark, database: str = DATABASE):
        self.spark = spark
        self.database = database
        self.macros: dict[str, object] = {}  # the DuckDB macros this connection defined, by name
        spark.sql(f"create database if not exists {quote(database)}")
        spark.catalog.setCurrentDatabase(database)

    # --- what a DuckDB connection offers ------------------------------------------------------

    def execute(self, sql: str, params: dict | list | tuple | None = None) -> SparkResult:
        if NO_OPS.match(sql):
            return SparkResult(None)
        variable = _SET_VARIABLE.match(sql)
        if variable:  # DuckDB's `set variable x = ?`: a Spark session variable, its value bound
            name = quote(variable.group(1))
            self.spark.sql(f"declare or replace variable {name} = :value", args={"value": plain(params[0])})
            return SparkResult(None)
        frame = None
        for macro in macro_definitions(sql) if "macro" in sql.lower() else ():
            self.macros[macro.name] = macro
        for statement in self.translate(sql):
            frame = self._run(statement, params)
        return SparkResult(frame)

    def translate(self, sql: str) -> tuple[str, ...]:
        return spark_statements(sql, tuple(self.macros.values()))

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """A small pandas frame (model output, a lookup) as a temp view, hinted for broadcast: a join
        with it sends it whole to every executor instead of shuffling the per-customer side, however
        large the lookup grows (unhinted, Spark broadcasts only under autoBroadcastJoinThreshold, 10 MB)."""
        from pyspark.sql import functions as F

        F.broadcast(self.from_pandas(frame)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        pass

    def write_file(self, frame, target: Path, file_format: str, options: dict | None = None) -> Path:
        """A Spark DataFrame as one file at `target` (Parquet or CSV), written by one executor task
        (nothing collected to the driver) into a folder beside the target and moved onto it. The
        target is on a filesystem the driver and the executors share, as the exports are."""
        target = Path(target)
        parts = target.with_name(f".{target.name}.parts")
        frame.coalesce(1).write.format(file_format).options(**(options or {})).mode("overwrite").save(str(parts))
        (written,) = [path for path in parts.iterdir() if path.name.startswith("part-")]
        os.replace(written, target)
        shutil.rmtree(parts)
        return target

    def _run(self, statement: str, params):
        tree = sqlglot.parse_one(statement, read="spark") if statement.lstrip().upper().startswith("CREATE") else None
        if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.args.get("properties") and any(
            isinstance(prop, exp.TemporaryProperty) for prop in tree.args["properties"].expressions
        ):
            # a DuckDB temp table: a cached temp view, gone with the session
            name = tree.this.name
            select = tree.expression.sql(dialect="spark")
            self.spark.catalog.dropTempView(name)
            return self.spark.sql(f"cache table {quote(name)} as {select}", args=bound(select, params))
        if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.expression is not None:
            self.create_table_as(tree.this.name, tree.expression.sql(dialect="spark"), params)
            return None
        return self.spark.sql(statement, args=bound(statement, params))

    # --- what common.warehouse asks of an engine (its Engine protocol) -------------------------

    def create_table_as(self, table: str, select: str, params=None) -> None:
        """`table` (replacing it) as a Parquet table holding the rows of `select` (Spark SQL). Written
        under a new name first and swapped in, so a failed query keeps the old table."""
        staged = f"{table}__new"
        drop_table(self.spark, staged, self.database)
        frame = self.spark.sql(select, args=bound(select, params))
        frame.write.format("parquet").mode("overwrite").saveAsTable(f"{quote(self.database)}.{quote(staged)}")
        drop_table(self.spark, table, self.database)
        self.spark.sql(f"alter table {quote(self.database)}.{quote(staged)} rename to {quote(self.database)}.{quote(table)}")

    def create_table(
        self, table: str, select: str, params=None, unordered: bool = False, parts: Parts | None = None,
    ) -> int:
        """A Spark table has no row order to keep (`unordered` changes nothing), and one built in
        parts is built in one statement of every key: Spark's joins are partitioned already."""
        if parts is not None:
            select_part(self)
        statements = self.translate(select)
        self.create_table_as(table, statements[-1], params)
        return self.row_count(table)

    def create_temp_table(self, table: str, select: str, params=None, parts: Parts | None = None) -> int:
        """In parts or not, one statement of every key (see create_table)."""
        if parts is not None:
            select_part(self)
        self.execute(f"create or replace temp table {quote_duckdb(table)} as\n{select}", params)
        return self.row_count(table)

    def create_view(self, view: str, select: str, temporary: bool = False) -> None:
        (statement,) = self.translate(select)
        self.spark.sql(f"create or replace {'temporary ' if temporary else ''}view {quote(view)} as\n{statement}")

    def from_pandas(self, frame: pd.DataFrame, table: str | None = None):
        """A pandas frame as a Spark DataFrame. Spark infers each column's type from its values; a
        column with none (no rows, or nothing but nulls: no survey, a model not fitted) takes the type
        the contract of `table` declares (DuckDB's NULL type works as any), else its pandas type,
        else text."""
        if len(frame.columns) and (frame.empty or frame.isna().all().any()):
            declared = declared_types(table) if table else {}
            schema = ", ".join(
                f"{quote(str(name))} {declared.get(name) if frame[name].isna().all() and name in declared else spark_type(frame[name])}"
                for name in frame.columns
            )
            return self.spark.createDataFrame(frame.astype(object).where(frame.notna(), None), schema=schema)
        return self.spark.createDataFrame(frame if len(frame.columns) else pd.DataFrame())

    def create_table_from_frame(self, table: str, frame: pd.DataFrame, temporary: bool = False) -> int:
        data = self.from_pandas(frame, table)
        if temporary:
            data.createOrReplaceTempView(table)
            self.spark.catalog.cacheTable(table)
        else:
            data.createOrReplaceTempView("frame_to_store")
            self.create_table_as(table, "select * from frame_to_store")
            self.spark.catalog.dropTempView("frame_to_store")
        return self.row_count(table)

    def replace_rows(self, table: str, rows: str, key: str) -> int:
        """See common.warehouse.replace_rows: the kept rows and the new ones written as the new table."""
        new = self.spark.table(quote(rows))
        if self.table_exists(table):
            old = self.spark.table(f"{quote(self.database)}.{quote(table)}")
            keys = new.select(new[quote(key)].alias("replaced_key")).distinct()
            new = old.join(keys, old[quote(key)] == keys["replaced_key"], "left_anti").unionByName(new, allowMissingColumns=True)
        new.createOrReplaceTempView("rows_to_store")
        try:
            self.create_table_as(table, "select * from rows_to_store")
        finally:
            self.spark.catalog.dropTempView("rows_to_store")
        return self.row_count(table)

    def row_count(self, table: str) -> int:
        return self.spark.table(quote(table)).count()

    def table_exists(self, table: str) -> bool:
        return self.spark.catalog.tableExists(table)

    def table_names(self) -> list[str]:
        return sorted(
            table.name for table in self.spark.catalog.listTables(self.database)
            if not table.isTemporary and table.tableType != "VIEW"
        )

    def view_names(self) -> list[str]:
        return sorted(
            table.name for table in self.spark.catalog.listTables(self.database)
            if not table.isTemporary and table.tableType == "VIEW"
        )

    def column_types(self, table: str) -> dict[str, str]:
        """(name, DuckDB's name for the Spark type) of each column of a table or view."""
        return {field.name: duckdb_type(field.dataType) for field in self.spark.table(quote(table)).schema.fields}

    def comment_on(self, table: str, kind: str, description: str, columns: dict[str, str]) -> None:
        """Spark keeps a table's comment and its columns' in the catalog (and a column's comment in
        the schema Spark writes into each Parquet file); a view takes its description as a property."""
        if kind == "view":
            self.spark.sql(f"alter view {quote(table)} set tblproperties ('comment' = {literal(description)})")
            return
        self.spark.sql(f"comment on table {quote(table)} is {literal(description)}")
        for column, text in columns.items():
            self.spark.sql(f"alter table {quote(table)} alter column {quote(column)} comment {literal(text)}")

    def query_columns(self, select: str) -> list[str]:
        return self.spark.sql(self.translate(select)[-1]).columns

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, Spark type) of each column of a table or view."""
        return [(field.name, field.dataType.simpleString()) for field in self.spark.table(quote(table)).schema.fields]


def without_time_zone(frame):
    """A DataFrame whose timestamps are timestamps without a time zone: the project's timestamps
    have none (values in the configured zone), and so they are written as DuckDB writes its
    TIMESTAMP (INT64 microseconds, not adjusted to UTC; Spark's own timestamp would be INT96). The
    session's zone is UTC, so the values keep their wall clock."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    return frame.select(*[
        F.col(quote(field.name)).cast("timestamp_ntz").alias(field.name, metadata=field.metadata)
        if isinstance(field.dataType, TimestampType) else F.col(quote(field.name))
        for field in frame.schema.fields
    ])


# Spark types of pandas columns, by the pandas dtype's kind
PANDAS_KINDS = {"f": "double", "i": "bigint", "u": "bigint", "b": "boolean", "M": "timestamp"}
PYTHON_TYPES = {bool: "boolean", int: "bigint", float: "double", str: "string", date: "date", datetime: "timestamp"}


def declared_types(table: str) -> dict[str, str]:
    """The Spark types of the columns a table's contract declares (DuckDB types, translated)."""
    from common.contracts import load_contracts  # imports Dagster: only when a frame needs it

    declared = load_contracts().get(table)
    if declared is None:
        return {}
    return {
        column.name: exp.DataType.build(column.type, dialect="duckdb").sql(dialect="spark")
        for column in declared.columns if not column.is_pattern
    }


def spark_type(column: pd.Series) -> str:
    """The Spark type of a pandas column: from its dtype, else from its first value, else text."""
    if column.dtype.kind in PANDAS_KINDS:
        return PANDAS_KINDS[column.dtype.kind]
    values = column.dropna()
    return PYTHON_TYPES.get(type(values.iloc[0]), "string") if len(values) else "string"


def bound(statement: str, params):
    """The values a statement's parameters take: Spark named parameters (`:name`) from a dict, or
    the positional `?` ones from a list."""
    if not params:
        return None
    if isinstance(params, dict):
        used = set(_NAMED.findall(statement))
        return {name: plain(value) for name, value in params.items() if name in used} or None
    return [plain(value) for value in params]


def plain(value):
    return str(value) if isinstance(value, Path) else value


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def literal(value: str) -> str:
    """A Spark SQL string literal, for the statements that take no parameters (comments). Spark
    reads a backslash as an escape, and two quotes as two adjacent literals, so both are escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_DUCKDB_TYPES = {
    "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT", "tinyint": "TINYINT", "double": "DOUBLE",
    "float": "FLOAT", "string": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE", "binary": "BLOB", "void": '"NULL"',
    # the project's timestamps have no zone (values in the configured one); the session's zone is UTC,
    # so a Spark timestamp's wall clock is that value, and it is published without a zone
    "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP",
}


def duckdb_type(data_type) -> str:
    """DuckDB's name for a Spark type: what the column reads back as from the published Parquet file."""
    from pyspark.sql import types

    if isinstance(data_type, types.ArrayType):
        return duckdb_type(data_type.elementType) + "[]"
    if isinstance(data_type, types.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    name = data_type.simpleString()
    return _DUCKDB_TYPES.get(name, name.upper())

