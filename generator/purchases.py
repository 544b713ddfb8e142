"""The sample's purchase log: buy-till-you-die trips with DIY project bursts, basket lines, shipping
lines, returns, and a few deliberately messy rows for the ingestion checks to catch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import tables
from .catalog import (
    FREE_SHIPPING_FROM_CENTS, PROJECT_CONTINUATION, SHIPPING_FEE_CENTS, SHIPPING_SKU, TYPICAL_QUANTITY, Catalog,
)  # fmt: skip
from .population import STORE_COUNT, Population
from .segments import SEGMENT_NAMES, segment_attribute
from .timeline import DAYS, SECONDS_PER_DAY, epoch_seconds, quarter_index, quarter_label

PURCHASE_COLUMNS = (
    "order_id", "customer_id", "order_date", "sku", "qty",
    "unit_price", "channel", "store", "discount", "is_return",
)  # fmt: skip
CHANNELS = ("online", "store", "app")
ONLINE, STORE, APP = range(3)
WEB_SHARE_OF_DIGITAL = 0.6  # of orders not placed in a store, the rest come through the app
SAME_DAY_ORDER_SHARE = 0.004
EXTRA_LINES_MEAN, B2B_EXTRA_LINES = 1.2, 1.0
MAX_LINES_PER_ORDER = 8
LEAD_CATEGORY_SHARE = 0.7  # lines in the category that led to the trip; the rest follow general taste
HOME_STORE_SHARE = 0.85
DISCOUNT_RATES = np.array([5, 10, 15, 20, 25, 30])
FULL_RETURN_SHARE = 0.8
MAX_RETURN_DAYS = 30

# The deliberately messy rows, one entry per row: (kind, quarter file, value written in the row).
# Each lands on a plain purchase line of that quarter (no discount, never returned); a duplicate
# line is an exact copy written right after the original.
PLANTED_MESS = (
    ("unparseable_date", "2024_q1", "2024-13-45 10:12:00"),
    ("unparseable_date", "2024_q3", "2024-09-31 14:05:00"),
    ("unparseable_date", "2025_q1", "2025-02-30 09:40:00"),
    ("unparseable_date", "2025_q2", "2025-06-31 16:20:00"),
    ("unparseable_date", "2025_q4", "2025-10-32 11:00:00"),
    ("missing_customer_id", "2024_q2", ""),
    ("missing_customer_id", "2024_q4", ""),
    ("missing_customer_id", "2025_q3", ""),
    ("duplicate_line", "2024_q2", None),
    ("duplicate_line", "2025_q1", None),
    ("duplicate_line", "2025_q4", None),
    ("non_numeric_unit_price", "2024_q3", "n/a"),
    ("non_numeric_unit_price", "2025_q2", "n/a"),
    ("zero_unit_price", "2024_q4", "0.00"),
    ("zero_unit_price", "2025_q3", "0.00"),
)
_MESSY_COLUMN = {
    "unparseable_date": "order_date",
    "missing_customer_id": "customer_id",
    "non_numeric_unit_price": "unit_price",
    "zero_unit_price": "unit_price",
}


@dataclass(frozen=True)
class Orders:
    """One entry per order, in order-number order (O000001 is the first order of the two years)."""

    buyer: np.ndarray
    day: np.ndarray
    second: np.ndarray
    channel: np.ndarray
    store: np.ndarray  # 1..12, 0 when not bought in a store
    lead_category: np.ndarray


@dataclass(frozen=True)
class PurchaseLog:
    orders: Orders
    dropped_out: np.ndarray  # per buyer: died (BG/NBD sense) before the end of the window
    rows: pa.Table  # PURCHASE_COLUMNS in file order, all text, messy rows included
    quarter: np.ndarray  # per row: which quarter file it belongs to


def simulate_purchase_log(population: Population, catalog: Catalog, rng: np.random.Generator) -> PurchaseLog:
    buyer, day, lead_category, dropped_out = _simulate_trips(population, rng)
    orders = _add_same_day_orders_and_channels(population, buyer, day, lead_category, rng)
    lines = _basket_lines(orders, population, catalog, rng)
    rows, quarter, plain = _to_rows(orders, lines, _returns(orders, lines, population, rng), population, catalog)
    rows, quarter = _plant_mess(rows, quarter, plain, rng)
    return PurchaseLog(orders=orders, dropped_out=dropped_out, rows=rows, quarter=quarter)


def _simulate_trips(population: Population, rng: np.random.Generator):
    """BG/NBD trips plus project bursts, stepping all still-active buyers forward one trip at a time.

    After a trip, a DIY project continues with the lead category's probability (next trip 1-7 days
    later); otherwise a buyer who has made a repeat purchase drops out with their dropout
    probability, and a survivor's next trip follows an exponential gap at their purchase rate.
    """
    n = population.buyer_count
    day = population.first_purchase_day.copy()
    has_repeated = np.zeros(n, bool)
    dropped_out = np.zeros(n, bool)
    active = np.ones(n, bool)
    trips = []
    while active.any():
        who = np.flatnonzero(active)
        lead = _draw_categories(population.category_preference[who], rng)
        trips.append((who, day[who].copy(), lead))
        continues_project = rng.random(who.size) < PROJECT_CONTINUATION[lead]
        drops = ~continues_project & has_repeated[who] & (rng.random(who.size) < population.dropout[who])
        regular_gap = np.maximum(1, np.rint(rng.exponential(1 / population.purchase_rate[who]))).astype(np.int64)
        day[who] += np.where(continues_project, rng.integers(1, 8, who.size), regular_gap)
        has_repeated[who] = True
        dropped_out[who] = drops
        active[who] = ~drops & (day[who] < DAYS)
    buyer, trip_day, lead_category = (np.concatenate(part) for part in zip(*trips))
    return buyer, trip_day, lead_category, dropped_out


def _add_same_day_orders_and_channels(population, buyer, day, lead_category, rng) -> Orders:
    """Some trips get a second order later the same day; then channel, store and time per order."""
    original_count = buyer.size
    extra = rng.random(original_count) < SAME_DAY_ORDER_SHARE
    buyer = np.r_[buyer, buyer[extra]]
    day = np.r_[day, day[extra]]
    extra_lead = _draw_categories(population.category_preference[buyer[original_count:]], rng)
    lead_category = np.r_[lead_category, extra_lead]

    digital = rng.random(buyer.size) < segment_attribute("online_share")[population.segment[buyer]]
    channel = np.where(digital, np.where(rng.random(buyer.size) < WEB_SHARE_OF_DIGITAL, ONLINE, APP), STORE)
    away_from_home = rng.random(buyer.size) > HOME_STORE_SHARE
    store = np.where(away_from_home, rng.integers(1, STORE_COUNT + 1, buyer.size), population.home_store[buyer])
    store = np.where(channel == STORE, store, 0)
    second = np.where(
        channel == STORE,
        rng.integers(8 * 3600, 20 * 3600, buyer.size),  # opening hours
        rng.integers(6 * 3600, 22 * 3600, buyer.size),
    )
    later = second[:original_count][extra] + rng.integers(600, 3 * 3600, extra.sum())
    second[original_count:] = np.minimum(later, SECONDS_PER_DAY - 1)

    chronological = np.lexsort((buyer, second, day))
    return Orders(
        buyer=buyer[chronological],
        day=day[chronological],
        second=second[chronological],
        channel=channel[chronological],
        store=store[chronological],
        lead_category=lead_category[chronological],
    )


@dataclass(frozen=True)
class _Lines:
    order: np.ndarray
    position: np.ndarray
    product: np.ndarray  # catalog index, -1 for the shipping line
    qty: np.ndarray
    price_cents: np.ndarray
    discount_cents: np.ndarray


def _basket_lines(orders: Orders, population: Population, catalog: Catalog, rng) -> _Lines:
    """Several distinct products per order, mostly from the trip's lead category; then shipping."""
    segment = population.segment[orders.buyer]
    b2b = population.is_b2b[orders.buyer]
    line_count = np.minimum(1 + rng.poisson(EXTRA_LINES_MEAN + B2B_EXTRA_LINES * b2b), MAX_LINES_PER_ORDER)
    order = np.repeat(np.arange(orders.buyer.size), line_count)
    is_first = np.r_[True, order[1:] != order[:-1]]
    seeks_variety = segment[order] == SEGMENT_NAMES.index("unusual_seekers")
    follows_lead = is_first | (rng.random(order.size) < np.where(seeks_variety, 0.5, 1) * LEAD_CATEGORY_SHARE)
    general_taste = _draw_categories(population.category_preference[orders.buyer[order]], rng)
    category = np.where(follows_lead, orders.lead_category[order], general_taste)
    premium = rng.random(order.size) < segment_attribute("premium_probability")[segment[order]]
    product = catalog.pick(category, premium, rng)

    _, first_of_pair = np.unique(order * catalog.sku.size + product, return_index=True)
    keep = np.sort(first_of_pair)
    order, product, category = order[keep], product[keep], category[keep]
    position = np.arange(order.size) - np.searchsorted(order, order)

    qty = 1 + rng.poisson(TYPICAL_QUANTITY[category] - 1)
    qty = np.where(b2b[order], qty * rng.integers(1, 5, order.size), qty)
    price = catalog.price_cents[product]
    discounted = rng.random(order.size) < segment_attribute("discount_probability")[segment[order]]
    rate = DISCOUNT_RATES[rng.integers(0, DISCOUNT_RATES.size, order.size)]
    discount = np.where(discounted, np.rint(qty * price * rate / 100), 0).astype(np.int64)

    subtotal = np.bincount(order, weights=qty * price - discount, minlength=orders.buyer.size)
    shipped = np.flatnonzero((orders.channel != STORE) & (subtotal < FREE_SHIPPING_FROM_CENTS))
    line_count_after_dedup = np.bincount(order, minlength=orders.buyer.size)
    merged = np.lexsort((np.r_[np.zeros(order.size), np.ones(shipped.size)], np.r_[order, shipped]))
    return _Lines(
        order=np.r_[order, shipped][merged],
        position=np.r_[position, line_count_after_dedup[shipped]][merged],
        product=np.r_[product, np.full(shipped.size, -1)][merged],
        qty=np.r_[qty, np.ones(shipped.size, np.int64)][merged],
        price_cents=np.r_[price, np.full(shipped.size, SHIPPING_FEE_CENTS)][merged],
        discount_cents=np.r_[discount, np.zeros(shipped.size, np.int64)][merged],
    )


