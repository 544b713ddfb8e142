"""Command line: `python -m generator --out DIR` for the sample, `--rows N --out FILE` for a large log."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .large import write_large_purchase_log
from .sample import write_sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="sample folder, or the CSV file with --rows")
    parser.add_argument("--rows", type=int, help="write only a purchase log of exactly this many rows")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.rows is None:
        write_sample(args.out, args.seed)
    else:
        if args.rows < 1:
            parser.error("--rows must be at least 1")
        write_large_purchase_log(args.rows, args.out, args.seed)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
