"""Table contracts: every published table is declared once, in `assets/<stage>/sql/<table>.yml`
beside the SQL that builds it, and everything about it that users read is generated from there.

A contract gives the table's description, its grain (one row per ...) and key, each column's type
and description (a `pattern` such as `mean_<factor>` stands for columns named after the data), the
columns that are never null, accepted values, and domain checks. Checks block what is downstream
when they fail, except domain checks marked `severity: warn`: descriptive figures (shares, rates)
worth a look but not worth holding back the morning's tables. From it come the asset's
description and column schema, the asset checks (DuckDB SQL over the whole table), the comments in
the analysts' snapshot, the `data_dictionary` table, the Parquet files' key-value metadata and the
README's column tables.
"""


import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import yaml
from dagster._core.definitions.assets.definition.assets_definition import stringify_asset_key_to_input_name

from common.lineage import build_order, warehouse_reads
from common.resources import Warehouse
from common.warehouse import column_types, comment_on, literal, quote, table_names, transaction, view_names

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SNAPSHOT_DATABASE = "lifecycle"


@dataclass(frozen=True)
class Column:
    name: str  # a column name, or a pattern such as `mean_<factor>` for columns named after the data
    type: str
    description: str

    @property
    def is_pattern(self) -> bool:
        return "<" in self.name

    def matches(self, column: str) -> bool:
        if not self.is_pattern:
            return column == self.name
        regex = "".join(".+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]+>)", self.name))
        return re.fullmatch(regex, column) is not None


@dataclass(frozen=True)
class Check:
    """One asset check: a query for the rows that break a rule; the check passes when it returns none."""

    name: str
    description: str
    failing_rows: str
    blocking: bool = True
    columns: tuple[str, ...] = ()
    params: dict = field(default_factory=dict, hash=False, compare=False)
    # a cheaper query, run first on DuckDB, that is true only where `failing_rows` finds no row
    passes_if: str | None = None

    @property
    def reads(self) -> frozenset[str]:
        return warehouse_reads(self.failing_rows)


@dataclass(frozen=True)
class Contract:
    table: str
    stage: str
    path: Path
    description: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    not_null: tuple[str, ...] = ()
    not_null_in_gx: bool = False  # source tables: checked row by row with great-expectations
    nullable_key: tuple[str, ...] = ()
    accepted_values: dict = field(default_factory=dict, hash=False, compare=False)
    domain_checks: tuple[dict, ...] = field(default=(), hash=False, compare=False)
    extra_sql: tuple[str, ...] = ()
    is_view: bool = False

    @property
    def sql_files(self) -> list[Path]:
        """The SQL files the asset runs: `<table>.sql` beside the contract, and any it names."""
        own = self.path.parent / f"{self.table}.sql"
        return ([own] if own.exists() else []) + [self.path.parent / name for name in self.extra_sql]

    def column(self, name: str) -> Column | None:
        named = next((column for column in self.columns if column.name == name), None)
        return named or next((column for column in self.columns if column.is_pattern and column.matches(name)), None)

    @property
    def checks(self) -> list[Check]:
        """The key check, not-null and accepted-values checks, then the declared domain checks."""
        table = quote(self.table)
        key = ", ".join(quote(column) for column in self.key)
        null_key = " or ".join(f"{quote(c)} is null" for c in self.key if c not in self.nullable_key) or "false"
        checks = [] if not self.key else [
            Check(
                "key",
                f"One row per {self.grain}: no two rows share ({', '.join(self.key)})"
                + (f", and {', '.join(c for c in self.key if c not in self.nullable_key)} never null." if null_key != "false" else "."),
                # hashes grouped first: one 64-bit column groups several times faster than the key's
                # columns, and only the rows of a repeated hash are grouped by the key itself
                f"with repeated as (select hash({key}) as key_hash from {table} group by key_hash having count(*) > 1) "
                f"select {key}, count(*) as rows from {table} where hash({key}) in (select key_hash from repeated) "
                f"group by all having count(*) > 1 "
                f"union all select {key}, 1 as rows from {table} where {null_key}",
                columns=self.key,
                # as many distinct hashes as rows: no two rows share a key, and no key is missing
                # (a set of distinct hashes holds no counts, so it is built a fifth faster than the
                # grouping above, which then runs only where a hash repeats)
                passes_if=f"select count(*) = count(distinct hash({key})) and count(*) filter (where {null_key}) = 0 from {table}",
            )
        ]
        if self.not_null and not self.not_null_in_gx:
            checks.append(
                Check(
                    "not_null",
                    f"Never null: {', '.join(self.not_null)}.",
                    f"select * from {table} where " + " or ".join(f"{quote(c)} is null" for c in self.not_null),
                    columns=self.not_null,
                )
            )
        if self.accepted_values:
            checks.append(
                Check(
                    "accepted_values",
                    "Only the documented values: "
                    + "; ".join(f"{column} in {', '.join(map(str, values))}" for column, values in self.accepted_values.items())
                    + ".",
                    " union all ".join(
                        f"select {literal(column)} as column_name, {quote(column)}::varchar as value from {table} "
                        f"where not list_contains($accepted_{position}, {quote(column)})"
                        for position, column in enumerate(self.accepted_values)
                    ),
                    columns=tuple(self.accepted_values),
                    params={f"accepted_{position}": list(values) for position, values in enumerate(self.accepted_values.values())},
                )
            )
        for declared in self.domain_checks:
            query = declared.get("failing_rows") or f"select * from {table} where {declared['fails_where']}"
            checks.append(
                Check(
                    declared["name"],
                    declared["description"],
                    query,
                    blocking=declared.get("severity", "error") == "error",
                    columns=tuple(declared.get("columns", ())),
                )
            )
        return checks

    def column_schema(self, types: dict[str, str] | None = None) -> dg.TableSchema:
        """The declared columns, or with `types` (name -> DuckDB type, in table order) the actual ones."""
        if types is None:
            columns = [(column.name, column.type) for column in self.columns]
        else:
            columns = list(types.items())
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name,
                    data_type,
                    description=(self.column(name).description if self.column(name) else None),
                    constraints=dg.TableColumnConstraints(
                        nullable=name not in self.not_null and not (name in self.key and name not in self.nullable_key),
                        unique=self.key == (name,),
                    ),
                )
                for name, data_type in columns
            ],
            constraints=dg.TableConstraints(other=[f"key: ({', '.join(self.key)})"]),
        )