@dataclass(frozen=True)
class _Returns:
    line: np.ndarray  # index into _Lines
    qty: np.ndarray  # negative
    discount_cents: np.ndarray  # negative share of the line's discount
    day: np.ndarray
    second: np.ndarray


def _returns(orders: Orders, lines: _Lines, population: Population, rng) -> _Returns:
    """Product lines sent back 1-30 days later, all returned lines of an order on the same visit."""
    probability = segment_attribute("return_probability")[population.segment[orders.buyer[lines.order]]]
    returned = np.flatnonzero((lines.product >= 0) & (rng.random(lines.order.size) < probability))
    delay = rng.integers(1, MAX_RETURN_DAYS + 1, orders.buyer.size)
    return_second = rng.integers(9 * 3600, 19 * 3600, orders.buyer.size)
    order = lines.order[returned]
    day = orders.day[order] + delay[order]
    returned, order, day = returned[day < DAYS], order[day < DAYS], day[day < DAYS]
    qty = lines.qty[returned]
    partial = (qty > 1) & (rng.random(returned.size) > FULL_RETURN_SHARE)
    returned_qty = np.where(partial, rng.integers(1, np.maximum(qty, 2)), qty)
    return _Returns(
        line=returned,
        qty=-returned_qty,
        discount_cents=-np.rint(lines.discount_cents[returned] * returned_qty / qty).astype(np.int64),
        day=day,
        second=return_second[order],
    )


