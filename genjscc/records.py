"""Evaluation records: one schema for every scheme, baselines included.

A record is one row per scheme x SNR x metric::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n

``ci95`` is the half-width of the 95 % Student-t interval of the mean over the ``n`` test
images (NaN for set-level metrics such as FID). Records are written as CSV or JSON (one
document ``{"fields": [...], "results": [...]}``), read back, and rendered as tables; the
plot and sweep tools read the same files. This module imports nothing of the project but
the base utilities.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from genjscc.atomic import atomic_write_text

__all__ = ["FIELDS", "Record", "records_to_csv", "records_to_json", "write_records", "read_records",
           "records_markdown", "records_table"]

FIELDS = ("scheme", "model", "data", "size", "bcr", "channel", "snr_db", "metric", "mean", "ci95", "n")


@dataclass
class Record:
    scheme: str
    model: str
    data: str
    size: int
    bcr: str
    channel: str
    snr_db: float
    metric: str
    mean: float
    ci95: float
    n: int


def records_to_csv(records: list[Record]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for r in records:
        writer.writerow(asdict(r))
    return buffer.getvalue()


def records_to_json(records: list[Record]) -> str:
    return json.dumps({"fields": list(FIELDS), "results": [asdict(r) for r in records]}, indent=2) + "\n"


def write_records(records: list[Record], path: Path) -> None:
    """Write CSV (``.csv``) or JSON (anything else) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, records_to_csv(records) if path.suffix == ".csv" else records_to_json(records))


def read_records(path: Path) -> list[Record]:
    """Records from a CSV or JSON file written by :func:`write_records` (or ``evaluate --format``)."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = list(csv.DictReader(path.open()))
        return [
            Record(r["scheme"], r["model"], r["data"], int(r["size"]), r["bcr"], r["channel"], float(r["snr_db"]),
                   r["metric"], float(r["mean"]), float(r["ci95"]), int(r["n"]))
            for r in rows
        ]
    return [Record(**r) for r in json.loads(path.read_text())["results"]]


def _by_row(records: list[Record]) -> tuple[list[str], dict[tuple, dict[str, Record]]]:
    """Metric names in order of appearance, and records keyed by (model, bcr, channel, SNR) then metric."""
    metrics = list(dict.fromkeys(r.metric for r in records))
    rows: dict[tuple, dict[str, Record]] = {}
    for r in records:
        rows.setdefault((r.model, r.bcr, r.channel, r.snr_db), {})[r.metric] = r
    return metrics, rows


def _cell(r: Record | None, digits: int = 4) -> str:
    """``mean ± ci95`` (just the mean for set-level metrics, whose ci95 is NaN)."""
    if r is None:
        return ""
    return f"{r.mean:.{digits}f}" if math.isnan(r.ci95) else f"{r.mean:.{digits}f} ± {r.ci95:.{digits}f}"


def records_markdown(records: list[Record], digits: int = 3) -> str:
    """A markdown table: one row per (model, bcr, channel, SNR), one column per metric (mean ± ci95)."""
    metrics, rows = _by_row(records)
    lines = ["| model | BCR | channel | SNR (dB) | " + " | ".join(metrics) + " |", "|---" * (4 + len(metrics)) + "|"]
    for (model, bcr, channel, snr), by_metric in rows.items():
        cells = [_cell(by_metric.get(m), digits) for m in metrics]
        lines.append(f"| {model} | {bcr} | {channel} | {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def records_table(records: list[Record]):
    """A rich Table: one row per (model, channel, SNR), one column per metric (mean ± ci95)."""
    from rich.table import Table

    metrics, rows = _by_row(records)
    table = Table(title="genjscc evaluate")
    for col in ("model", "bcr", "channel", "SNR (dB)", *metrics, "n"):
        table.add_column(col, justify="right" if col not in ("model", "channel") else "left")
    for (model, bcr, channel, snr), by_metric in rows.items():
        cells = [_cell(by_metric.get(m)) for m in metrics]
        n = next(iter(by_metric.values())).n
        table.add_row(model, bcr, channel, f"{snr:g}", *cells, str(n))
    return table
