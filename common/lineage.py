"""Lineage read from the SQL: which warehouse tables a SQL file reads, parsed with sqlglot.

The SQL names every warehouse table it reads as `main.<table>`; a bare name is something the step
made for itself (a temp table or view, a macro, a registered DataFrame). So an asset's deps and the
order tests build tables in come from the SQL, and cannot drift from what the SQL reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path

import sqlglot
from sqlglot import exp

WAREHOUSE_SCHEMA = "main"


@cache
def _parsed_reads(text: str) -> tuple[frozenset[str], frozenset[str]]:
    warehouse, scratch = set(), set()
    for statement in sqlglot.parse(text, read="duckdb"):
        if statement is None:
            continue
        defined = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        created = statement.this.find(exp.Table) if isinstance(statement, exp.Create) else None
        for table in statement.find_all(exp.Table):
            if table is created or not isinstance(table.this, exp.Identifier):
                continue  # the object a CREATE makes, or a table function such as range()
            if table.db == WAREHOUSE_SCHEMA:
                warehouse.add(table.name)
            elif not table.db and table.name not in defined:
                scratch.add(table.name)
    return frozenset(warehouse), frozenset(scratch)


def warehouse_reads(sql: str | Path) -> frozenset[str]:
    """The warehouse tables (`main.<table>`) that SQL text or a `.sql` file reads."""
    return _parsed_reads(Path(sql).read_text() if isinstance(sql, Path) else sql)[0]


def scratch_reads(sql: str | Path) -> frozenset[str]:
    """The bare names SQL reads: temp tables and views, table macros, registered DataFrames."""
    return _parsed_reads(Path(sql).read_text() if isinstance(sql, Path) else sql)[1]


def build_order(reads: Mapping[str, Iterable[str]]) -> list[str]:
    """The tables of `reads` (table -> tables it reads) ordered so each comes after what it reads."""
    graph = {table: {read for read in upstream if read in reads} - {table} for table, upstream in reads.items()}
    return list(TopologicalSorter(graph).static_order())
