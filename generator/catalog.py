"""The DIY retailer's product range: categories, brands, list prices and the shipping pseudo-product."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

CATEGORIES = (
    "tools", "paint", "garden", "lighting", "plumbing",
    "electrical", "flooring", "decor", "hardware", "kitchen_bath",
)  # fmt: skip

# Chance that an order led by this category is followed by another order within a week: DIY
# projects (painting a room, building with tools) run over several trips, decor buys are one-off.
PROJECT_CONTINUATION = np.array([0.40, 0.45, 0.22, 0.07, 0.30, 0.28, 0.34, 0.06, 0.25, 0.20])

# How many units of one SKU a line typically carries.
TYPICAL_QUANTITY = np.array([1.1, 1.8, 1.5, 1.6, 1.8, 2.0, 3.0, 1.2, 3.0, 1.1])

# Category shares of the average shopper's baskets.
CATEGORY_POPULARITY = np.array([0.14, 0.13, 0.12, 0.07, 0.09, 0.09, 0.07, 0.08, 0.14, 0.07])

SHIPPING_SKU = "SHIP"
SHIPPING_FEE_CENTS = 595
FREE_SHIPPING_FROM_CENTS = 9_900

_SKU_PREFIX = ("TOL", "PNT", "GRD", "LGT", "PLB", "ELC", "FLR", "DEC", "HWR", "KIB")

# Product types per category with a mid-range list price.
_PRODUCT_TYPES = {
    "tools": [("Cordless Drill 18V", 89), ("Impact Driver", 109), ("Circular Saw", 129), ("Jigsaw", 79),
              ("Claw Hammer", 19), ("Screwdriver Set", 24), ("Spirit Level 60cm", 17), ("Tape Measure 5m", 9),
              ("Orbital Sander", 69), ("Tool Box", 34)],
    "paint": [("Interior Wall Paint 2.5L", 29), ("Exterior Paint 5L", 54), ("Primer 2.5L", 22),
              ("Wood Stain 1L", 18), ("Paint Roller Set", 12), ("Brush Set", 9), ("Masking Tape", 4),
              ("Drop Cloth", 7), ("Spray Paint", 8)],
    "garden": [("Garden Hose 25m", 32), ("Lawn Mower", 249), ("Hedge Trimmer", 89), ("Potting Soil 40L", 9),
               ("Plant Pot", 14), ("Garden Gloves", 7), ("Pruning Shears", 19), ("Lawn Seed Mix", 16),
               ("Wheelbarrow", 79)],
    "lighting": [("LED Bulb 4-pack", 12), ("Ceiling Lamp", 69), ("Floor Lamp", 89), ("Outdoor Wall Light", 45),
                 ("Pendant Light", 59), ("Desk Lamp", 35), ("LED Strip 5m", 29)],
    "plumbing": [("Mixer Tap", 79), ("Shower Head", 35), ("PVC Pipe 2m", 6), ("Pipe Fittings Set", 12),
                 ("Sink Siphon", 9), ("Toilet Seat", 39), ("Sealant Tape", 3), ("Drain Cleaner", 8)],
    "electrical": [("Extension Cord 5m", 15), ("Power Strip", 19), ("Wall Socket", 6), ("Light Switch", 7),
                   ("Installation Cable 25m", 29), ("Junction Box", 4), ("Smoke Detector", 22),
                   ("Voltage Tester", 14)],
    "flooring": [("Laminate Pack 2m2", 24), ("Vinyl Plank Pack", 29), ("Underlay Roll", 19),
                 ("Skirting Board 2.4m", 8), ("Tile Adhesive 25kg", 18), ("Floor Tiles Pack", 34),
                 ("Carpet Runner", 49)],
    "decor": [("Wall Mirror", 59), ("Picture Frame", 12), ("Curtain Pair", 39), ("Cushion", 15), ("Vase", 19),
              ("Wall Clock", 25), ("Area Rug", 79), ("Candle Set", 11)],
    "hardware": [("Wood Screws 200pc", 7), ("Wall Plugs 100pc", 5), ("Hinges Pair", 6), ("Door Handle", 24),
                 ("Padlock", 13), ("Shelf Bracket", 4), ("Cable Ties 100pc", 4), ("Nails 500g", 5)],
    "kitchen_bath": [("Kitchen Sink", 129), ("Bathroom Cabinet", 149), ("Towel Rail", 45),
                     ("Shower Curtain", 15), ("Drawer Organiser", 19), ("Soap Dispenser", 12),
                     ("Kitchen Tap", 89), ("Bath Mat", 14)],
}  # fmt: skip

# Brand name, price factor against mid-range, premium line or not.
_BRANDS = (("Basix", 0.7, False), ("ProLine", 1.0, False), ("HomeCraft", 1.1, False), ("Meister", 1.7, True))


@dataclass(frozen=True)
class Catalog:
    """Products in SKU order; SKU choice happens per category, split into premium and regular lines."""

    sku: np.ndarray
    category: np.ndarray
    product_name: np.ndarray
    brand: np.ndarray
    price_cents: np.ndarray
    premium: np.ndarray

    def products_table(self) -> pa.Table:
        """products.csv, with the shipping pseudo-product as the non_product category."""
        return pa.table({
            "sku": [*self.sku, SHIPPING_SKU],
            "category": [*(CATEGORIES[c] for c in self.category), "non_product"],
            "product_name": [*self.product_name, "Shipping fee"],
            "brand": [*self.brand, None],
        })  # fmt: skip

    def pick(self, category: np.ndarray, premium: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A product index per line, uniform among the category's premium or regular products."""
        options, counts = self._choices
        count = counts[category, premium.astype(int)]
        position = np.minimum((rng.random(category.size) * count).astype(np.int64), count - 1)
        return options[category, premium.astype(int), position]

    @cached_property
    def _choices(self) -> tuple[np.ndarray, np.ndarray]:
        """Product indices by category and tier (0 regular, 1 premium), zero-padded; and their counts."""
        width = np.bincount(self.category).max()
        options = np.zeros((len(CATEGORIES), 2, width), dtype=np.int64)
        counts = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
        for c in range(len(CATEGORIES)):
            for tier in (0, 1):
                members = np.flatnonzero((self.category == c) & (self.premium == bool(tier)))
                options[c, tier, : members.size] = members
                counts[c, tier] = members.size
        return options, counts


def build_catalog(rng: np.random.Generator) -> Catalog:
    """Each product type in two or three brands, always including the premium and one cheaper brand."""
    rows = []
    for c, category in enumerate(CATEGORIES):
        for type_name, base_price in _PRODUCT_TYPES[category]:
            brands = [3, int(rng.integers(0, 3))] + ([int(rng.integers(0, 3))] if rng.random() < 0.5 else [])
            for b in sorted(set(brands)):
                brand, factor, premium = _BRANDS[b]
                price = max(np.ceil(base_price * factor * rng.lognormal(0, 0.08)), 1) - 0.01
                rows.append((c, type_name, brand, round(price * 100), premium))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    category = np.array([r[0] for r in rows])
    number_in_category = np.arange(category.size) - np.searchsorted(category, category)
    sku = np.array([f"{_SKU_PREFIX[c]}-{1001 + n}" for c, n in zip(category, number_in_category)])
    return Catalog(
        sku=sku,
        category=category,
        product_name=np.array([f"{r[2]} {r[1]}" for r in rows]),
        brand=np.array([r[2] for r in rows]),
        price_cents=np.array([r[3] for r in rows], dtype=np.int64),
        premium=np.array([r[4] for r in rows]),
    )
