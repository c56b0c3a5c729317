"""Output of a bench run: JSON lines in bench/results/, medians, ratios and the printed tables.

Every measured run is written as it happens (so a crash keeps what was measured); the tables
and the summary are computed from the medians of the repetitions of each cell.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


class BenchError(RuntimeError):
    """The bench measured something wrong (a lost or extra message): the figures are void."""


class Results:
    """Appends one JSON object per line to bench/results/<start time>.jsonl."""

    def __init__(self, directory: Path = RESULTS) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.path = directory / f"{stamp}.jsonl"
        self.write(
            "meta",
            python=platform.python_version(),
            machine=platform.machine(),
            started=time.time(),
        )

    def write(self, kind: str, **fields: Any) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"kind": kind, "ts": round(time.time(), 3), **fields}) + "\n")


def median(values: Iterable[float]) -> float:
    found = list(values)
    return statistics.median(found) if found else 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 and numerator >= 0 else None


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_size(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KB"
    return f"{size} B"


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cells[0].ljust(widths[0])]
    padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(padded).rstrip()


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain text table: first column left-aligned, the figures right-aligned."""
    body = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(headers)]
    lines = [_line(list(headers), widths), "  ".join("-" * w for w in widths)]
    lines += [_line(row, widths) for row in body]
    return "\n".join(lines)