def _contract(table: str, stage: str, path: Path, declared: dict) -> Contract:
    return Contract(
        table=table,
        stage=stage,
        path=path,
        description=" ".join(declared["description"].split()),
        grain=declared["grain"],
        key=tuple(declared["key"]),
        columns=tuple(Column(c.get("name") or c["pattern"], c["type"], c["description"]) for c in declared["columns"]),
        not_null=tuple(declared.get("not_null", ())),
        not_null_in_gx=declared.get("not_null_checked_by") == "great_expectations",
        nullable_key=tuple(declared.get("nullable_key", ())),
        accepted_values=dict(declared.get("accepted_values", {})),
        domain_checks=tuple(declared.get("checks", ())),
        extra_sql=tuple(declared.get("sql", ())),
        is_view=declared.get("view", False),
    )


@cache
def load_contracts() -> dict[str, Contract]:
    """Every contract under assets/, by table. A file may declare several tables alike (`tables:`)."""
    contracts = {}
    for path in sorted(ASSETS.glob("*/sql/*.yml")):
        declared = yaml.safe_load(path.read_text())
        stage = path.parent.parent.name
        for table in declared.get("tables", [path.stem]):
            if table in contracts:
                raise ValueError(f"{path}: table {table} is already declared in {contracts[table].path}")
            contracts[table] = _contract(table, stage, path, declared)
    return contracts


def contract(table: str) -> Contract:
    return load_contracts()[table]


# --- in the warehouse ---------------------------------------------------------------------------


def table_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Each column with its type as DuckDB names it, on either engine (see common.warehouse.column_types)."""
    return column_types(conn, table)


def undocumented_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Columns of the table its contract does not describe, and declared columns it lacks."""
    declared = contract(table)
    types = table_types(conn, table)
    missing = [c.name for c in declared.columns if not c.is_pattern and c.name not in types]
    return [name for name in types if declared.column(name) is None] + [f"{name} (declared, absent)" for name in missing]


