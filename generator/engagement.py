"""Behaviour around the purchases: web/app and e-mail events, and service satisfaction scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import tables
from .population import Population
from .purchases import STORE, PurchaseLog
from .segments import SEGMENT_NAMES
from .timeline import DAYS, SECONDS_PER_DAY, epoch_seconds

EVENT_TYPES = ("site_visit", "email_open", "email_click", "cart_add", "cart_abandon")
SITE_VISIT, EMAIL_OPEN, EMAIL_CLICK, CART_ADD, CART_ABANDON = range(5)
BROWSING_RATE = 1 / 40  # site visits per day while engaged, besides the visits that lead to an order
PROSPECT_ACTIVITY = 0.4  # prospects browse, open mails and fill carts less than buyers
ABANDONED_CART_RATE = 1 / 150
NEWSLETTER_RATE = 1 / 14  # e-mails per day to opted-in people
CLICK_SHARE = 0.25
LAPSED_INTEREST_DAYS = 45  # mean days a dropped-out customer keeps browsing after the last order
PROSPECT_INTEREST_DAYS = (7, 120)  # how long prospects who went quiet stayed around
RECENT_DAYS = 30

SCORED_BUYER_SHARE = 0.35
MEAN_EXTRA_SCORES = 1.5
BLANK_SCORE_SHARE = 0.05
MAX_SCORE_DELAY_DAYS = 7


def build_events(population: Population, log: PurchaseLog, rng: np.random.Generator) -> pa.Table:
    """Events over each person's engaged period: from registration to the end of the window, or until
    interest fades for dropped-out buyers and quiet prospects. Online orders bring visits and a cart."""
    start, end = _engaged_period(population, log, rng)
    length = end - start + 1
    active_days = np.where(np.arange(population.size) < population.buyer_count, 1.0, PROSPECT_ACTIVITY) * length
    newsletter_days = active_days * population.email_opt_in * rng.beta(2, 3, population.size)
    email_opens = _spread(EMAIL_OPEN, rng.poisson(NEWSLETTER_RATE * newsletter_days), start, length, rng)
    cart_adds = _spread(CART_ADD, rng.poisson(ABANDONED_CART_RATE * active_days), start, length, rng)
    parts = [
        _spread(SITE_VISIT, rng.poisson(BROWSING_RATE * active_days), start, length, rng),
        email_opens,
        _follow_up(email_opens, EMAIL_CLICK, CLICK_SHARE, (60, 30 * 60), rng),
        cart_adds,
        _follow_up(cart_adds, CART_ABANDON, 1.0, (20 * 60, 90 * 60), rng),
        *_around_orders(log, start, rng),
        _recent_visits(population, rng),
    ]
    kind, person, day, second = (np.concatenate(column) for column in zip(*parts))
    when = epoch_seconds(day, second)
    number = population.customer_number[person]
    order = np.lexsort((kind, when, number))
    number, when, kind = number[order], when[order], kind[order]
    # Events pushed to 23:59:59 can coincide; the planted mess lives in purchases and survey only.
    distinct = np.r_[True, (np.diff(number) != 0) | (np.diff(when) != 0) | (np.diff(kind) != 0)]
    return pa.table({
        "customer_id": tables.prefixed_ids("C", number[distinct], 5),
        "event_ts": tables.timestamps(when[distinct]),
        "event_type": pa.array(np.array(EVENT_TYPES)[kind[distinct]]),
    })  # fmt: skip


def _engaged_period(population: Population, log: PurchaseLog, rng: np.random.Generator):
    buyers, prospects = population.buyer_count, population.size - population.buyer_count
    last_order_day = np.full(buyers, -1)
    np.maximum.at(last_order_day, log.orders.buyer, log.orders.day)
    fades = last_order_day + np.rint(rng.exponential(LAPSED_INTEREST_DAYS, buyers)).astype(int)
    buyer_end = np.where(log.dropped_out, np.minimum(fades, DAYS - 1), DAYS - 1)

    prospect_start = np.maximum(population.registered_day[buyers:], 0)
    went_quiet = prospect_start + rng.integers(*PROSPECT_INTEREST_DAYS, prospects)
    prospect_end = np.where(
        population.recently_active, DAYS - 1, np.minimum(went_quiet, max(DAYS - RECENT_DAYS - 1, 0))
    )
    start = np.maximum(population.registered_day, 0)
    end = np.maximum(np.r_[buyer_end, prospect_end], start)
    return start, end


def _recent_visits(population: Population, rng: np.random.Generator):
    """One site visit in the last month for each prospect who is still around."""
    person = population.buyer_count + np.flatnonzero(population.recently_active)
    day = rng.integers(DAYS - RECENT_DAYS, DAYS, person.size)
    return np.full(person.size, SITE_VISIT), person, day, rng.integers(0, SECONDS_PER_DAY, person.size)


def _spread(kind: int, count: np.ndarray, start: np.ndarray, length: np.ndarray, rng: np.random.Generator):
    """`count[i]` events of one kind for person i, uniform over their engaged period."""
    person = np.repeat(np.arange(count.size), count)
    day = start[person] + (rng.random(person.size) * length[person]).astype(int)
    return np.full(person.size, kind), person, day, rng.integers(0, SECONDS_PER_DAY, person.size)


def _follow_up(events, kind: int, share: float, delay_seconds: tuple[int, int], rng: np.random.Generator):
    """A follow-up event (a click after an open, an abandonment after a cart add) the same day."""
    _, person, day, second = events
    chosen = rng.random(person.size) < share
    later = np.minimum(second[chosen] + rng.integers(*delay_seconds, chosen.sum()), SECONDS_PER_DAY - 1)
    return np.full(chosen.sum(), kind), person[chosen], day[chosen], later


def _around_orders(log: PurchaseLog, start: np.ndarray, rng: np.random.Generator):
    """Site visits in the three days before an online or app order and a cart add just before it."""
    orders = log.orders
    online = np.flatnonzero(orders.channel != STORE)
    visits = np.repeat(online, 1 + rng.poisson(1.0, online.size))
    visit_day = np.maximum(orders.day[visits] - rng.integers(0, 4, visits.size), start[orders.buyer[visits]])
    cart_second = np.maximum(orders.second[online] - rng.integers(120, 1800, online.size), 0)
    return [
        (np.full(visits.size, SITE_VISIT), orders.buyer[visits], visit_day,
         rng.integers(0, SECONDS_PER_DAY, visits.size)),
        (np.full(online.size, CART_ADD), orders.buyer[online], orders.day[online], cart_second),
    ]


def build_service_scores(population: Population, log: PurchaseLog, rng: np.random.Generator) -> pa.Table:
    """Two or more scores per surveyed buyer, each some days after one of their orders. Satisfaction drifts
    down for customers who later drop out and slightly up for the others; loyal regulars start higher."""
    orders = log.orders
    buyers = population.buyer_count
    scorable = orders.day < DAYS - MAX_SCORE_DELAY_DAYS
    scorable_count = np.bincount(orders.buyer[scorable], minlength=buyers)
    surveyed = (scorable_count >= 2) & (rng.random(buyers) < SCORED_BUYER_SHARE)
    wanted = np.minimum(2 + rng.poisson(MEAN_EXTRA_SCORES, buyers), scorable_count) * surveyed

    shuffled = np.lexsort((rng.random(orders.buyer.size), ~scorable, orders.buyer))
    rank = np.empty(orders.buyer.size, dtype=np.int64)
    rank[shuffled] = np.arange(orders.buyer.size) - np.searchsorted(orders.buyer[shuffled], orders.buyer[shuffled])
    scored = np.flatnonzero(rank < wanted[orders.buyer])
    buyer = orders.buyer[scored]
    day = orders.day[scored] + rng.integers(1, MAX_SCORE_DELAY_DAYS + 1, scored.size)
    second = rng.integers(7 * 3600, 22 * 3600, scored.size)
    by_buyer = np.lexsort((second, day, buyer))
    buyer, day, second = buyer[by_buyer], day[by_buyer], second[by_buyer]
    nth = np.arange(buyer.size) - np.searchsorted(buyer, buyer)

    loyal = population.segment[:buyers] == SEGMENT_NAMES.index("loyal_regulars")
    starting = rng.normal(7.0, 1.3, buyers) + 0.8 * loyal
    trend = np.where(log.dropped_out, rng.normal(-0.9, 0.3, buyers), rng.normal(0.2, 0.3, buyers))
    satisfaction = starting[buyer] + trend[buyer] * nth
    nps = np.clip(np.rint(satisfaction + rng.normal(0, 0.8, buyer.size)), 0, 10)
    csi = np.clip(np.rint(1 + 0.4 * satisfaction + rng.normal(0, 0.5, buyer.size)), 1, 5)
    ces = np.clip(np.rint(1 + 0.6 * satisfaction + rng.normal(0, 0.7, buyer.size)), 1, 7)
    number = population.customer_number[buyer]
    order = np.lexsort((day * SECONDS_PER_DAY + second, number))
    blank = rng.random((3, buyer.size)) < BLANK_SCORE_SHARE
    blank[0] &= ~(blank[1] & blank[2])  # every row keeps at least one score
    return pa.table({
        "customer_id": tables.prefixed_ids("C", number[order], 5),
        "score_ts": tables.timestamps(epoch_seconds(day, second)[order]),
        "nps": pa.array(nps[order].astype(np.int64), mask=blank[0][order]),
        "csi": pa.array(csi[order].astype(np.int64), mask=blank[1][order]),
        "ces": pa.array(ces[order].astype(np.int64), mask=blank[2][order]),
    })  # fmt: skip
