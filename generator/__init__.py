"""Deterministic sample data for the customer-lifecycle pipeline.

`python -m generator --out data/sample` writes the shipped DIY-retailer sample (purchases, products,
customers, events, service scores, survey); `python -m generator --rows N --out file.csv` writes a
large purchase log for benchmarks. The same seed always gives the same bytes.
"""
