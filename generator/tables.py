"""Byte-stable CSV output: unquoted values, fixed number formats, gzip without a timestamp."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")
MONEY = pa.decimal128(18, 2)


@contextmanager
def open_sink(path: Path) -> Iterator[BinaryIO]:
    """A binary sink for `path`, gzip-compressed with mtime 0 and no file name when it ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed:
                yield compressed
        else:
            yield raw


def write_csv(table: pa.Table, path: Path) -> None:
    write_csv_batches(table.schema, [table], path)


def write_csv_batches(schema: pa.Schema, tables: Iterable[pa.Table], path: Path) -> None:
    """Write tables one after another under a single plain header line (pyarrow would quote it)."""
    with open_sink(path) as sink:
        sink.write((",".join(schema.names) + "\n").encode())
        with pacsv.CSVWriter(sink, schema, write_options=_WRITE_OPTIONS) as writer:
            for table in tables:
                writer.write_table(table)


def prefixed_ids(
    prefix: str | pa.Array, numbers: np.ndarray, width: int, missing: np.ndarray | None = None
) -> pa.Array:
    """IDs such as C00042: a prefix (one, or one per row) and a zero-padded number; null where missing."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64(), mask=missing), pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def money(cents: np.ndarray) -> pa.Array:
    """Currency amounts that always print with two decimals."""
    return pa.array(np.asarray(cents) / 100).cast(MONEY)


def timestamps(epoch_seconds: np.ndarray) -> pa.Array:
    """Printed as YYYY-MM-DD HH:MM:SS."""
    return pa.array(np.asarray(epoch_seconds, dtype=np.int64), pa.timestamp("s"))


def id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(count)))
