"""The project's SQL, written for DuckDB, as Spark SQL: translated by sqlglot when first run, then cached.

The `.sql` files stay the one definition of every table. What sqlglot translates by syntax alone but
Spark would compute differently is fixed here, once, as a transform of the parsed SQL; what no
transform can know (a date minus a date, for instance) is written in the SQL files in a form both
engines read the same way, with a comment there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
import sqlglot.tokens
from sqlglot import exp


def quantile_within_group(node: exp.Expression) -> exp.Expression:
    """DuckDB's `quantile_cont(x, q)` / `quantile_disc(x, q)` (q a number or a list of them) as Spark's
    exact `percentile(x, q)` / `percentile_disc(q) within group (order by x)`. Both interpolate
    `quantile_cont` linearly between the two closest ranks, as DuckDB does."""
    if isinstance(node, exp.PercentileCont) and not isinstance(node.parent, exp.WithinGroup):
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.PercentileDisc) and not isinstance(node.parent, exp.WithinGroup):
        fractions = node.expression.expressions if isinstance(node.expression, exp.Array) else [node.expression]
        ordered = exp.Order(expressions=[exp.Ordered(this=node.this, nulls_first=False)])
        # sqlglot writes Spark's percentile_disc as percentile_approx: spelled out, it stays exact
        values = [
            exp.WithinGroup(this=exp.Anonymous(this="percentile_disc", expressions=[fraction.copy()]), expression=ordered.copy())
            for fraction in fractions
        ]
        return exp.Array(expressions=values) if isinstance(node.expression, exp.Array) else values[0]
    return node


# Columns that hold a date. DuckDB subtracts two dates into a number of days; Spark into an interval,
# which no comparison with a number accepts, so a difference of two of these becomes datediff().
DATE_NAMES = frozenset({"as_of", "month", "month_start", "snapshot_date", "cutoff"})
DATE_SUFFIXES = ("_date", "_on", "_start", "_end", "_month")
DATE_FUNCTIONS = (exp.Max, exp.Min, exp.AnyValue, exp.LastDay, exp.ArgMin, exp.ArgMax)


def is_date(node: exp.Expression) -> bool:
    if isinstance(node, exp.Paren):
        return is_date(node.this)
    if isinstance(node, (exp.Column, exp.Placeholder)):  # a column, or a $parameter, named as dates are
        return node.name in DATE_NAMES or node.name.endswith(DATE_SUFFIXES)
    if isinstance(node, exp.Cast):
        return node.to.is_type(exp.DataType.Type.DATE)
    if isinstance(node, exp.Window):
        return is_date(node.this)
    if isinstance(node, (exp.Lag, exp.Lead, *DATE_FUNCTIONS)):
        return is_date(node.this)
    if isinstance(node, exp.Subquery):
        select = node.this
        return isinstance(select, exp.Select) and len(select.expressions) == 1 and is_date(select.expressions[0].unalias())
    return False


def date_difference(node: exp.Expression) -> exp.Expression:
    """`a - b` of two dates: DuckDB's number of days is Spark's `datediff(a, b)`."""
    if isinstance(node, exp.Sub) and is_date(node.this) and is_date(node.expression):
        return exp.Anonymous(this="datediff", expressions=[node.this, node.expression])
    return node


def float_division(node: exp.Expression) -> exp.Expression:
    """DuckDB's `/` divides as doubles whatever the operands; Spark keeps dividing decimals as
    decimals (rounded to six places)."""
    if isinstance(node, exp.Div) and not (isinstance(node.this, exp.Cast) and node.this.to.is_type(exp.DataType.Type.DOUBLE)):
        return exp.Div(this=exp.cast(node.this, exp.DataType.Type.DOUBLE), expression=node.expression)
    return node


def double_average(node: exp.Expression) -> exp.Expression:
    """DuckDB averages decimals as doubles; Spark's avg of a decimal is a decimal."""
    if isinstance(node, exp.Avg) and not (isinstance(node.this, exp.Cast) and node.this.to.is_type(exp.DataType.Type.DOUBLE)):
        return exp.Avg(this=exp.cast(node.this, exp.DataType.Type.DOUBLE))
    return node