def run_check(conn: duckdb.DuckDBPyConnection, table: str, check: Check) -> dg.AssetCheckResult:
    """Run one check over the whole table: the count of failing rows and a few of them. The query is
    DuckDB SQL; a Spark connection translates it. The check's `passes_if` answers first on DuckDB
    only: Spark's `hash` has 32 bits, which collide at a few hundred thousand rows."""
    screened = check.passes_if is not None and isinstance(conn, duckdb.DuckDBPyConnection)
    if screened and conn.execute(check.passes_if, check.params).fetchone()[0]:
        failing = 0
    else:
        failing = conn.execute(f"select count(*) from ({check.failing_rows})", check.params).fetchone()[0]
    metadata = {"failing_rows": failing}
    if failing:
        examples = conn.execute(f"select * from ({check.failing_rows}) limit 5", check.params).df()
        metadata["examples"] = dg.MetadataValue.md(examples.to_markdown(index=False))
    return dg.AssetCheckResult(
        asset_key=table,
        check_name=check.name,
        passed=failing == 0,
        severity=dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def materialized(conn: duckdb.DuckDBPyConnection, table: str, preview_rows: int = 5) -> dict[str, dg.MetadataValue]:
    """What the UI shows of a freshly written table: row count, columns with their actual types, a preview."""
    rows = conn.execute(f"select count(*) from {quote(table)}").fetchone()[0]
    preview = conn.execute(f"select * from {quote(table)} limit {int(preview_rows)}").df()
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(contract(table).column_schema(table_types(conn, table))),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    }