def _to_rows(orders: Orders, lines: _Lines, returns: _Returns, population: Population, catalog: Catalog):
    """All purchase and return lines as a table sorted by time, order and line position; also each
    row's quarter and whether it is a plain line (a product bought without discount, never returned)."""
    line = np.r_[np.arange(lines.order.size), returns.line]
    is_return = np.r_[np.zeros(lines.order.size, np.int64), np.ones(returns.line.size, np.int64)]
    qty = np.r_[lines.qty, returns.qty]
    discount = np.r_[lines.discount_cents, returns.discount_cents]
    order = lines.order[line]
    day = np.r_[orders.day[lines.order], returns.day]
    when = epoch_seconds(day, np.r_[orders.second[lines.order], returns.second])
    sort = np.lexsort((lines.position[line], is_return, order, when))
    line, is_return, qty, discount, order, day, when = (
        column[sort] for column in (line, is_return, qty, discount, order, day, when)
    )

    returned = np.zeros(lines.order.size, bool)
    returned[returns.line] = True
    sku = np.r_[catalog.sku, [SHIPPING_SKU]][lines.product[line]]  # -1 picks the shipping SKU
    store = orders.store[order]
    rows = pa.table({
        "order_id": tables.prefixed_ids(pa.array(np.where(is_return == 1, "R-O", "O")), order + 1, 6),
        "customer_id": population.customer_id.take(pa.array(orders.buyer[order])),
        "order_date": tables.timestamps(when),
        "sku": pa.array(sku),
        "qty": pa.array(qty),
        "unit_price": tables.money(lines.price_cents[line]),
        "channel": pa.array(np.array(CHANNELS)[orders.channel[order]]),
        "store": tables.prefixed_ids("S", store, 2, missing=store == 0),
        "discount": tables.money(discount),
        "is_return": pa.array(is_return),
    })  # fmt: skip
    plain = (is_return == 0) & (lines.product[line] >= 0) & (lines.discount_cents[line] == 0) & ~returned[line]
    return rows, quarter_index(day), plain


def _plant_mess(rows: pa.Table, quarter: np.ndarray, plain: np.ndarray, rng: np.random.Generator):
    """Write PLANTED_MESS into distinct plain rows of the named quarters; the table becomes all text."""
    columns = {name: rows[name].cast(pa.string()).to_numpy(zero_copy_only=False) for name in PURCHASE_COLUMNS}
    labels = np.array([quarter_label(q) for q in range(quarter.max() + 1)])[quarter]
    candidates = plain.copy()
    duplicated = []
    for kind, file_quarter, value in PLANTED_MESS:
        row = rng.choice(np.flatnonzero(candidates & (labels == file_quarter)))
        candidates[row] = False
        if kind == "duplicate_line":
            duplicated.append(row)
        else:
            columns[_MESSY_COLUMN[kind]][row] = value
    order = np.sort(np.r_[np.arange(quarter.size), duplicated], kind="stable")
    text = pa.table({name: pa.array(values[order], pa.string()) for name, values in columns.items()})
    return text, quarter[order]


def _draw_categories(preference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of a preference matrix (rows sum to 1)."""
    cumulative = preference.cumsum(axis=1)
    return np.minimum((rng.random((preference.shape[0], 1)) > cumulative).sum(axis=1), preference.shape[1] - 1)