def windows_in_parentheses(node: exp.Expression) -> exp.Expression:
    """`lag(x) over w - y`: Spark reads `w-y` as one (Hive-style) name."""
    if isinstance(node, exp.Window) and isinstance(node.parent, exp.Binary):
        return exp.Paren(this=node)
    return node


def joined_literal(node: exp.Expression) -> exp.Literal | None:
    """`'a' || 'b'`, a text literal written on two lines, as the one literal 'ab'."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node
    if isinstance(node, exp.DPipe | exp.Paren):
        parts = [joined_literal(part) for part in ([node.this, node.expression] if isinstance(node, exp.DPipe) else [node.this])]
        if all(parts):
            return exp.Literal.string("".join(part.this for part in parts))
    return None


def format_placeholders(node: exp.Expression) -> exp.Expression:
    """DuckDB's `format('{} days', n)` as Spark's `format_string('%s days', n)`."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "format" or isinstance(node, exp.Format):
        pattern, *values = [node.this, *node.expressions] if isinstance(node, exp.Format) else node.expressions
        pattern = joined_literal(pattern) or pattern
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            specs = re.findall(r"\{(:[^}]*)?\}", pattern.this)
            text = re.sub(r"\{(:[^}]*)?\}", lambda m: "%" + (m.group(1) or ":s")[1:], pattern.this.replace("%", "%%"))
            # a plain {} shows a value as DuckDB writes it as text (Java's %s would show a date as a day number)
            values = [
                value if spec else exp.cast(value, exp.DataType.Type.VARCHAR) for spec, value in zip(specs, values, strict=False)
            ]
            return exp.Anonymous(this="format_string", expressions=[exp.Literal.string(text), *values])
    return node


def inline_named_windows(node: exp.Expression) -> exp.Expression:
    """`over (w rows between ...)`, a named window refined by a frame: Spark takes a window name
    only on its own, so the definition of `w` is written into the window."""
    if not isinstance(node, exp.Select) or not node.args.get("windows"):
        return node
    named = {window.this.name: window for window in node.args["windows"]}
    for window in node.find_all(exp.Window):
        base = named.get(window.alias) if isinstance(window.args.get("alias"), exp.Identifier) else None
        if base is not None and window.args.get("spec") is not None and window.find_ancestor(exp.Select) is node:
            window.set("alias", None)
            window.set("partition_by", [part.copy() for part in base.args.get("partition_by") or []])
            if base.args.get("order") is not None:
                window.set("order", base.args["order"].copy())
    return node


def any_value_ignoring_nulls(node: exp.Expression) -> exp.Expression:
    """DuckDB's any_value skips nulls; Spark's does when asked to."""
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        node = node.this
    if isinstance(node, exp.AnyValue):
        return exp.Anonymous(this="any_value", expressions=[node.this.copy(), exp.true()])
    return node


def negative_list_index(node: exp.Expression) -> exp.Expression:
    """DuckDB's `list[-1]` (the last element) as Spark's `try_element_at(list, -1)`: Spark's `[]` does not
    count from the end. (sqlglot holds the index 0-based: -2 for DuckDB's -1.)"""
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Neg):
        offset = node.expressions[0].this
        if isinstance(offset, exp.Literal) and not offset.is_string:
            index = -int(offset.this) + 1
            # try_: out of range is null, as in DuckDB
            return exp.Anonymous(this="try_element_at", expressions=[node.this.copy(), exp.Literal.number(index)])
    return node


def sorted_pairs(aggregate: exp.Expression, wrapper: exp.Expression) -> exp.Expression:
    """The values of an aggregate with ORDER BY (`f(x order by k)`, optionally inside a FILTER) as
    Spark's sorted array of (k, x) structs: collect_list has no order of its own."""
    ordering = aggregate.this.expressions
    descending = {bool(key.args.get("desc")) for key in ordering}
    if len(descending) > 1:
        raise sqlglot.errors.UnsupportedError(f"{aggregate.key}(... order by ...) mixing ascending and descending keys")
    fields = []
    for number, key in enumerate(ordering):
        fields += [exp.Literal.string(f"k{number}"), key.this.copy()]
    pairs = exp.Anonymous(this="named_struct", expressions=[*fields, exp.Literal.string("v"), aggregate.this.this.copy()])
    collected = exp.Anonymous(this="collect_list", expressions=[pairs])
    if isinstance(wrapper, exp.Filter):
        collected = exp.Filter(this=collected, expression=wrapper.expression.copy())
    ordered = exp.Anonymous(this="array_sort", expressions=[collected])
    return exp.Anonymous(this="reverse", expressions=[ordered]) if descending == {True} else ordered