def warehouse_objects(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The tables and views an analyst finds in the snapshot: name -> 'table' or 'view'."""
    return dict(sorted([*((name, "table") for name in table_names(conn)), *((name, "view") for name in view_names(conn))]))


def document_warehouse(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """COMMENT ON every table or view with a contract and each of its columns; returns the tables
    that have no contract (none should). Comments are lost when a table is replaced, so this runs
    right before publishing."""
    contracts = load_contracts()
    without = []
    with transaction(conn):  # one commit for all: each on its own costs a write to disk
        for table, kind in warehouse_objects(conn).items():
            if table not in contracts:
                without.append(table)
                continue
            declared = contracts[table]
            comment_on(conn, table, kind, declared.description, column_descriptions(conn, table))
    return without


def column_descriptions(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The contract's description of each of the table's columns it describes."""
    declared = load_contracts()[table]
    return {column: declared.column(column).description for column in table_types(conn, table) if declared.column(column)}


def parquet_metadata(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The key-value metadata of a table's Parquet file: the table's and its columns' descriptions."""
    declared = load_contracts().get(table)
    if declared is None:
        return {}
    pairs = {"table": declared.description, "grain": declared.grain, "key": ", ".join(declared.key)}
    return pairs | {f"column:{column}": text for column, text in column_descriptions(conn, table).items()}


def data_dictionary(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> pd.DataFrame:
    """One row per column of each table: its type as stored, description, whether it is part of
    the key, and the checks that guard it."""
    rows = []
    for table in tables:
        declared = contract(table)
        checks = [(check.name, check.columns) for check in declared.checks]
        if declared.not_null_in_gx:
            checks.append((f"{table}_trustworthy", declared.not_null))
        for position, (column, data_type) in enumerate(table_types(conn, table).items(), start=1):
            described = declared.column(column)
            rows.append(
                {
                    "table_name": table,
                    "column_name": column,
                    "column_position": position,
                    "data_type": data_type,
                    "description": described.description if described else None,
                    "is_key": column in declared.key,
                    "checks": ", ".join(name for name, columns in checks if column in columns) or None,
                    "table_grain": declared.grain,
                    "table_description": declared.description,
                }
            )
    return pd.DataFrame(rows)


# --- in Dagster ---------------------------------------------------------------------------------


def sql_reads(table: str) -> set[str]:
    """The warehouse tables the SQL of `table`'s asset reads (`main.<table>`), itself left out."""
    declared = load_contracts().get(table)
    return set().union(*(warehouse_reads(path) for path in declared.sql_files)) - {table} if declared else set()


def in_build_order(tables: list[str]) -> list[str]:
    """The tables ordered so that each comes after the tables its SQL reads."""
    return build_order({table: sql_reads(table) for table in tables})


def sql_deps(table: str, asset_keys: set[str]) -> set[str]:
    """The assets whose tables the SQL of `table`'s asset reads."""
    return sql_reads(table) & asset_keys


def with_contract(spec: dg.AssetSpec, asset_keys: set[str]) -> dg.AssetSpec:
    """An asset spec with its contract's description, column schema and table name, and with the
    tables its SQL reads as deps (next to any its Python code declares). The asset's own docstring
    stays the developers' note on how it is built."""
    table = spec.key.to_user_string()
    declared = load_contracts().get(table)
    if declared is None:
        return spec
    declared_deps = {dep.asset_key.to_user_string() for dep in spec.deps}
    return spec.replace_attributes(
        deps=[*spec.deps, *sorted(sql_deps(table, asset_keys) - declared_deps)],
        description=declared.description,
        metadata={
            **spec.metadata,
            "dagster/column_schema": declared.column_schema(),
            "dagster/table_name": f"{SNAPSHOT_DATABASE}.main.{declared.table}",
            "grain": declared.grain,
            "contract": dg.MetadataValue.path(str(declared.path.relative_to(ASSETS.parent))),
        },
    )


def contract_checks(declared: Contract, asset_keys: set[str]) -> dg.AssetChecksDefinition:
    """The contract's checks on its table, one Dagster step; a check that reads other tables runs
    after them. Blocking checks stop everything downstream when they fail."""
    checks = {check.name: check for check in declared.checks}
    specs = [
        dg.AssetCheckSpec(
            check.name,
            asset=declared.table,
            description=check.description,
            blocking=check.blocking,
            additional_deps=sorted((check.reads & asset_keys) - {declared.table}),
        )
        for check in checks.values()
    ]

    @dg.multi_asset_check(specs=specs, name=f"{declared.table}_contract", can_subset=True)
    def check_contract(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        with warehouse.get_connection() as conn:
            for key in sorted(context.selected_asset_check_keys, key=lambda key: key.name):
                yield run_check(conn, declared.table, checks[key.name])

    return check_contract


def wire_deps(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """Make the job wait for every dep. Dagster 1.13's map_asset_specs gives the op an input for
    each added dep but leaves it out of the asset's input-to-key mapping, which is what orders
    the steps of a run (build_node_deps), so the added deps would show in the graph and not be
    waited for; this completes the mapping."""
    if not assets_def.is_executable:
        return assets_def
    keys_by_input_name = dict(assets_def.node_keys_by_input_name)
    mapped = set(keys_by_input_name.values())
    for spec in assets_def.specs:
        for dep in spec.deps:
            name = stringify_asset_key_to_input_name(dep.asset_key)
            if dep.asset_key not in mapped and name in assets_def.op.ins:
                keys_by_input_name[name] = dep.asset_key
    return dg.AssetsDefinition.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "keys_by_input_name": keys_by_input_name}
    )


def apply_contracts(
    assets: list[dg.AssetsDefinition],
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """The assets with their contracts applied, and the contracts' checks on them."""
    asset_keys = {key.to_user_string() for assets_def in assets for key in assets_def.keys}
    documented = [wire_deps(assets_def.map_asset_specs(lambda spec: with_contract(spec, asset_keys))) for assets_def in assets]
    contracts = load_contracts()
    checks = [contract_checks(contracts[key], asset_keys) for key in sorted(asset_keys & contracts.keys()) if contracts[key].checks]
    return documented, checks


# --- in the README ------------------------------------------------------------------------------

README = ASSETS.parent / "README.md"
_README_BLOCK = re.compile(r"(<!-- contract tables: ([a-z0-9_ ]+) -->\n)(.*?)(<!-- /contract tables -->)", re.S)


def readme_table(tables: list[str]) -> str:
    """The README's table of tables: grain, key and columns, from the contracts."""
    lines = ["| table | one row per (key) | columns |", "|---|---|---|"]
    for table in tables:
        declared = contract(table)
        key = f" ({', '.join(declared.key)})" if declared.key else ""
        columns = ", ".join(column.name.replace("<", "\\<") for column in declared.columns)
        kind = "view: " if declared.is_view else ""
        lines.append(f"| `{table}` | {declared.grain}{key} | {kind}{columns} |")
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """The README with every `<!-- contract tables: ... -->` block regenerated from the contracts."""
    return _README_BLOCK.sub(lambda m: m.group(1) + readme_table(m.group(2).split()) + m.group(4), text)


if __name__ == "__main__":  # python -m common.contracts: regenerate the README's tables of tables
    README.write_text(render_readme(README.read_text()))
