"""The data dictionary: every published column with its type, description, key and checks, built
from the table contracts once every other table is written."""

import dagster as dg

from common.contracts import data_dictionary as dictionary_rows
from common.contracts import load_contracts, materialized, warehouse_objects
from common.resources import Warehouse
from common.warehouse import create_table_from_frame

TABLE = "data_dictionary"


def build_dictionary_asset(upstream: list[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    @dg.asset(
        name=TABLE,
        group_name="publish",
        kinds={"duckdb"},
        deps=[key for assets_def in upstream for key in assets_def.keys],
    )
    def data_dictionary(warehouse: Warehouse) -> dg.MaterializeResult:
        """One row per column of every published table, itself included."""
        with warehouse.get_connection() as conn:
            tables = [name for name in warehouse_objects(conn) if name != TABLE]
            documented = [name for name in tables if name in load_contracts()]
            create_table_from_frame(conn, TABLE, dictionary_rows(conn, documented))
            create_table_from_frame(conn, TABLE, dictionary_rows(conn, [*documented, TABLE]))
            metadata = materialized(conn, TABLE)
        undocumented = sorted(set(tables) - set(documented))
        return dg.MaterializeResult(
            metadata={**metadata, "tables": len(documented) + 1, "tables_without_contract": ", ".join(undocumented) or "none"}
        )

    return data_dictionary