def pair_lambda(body) -> exp.Lambda:
    """`pair -> body(pair.v)`."""
    element = exp.to_identifier("pair")
    return exp.Lambda(this=body(exp.Dot(this=exp.column(element), expression=exp.to_identifier("v"))), expressions=[element])


def ordered_list(node: exp.Expression) -> exp.Expression:
    """DuckDB's `list(x order by k)` (optionally with a filter): Spark's collect_list has no order, and
    sqlglot drops it. Collected as (k, x) pairs, sorted, and x taken from each; nulls of x are kept,
    as DuckDB's list keeps them."""
    inner = node.this if isinstance(node, exp.Filter) else node
    if not (isinstance(inner, exp.ArrayAgg) and isinstance(inner.this, exp.Order)):
        return node
    return exp.Anonymous(this="transform", expressions=[sorted_pairs(inner, node), pair_lambda(lambda value: value)])


def ordered_sum(node: exp.Expression) -> exp.Expression:
    """DuckDB's `sum(x order by k)` / `avg(x order by k)`: floats summed one after the other in a fixed
    order, so that a re-run gives the same last bits. Spark has no ordered aggregate: the (k, x) pairs
    are sorted and x added up in that order by `aggregate`, starting from the first value times
    zero (zero of x's type); nulls are skipped and no values give null, as in DuckDB."""
    inner = node.this if isinstance(node, exp.Filter) else node
    if not (isinstance(inner, (exp.Sum, exp.Avg)) and isinstance(inner.this, exp.Order)):
        return node
    present = exp.Anonymous(this="filter", expressions=[
        sorted_pairs(inner, node), pair_lambda(lambda value: exp.Not(this=exp.Is(this=value, expression=exp.Null())))
    ])
    first = exp.Dot(
        this=exp.Anonymous(this="try_element_at", expressions=[present.copy(), exp.Literal.number(1)]),
        expression=exp.to_identifier("v"),
    )
    total_name, element = exp.to_identifier("total"), exp.to_identifier("pair")
    total = exp.Anonymous(this="aggregate", expressions=[
        present.copy(),
        exp.Mul(this=first, expression=exp.Literal.number(0)),
        exp.Lambda(
            this=exp.Add(this=exp.column(total_name), expression=exp.Dot(this=exp.column(element), expression=exp.to_identifier("v"))),
            expressions=[total_name, element],
        ),
    ])
    if isinstance(inner, exp.Sum):
        return total
    count = exp.Anonymous(this="size", expressions=[present.copy()])
    return exp.Paren(this=exp.Div(
        this=exp.cast(total, exp.DataType.Type.DOUBLE), expression=exp.Anonymous(this="nullif", expressions=[count, exp.Literal.number(0)])
    ))


def unordered_row_number(node: exp.Expression) -> exp.Expression:
    """DuckDB's `row_number() over ()`, a numbering in no order, used as a key (chain_breakers' day
    id): Spark numbers rows only in an order, which would sort the whole table on one task, so
    there it is `monotonically_increasing_id()`, unique but not consecutive."""
    if (
        isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber)
        and not node.args.get("partition_by") and node.args.get("order") is None and node.args.get("alias") is None
    ):
        return exp.Anonymous(this="monotonically_increasing_id", expressions=[])
    return node


def strptime_as_to_timestamp(node: exp.Expression) -> exp.Expression:
    """DuckDB's `try_strptime(text, format)` is Spark's `try_to_timestamp(text, format)`; the format
    must then be a Java pattern (the Spark loader converts a configured strptime format)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
        return exp.Anonymous(this="try_to_timestamp", expressions=node.expressions)
    return node


def session_variables(node: exp.Expression) -> exp.Expression:
    """DuckDB's `getvariable('x')` as Spark's session variable `session.x` (see SparkConnection)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "getvariable" and node.expressions[0].is_string:
        return exp.column(node.expressions[0].this, table="session")
    return node


