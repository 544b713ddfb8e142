"""Large mode: a purchase log of exactly N rows for benchmarks, generated and written in chunks.

Each chunk is a fresh batch of customers with BG/NBD parameters (Gamma purchase rate, Beta
dropout), so CLV models fit on the result; memory stays bounded by the chunk size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import tables
from .catalog import CATEGORY_POPULARITY, Catalog, build_catalog
from .population import STORE_COUNT
from .purchases import CHANNELS, PURCHASE_COLUMNS, STORE
from .sample import stream
from .timeline import DAYS, SECONDS_PER_DAY, epoch_seconds

CUSTOMERS_PER_CHUNK = 500_000
# Sparser than the sample: about 2.5 rows per customer, as in a big retailer's long tail.
PURCHASE_RATE_SHAPE, PURCHASE_RATE_SCALE = 0.6, 1 / 300
DROPOUT_A, DROPOUT_B = 1.0, 4.0
EXTRA_LINES_MEAN, MAX_LINES_PER_ORDER = 0.5, 8
EXTRA_QTY_MEAN = 0.4
CHANNEL_SHARES = np.array([0.30, 0.55, 0.15])  # online, store, app
DISCOUNT_SHARE, DISCOUNT_RATE = 0.08, 0.15
RETURN_SHARE, MAX_RETURN_DAYS = 0.03, 30

SCHEMA = pa.schema(zip(PURCHASE_COLUMNS, [
    pa.string(), pa.string(), pa.timestamp("s"), pa.string(), pa.int64(),
    tables.MONEY, pa.string(), pa.string(), tables.MONEY, pa.int8(),
]))  # fmt: skip


def write_large_purchase_log(rows: int, path: Path, seed: int) -> None:
    tables.write_csv_batches(SCHEMA, _chunks(rows, seed), path)


def _chunks(rows: int, seed: int) -> Iterator[pa.Table]:
    """Chunks of whole customers until `rows` is reached; the last chunk is cut to the exact count."""
    catalog = build_catalog(stream(seed, "catalog"))
    customers_per_chunk = min(CUSTOMERS_PER_CHUNK, rows // 2 + 1)
    widths = tables.id_width(rows, 5), tables.id_width(rows, 6)
    remaining, first_customer, first_order = rows, 1, 1
    for chunk_number in itertools.count():
        rng = np.random.default_rng([seed, chunk_number])
        chunk, order_count = _chunk(rng, catalog, customers_per_chunk, first_customer, first_order, widths)
        yield chunk.slice(0, remaining)
        remaining -= min(remaining, chunk.num_rows)
        if remaining == 0:
            return
        first_customer, first_order = first_customer + customers_per_chunk, first_order + order_count


def _chunk(
    rng: np.random.Generator, catalog: Catalog, customers: int, first_customer: int, first_order: int, widths
) -> tuple[pa.Table, int]:
    """Rows of `customers` new customers, sorted by customer and time; also their order count."""
    customer, day = _purchase_days(rng, customers)
    order_count = customer.size
    channel = rng.choice(CHANNEL_SHARES.size, order_count, p=CHANNEL_SHARES)
    store = np.where(channel == STORE, rng.integers(1, STORE_COUNT + 1, order_count), 0)
    second = np.where(
        channel == STORE,
        rng.integers(8 * 3600, 20 * 3600, order_count),  # opening hours
        rng.integers(0, SECONDS_PER_DAY, order_count),
    )

    line_count = np.minimum(1 + rng.poisson(EXTRA_LINES_MEAN, order_count), MAX_LINES_PER_ORDER)
    order = np.repeat(np.arange(order_count), line_count)
    position = np.arange(order.size) - np.repeat(np.cumsum(line_count) - line_count, line_count)
    product = _distinct_products(rng, catalog, order, position, order_count)
    qty = 1 + rng.poisson(EXTRA_QTY_MEAN, order.size)
    price = catalog.price_cents[product]
    discounted = rng.random(order.size) < DISCOUNT_SHARE
    discount = np.where(discounted, np.rint(qty * price * DISCOUNT_RATE), 0).astype(np.int64)

    returned = np.flatnonzero(rng.random(order.size) < RETURN_SHARE)
    return_day = day[order[returned]] + rng.integers(1, MAX_RETURN_DAYS + 1, returned.size)
    returned, return_day = returned[return_day < DAYS], return_day[return_day < DAYS]
    line = np.r_[np.arange(order.size), returned]
    is_return = np.r_[np.zeros(order.size, np.int8), np.ones(returned.size, np.int8)]
    when = epoch_seconds(
        np.r_[day[order], return_day], np.r_[second[order], rng.integers(9 * 3600, 19 * 3600, returned.size)]
    )
    sign = 1 - 2 * is_return.astype(np.int64)
    sort = np.lexsort((position[line], order[line], is_return, when, customer[order[line]]))
    line, is_return, when, sign = line[sort], is_return[sort], when[sort], sign[sort]
    line_order = order[line]

    customer_width, order_width = widths
    table = pa.table({
        "order_id": tables.prefixed_ids(pc.if_else(pa.array(is_return == 1), "R-O", "O"),
                                        first_order + line_order, order_width),
        "customer_id": tables.prefixed_ids("C", first_customer + customer[line_order], customer_width),
        "order_date": tables.timestamps(when),
        "sku": pa.array(catalog.sku).take(pa.array(product[line])),
        "qty": pa.array(sign * qty[line]),
        "unit_price": tables.money(price[line]),
        "channel": pa.array(CHANNELS).take(pa.array(channel[line_order])),
        "store": tables.prefixed_ids("S", store[line_order], 2, missing=store[line_order] == 0),
        "discount": tables.money(sign * discount[line]),
        "is_return": pa.array(is_return),
    }, schema=SCHEMA)  # fmt: skip
    return table, order_count


def _purchase_days(rng: np.random.Generator, customers: int) -> tuple[np.ndarray, np.ndarray]:
    """Order days per customer, sorted: the first purchase on a staggered acquisition day, then BG/NBD
    repeats until the window ends or the customer drops out after a repeat purchase.

    With n Poisson arrivals in the remaining span, the first x of them are the first x uniform order
    statistics, generated from exponential spacings: S_k / (S_x + Gamma(n - x + 1)).
    """
    acquisition = rng.integers(0, DAYS, customers)
    span = DAYS - acquisition
    rate = rng.gamma(PURCHASE_RATE_SHAPE, PURCHASE_RATE_SCALE, customers)
    arrivals = rng.poisson(rate * span)
    repeats = np.minimum(arrivals, rng.geometric(rng.beta(DROPOUT_A, DROPOUT_B, customers)))
    owner = np.repeat(np.arange(customers), repeats)
    cumulative = np.r_[0.0, np.cumsum(rng.standard_exponential(owner.size))]
    first = np.cumsum(repeats) - repeats
    spacing_sum = cumulative[1:] - np.repeat(cumulative[first], repeats)
    total = cumulative[first + repeats] - cumulative[first] + rng.standard_gamma(arrivals - repeats + 1)
    repeat_day = acquisition[owner] + (spacing_sum / total[owner] * span[owner]).astype(np.int64)
    customer = np.r_[np.arange(customers), owner]
    day = np.r_[acquisition, repeat_day]
    chronological = np.lexsort((day, customer))
    return customer[chronological], day[chronological]


def _distinct_products(rng, catalog: Catalog, order, position, order_count) -> np.ndarray:
    """Popular products lead an order; further lines step through the catalog by a per-order stride,
    so an order never holds the same product twice."""
    size = catalog.sku.size
    popularity = CATEGORY_POPULARITY[catalog.category] / np.bincount(catalog.category)[catalog.category]
    lead = rng.choice(size, order_count, p=popularity / popularity.sum())
    stride = rng.integers(1, size // MAX_LINES_PER_ORDER + 1, order_count)
    return (lead[order] + position * stride[order]) % size