TRANSFORMS = (strptime_as_to_timestamp, inline_named_windows, unordered_row_number, session_variables, ordered_list, ordered_sum, negative_list_index, any_value_ignoring_nulls, quantile_within_group, date_difference, float_division, double_average, windows_in_parentheses, format_placeholders)


# --- DuckDB macros: expanded where they are used --------------------------------------------
# Spark's SQL functions need a type for every argument and cannot return a table; a DuckDB macro
# is a text substitution, so it is expanded in place, which means the same on both engines.

_MACRO = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?temp(?:orary)?\s+macro\s+(\w+)\s*\((.*?)\)\s+as\s+(table\s+)?(.*?);?\s*$", re.I | re.S)


@dataclass(frozen=True)
class Macro:
    name: str
    parameters: tuple[str, ...]
    body: str  # DuckDB SQL: an expression, or a SELECT for a table macro
    is_table: bool


def macro_definitions(text: str) -> tuple[Macro, ...]:
    """The macros a DuckDB SQL text defines (`create or replace temp macro ...`)."""
    found = []
    for statement in split_statements(text):
        match = _MACRO.match(strip_comments(statement))
        if match:
            name, parameters, table, body = match.groups()
            found.append(Macro(
                name.lower(), tuple(p.strip().lower() for p in parameters.split(",") if p.strip()), body.strip(), bool(table)
            ))
    return tuple(found)


def split_statements(text: str) -> list[str]:
    """A SQL text cut at the semicolons that end its statements (not those inside strings)."""
    statements, start = [], 0
    for token in sqlglot.tokens.Tokenizer().tokenize(text):
        if token.token_type == sqlglot.tokens.TokenType.SEMICOLON:
            statements.append(text[start:token.start])
            start = token.end + 1
    statements.append(text[start:])
    return [statement for statement in statements if strip_comments(statement)]


def strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text).strip()


def expand_macros(tree: exp.Expression, macros: dict[str, Macro]) -> exp.Expression:
    def expand(node: exp.Expression) -> exp.Expression:
        name = node.name.lower() if isinstance(node, exp.Anonymous) else None
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous) and node.this.name.lower() in macros:
            macro = macros[node.this.name.lower()]
            body = sqlglot.parse_one(macro.body, read="duckdb")
            return exp.Subquery(this=expand_macros(body, macros), alias=exp.TableAlias(this=exp.to_identifier(macro.name)))
        if name in macros and not macros[name].is_table:
            macro = macros[name]
            arguments = dict(zip(macro.parameters, node.expressions, strict=True))
            body = sqlglot.parse_one(f"select {macro.body}", read="duckdb").expressions[0]
            # the body's own names say which values are dates, before arguments replace them
            body = body.transform(date_difference).transform(
                lambda inner: exp.Paren(this=arguments[inner.name.lower()].copy())
                if isinstance(inner, exp.Column) and not inner.table and inner.name.lower() in arguments else inner
            )
            return exp.Paren(this=expand_macros(body, macros))
        return node

    return tree.transform(expand)


@lru_cache(maxsize=512)
def spark_statements(text: str, macros: tuple[Macro, ...] = ()) -> tuple[str, ...]:
    """Each statement of a DuckDB SQL text as Spark SQL, `$name` parameters as `:name`, the given
    macros expanded; macro definitions themselves leave no statement."""
    by_name = {macro.name: macro for macro in macros}
    statements = []
    for statement in split_statements(text):
        if _MACRO.match(strip_comments(statement)):
            continue
        tree = sqlglot.parse_one(statement, read="duckdb")
        tree = expand_macros(tree, by_name)
        for transform in TRANSFORMS:
            tree = tree.transform(transform)
        statements.append(tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE))
    return tuple(statements)


def to_spark(text: str) -> str:
    """A DuckDB SQL text as Spark SQL (statements separated by `;`)."""
    return ";\n".join(spark_statements(text))
