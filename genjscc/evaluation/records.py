"""Evaluation records: one schema for every scheme, baselines included.

A record is one row per scheme x SNR x metric::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n, weights, options, seed, sizes

``size`` is the side S of S x S test crops, or ``native`` for whole images sent at their own size;
``sizes`` then lists those sizes as ``WxH:count`` (width x height in pixels, how many images have it,
comma-separated in order of first appearance, e.g. ``451x300:1,600x400:1,640x427:1``); it is ``""``
for S x S crops. ``bcr`` is the effective bandwidth compression ratio k / (3 H W) on the true pixels:
exact (``1/12``) when every image has the same, else its mean over the images written as a decimal
(``0.0852``; a network pads each side to its stride, so k / (3 H W) varies a little with the size).
``mean`` is the mean over the ``n`` images, each weighing the same; ``ci95`` is the half-width of the
95 % Student-t interval of that mean (NaN for set-level metrics such as FID). ``weights`` is the
content hash of the scheme's weight files (``""`` for schemes without any), ``options`` the scheme's
options as canonical JSON (``""`` for none), ``seed`` the evaluation's noise seed. A record's
**identity** (:func:`identity`) is every field that changes its number: two records with the same
identity, SNR and metric measure the same thing; tables and figures never merge records of
different identities. Files written before ``weights``, ``options``, ``seed`` and ``sizes`` existed
still read, with ``""``, ``""``, 0 and ``""``. Records are written as CSV or JSON (one document
``{"fields": [...], "results": [...]}``), read back, and rendered as tables; the plot and sweep
tools read the same files. This module imports nothing of the project but the base utilities.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from genjscc.utils.atomic import atomic_write_text

__all__ = ["FIELDS", "IDENTITY_FIELDS", "NATIVE_SIZE", "RECORD_SUFFIXES", "Record", "identity", "describe_identity",
           "read_size", "sizes_text", "read_sizes",
           "check_consistent", "records_to_csv", "records_to_json", "write_records", "read_records",
           "records_markdown", "records_table"]

FIELDS = ("scheme", "model", "data", "size", "bcr", "channel", "snr_db", "metric", "mean", "ci95", "n", "weights",
          "options", "seed", "sizes")
# every field that changes a number, but the SNR and the metric (what a curve runs over / plots)
IDENTITY_FIELDS = ("scheme", "model", "weights", "options", "data", "size", "sizes", "seed", "n", "bcr", "channel")
NATIVE_SIZE = "native"  # the size of records of whole images at their own size
# fields a model's name usually implies: labels name them only where one name covers several values
NAMED_BY_MODEL = ("scheme", "weights", "options")


@dataclass
class Record:
    scheme: str
    model: str
    data: str
    size: int | str  # S of S x S crops, or "native" (whole images at their own size: see sizes)
    bcr: str  # the effective k / (3 H W): exact ("1/12"), or the mean over the images as a decimal
    channel: str
    snr_db: float
    metric: str
    mean: float
    ci95: float
    n: int
    weights: str = ""  # content hash of the weight files ("" for none, or records older than this field)
    options: str = ""  # the scheme's options as canonical JSON ("" for none)
    seed: int = 0  # the evaluation's noise seed
    sizes: str = ""  # native runs: "WxH:count,..." of the images ("" for S x S crops and older records)


def records_to_csv(records: list[Record]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for r in records:
        writer.writerow(asdict(r))
    return buffer.getvalue()


def records_to_json(records: list[Record]) -> str:
    return json.dumps({"fields": list(FIELDS), "results": [asdict(r) for r in records]}, indent=2) + "\n"


RECORD_SUFFIXES = (".csv", ".json")


def write_records(records: list[Record], path: Path) -> None:
    """Write CSV (``.csv``) or JSON (``.json``) atomically; another suffix is a ``ValueError``."""
    path = Path(path)
    if path.suffix not in RECORD_SUFFIXES:
        raise ValueError(f"record files are .csv or .json, not {path.name!r}: name the file e.g. {path.stem}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, records_to_csv(records) if path.suffix == ".csv" else records_to_json(records))


def read_records(path: Path) -> list[Record]:
    """Records from a CSV or JSON file written by :func:`write_records` (or ``evaluate --format``)."""
    path = Path(path)
    if path.suffix == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        return [
            Record(r["scheme"], r["model"], r["data"], read_size(r["size"]), r["bcr"], r["channel"], float(r["snr_db"]),
                   r["metric"], float(r["mean"]), float(r["ci95"]), int(r["n"]), r.get("weights") or "",
                   r.get("options") or "", int(r.get("seed") or 0), r.get("sizes") or "")
            for r in rows
        ]
    return [Record(**r) for r in json.loads(path.read_text())["results"]]


def read_size(text) -> int | str:
    """A record's ``size`` as written: a side in pixels (int), or ``native``; anything else a ``ValueError``."""
    text = str(text).strip()
    if text == NATIVE_SIZE:
        return NATIVE_SIZE
    if not text.isdigit():
        raise ValueError(f"size must be a side in pixels or {NATIVE_SIZE}, got {text!r}")
    return int(text)


def sizes_text(sizes) -> str:
    """``[(H, W), ...]`` per image -> ``"WxH:count,..."`` (width x height, in order of first appearance)."""
    counts: dict[tuple[int, int], int] = {}
    for height, width in sizes:
        counts[(int(height), int(width))] = counts.get((int(height), int(width)), 0) + 1
    return ",".join(f"{w}x{h}:{c}" for (h, w), c in counts.items())


def read_sizes(text: str) -> list[tuple[int, int]]:
    """``"WxH:count,..."`` -> ``[(H, W), ...]``, one entry per image (the inverse of :func:`sizes_text`)."""
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        shape, _, count = part.partition(":")
        width, _, height = shape.partition("x")
        sizes += [(int(height), int(width))] * int(count or 1)
    return sizes


def identity(r: Record, leave_out: tuple[str, ...] = ()) -> tuple:
    """The settings that make ``r``'s number (:data:`IDENTITY_FIELDS`), less ``leave_out``."""
    return tuple(getattr(r, f) for f in IDENTITY_FIELDS if f not in leave_out)


def _show(field: str, value) -> str:
    if field == "weights":
        return f"weights {value or '?'}"
    if field == "options":
        return ", ".join(f"{k}={v}" for k, v in json.loads(value).items()) if value else "no options"
    if field in ("bcr", "channel", "model", "scheme"):
        return str(value)
    return f"{field} {value}"


def describe_identity(records: list[Record], leave_out: tuple[str, ...] = (),
                      hide: tuple[str, ...] = ()) -> dict[tuple, str]:
    """A label for each identity (less ``leave_out``) among ``records``: the model, then only what
    differs between them (fields in ``hide`` are shown elsewhere, e.g. in their own table column)."""
    fields = [f for f in IDENTITY_FIELDS if f not in leave_out]
    keys = list(dict.fromkeys(identity(r, leave_out) for r in records))
    model = fields.index("model") if "model" in fields else None

    def shown(i: int, field: str) -> bool:
        if field in ("model", *hide) or len({k[i] for k in keys}) < 2:
            return False
        if field in NAMED_BY_MODEL and model is not None:  # only where one model name covers several values
            return any(len({k[i] for k in keys if k[model] == name}) > 1 for name in {k[model] for k in keys})
        return True

    differ = [i for i, f in enumerate(fields) if shown(i, f)]
    labels = {}
    for key in keys:
        named = dict(zip(fields, key))
        parts = [_show(fields[i], key[i]) for i in differ if key[i] not in ("", None)]
        head = named.get("model", "")
        labels[key] = f"{head} ({', '.join(parts)})" if parts and head else head or ", ".join(parts)
    return labels


def check_consistent(records: list[Record]) -> list[Record]:
    """``records`` with exact repeats dropped; two records of one identity, SNR and metric that
    disagree are a ``ValueError`` (something that changes the number is not in the records)."""
    seen: dict[tuple, Record] = {}
    for r in records:
        key = (*identity(r), r.snr_db, r.metric)
        other = seen.setdefault(key, r)
        if other is not r and not (other.mean == r.mean or (math.isnan(other.mean) and math.isnan(r.mean))):
            raise ValueError(
                f"two records of {r.model} ({r.data}, {r.channel}, BCR {r.bcr or '-'}) at {r.snr_db:g} dB disagree on "
                f"{r.metric}: {other.mean:.4g} vs {r.mean:.4g}; they come from different weights or settings the "
                "records do not name (files written before records held the weights' hash): plot them separately "
                "or re-evaluate them")
    return list(seen.values())


def _by_row(records: list[Record]) -> tuple[list[str], dict[tuple, dict[str, Record]], dict[tuple, str]]:
    """Metric names in order of appearance; records keyed by (identity, SNR) then metric; and the
    model column's label per identity (the model, plus whatever else differs but BCR and channel)."""
    metrics = list(dict.fromkeys(r.metric for r in records))
    rows: dict[tuple, dict[str, Record]] = {}
    for r in records:
        rows.setdefault((identity(r), r.snr_db), {})[r.metric] = r
    return metrics, rows, describe_identity(records, hide=("bcr", "channel"))


def _cell(r: Record | None, digits: int = 4) -> str:
    """``mean ± ci95`` (just the mean for set-level metrics, whose ci95 is NaN)."""
    if r is None:
        return ""
    return f"{r.mean:.{digits}f}" if math.isnan(r.ci95) else f"{r.mean:.{digits}f} ± {r.ci95:.{digits}f}"


def records_markdown(records: list[Record], digits: int = 3) -> str:
    """A markdown table: one row per identity and SNR, one column per metric (mean ± ci95)."""
    metrics, rows, labels = _by_row(records)
    lines = ["| model | BCR | channel | SNR (dB) | " + " | ".join(metrics) + " |", "|---" * (4 + len(metrics)) + "|"]
    for (key, snr), by_metric in rows.items():
        first = next(iter(by_metric.values()))
        cells = [_cell(by_metric.get(m), digits) for m in metrics]
        lines.append(f"| {labels[key]} | {first.bcr} | {first.channel} | {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def records_table(records: list[Record]):
    """A rich Table: one row per identity and SNR, one column per metric (mean ± ci95)."""
    from rich.table import Table

    metrics, rows, labels = _by_row(records)
    table = Table(title="genjscc evaluate")
    for col in ("model", "bcr", "channel", "SNR (dB)", *metrics, "n"):
        table.add_column(col, justify="right" if col not in ("model", "channel") else "left")
    for (key, snr), by_metric in rows.items():
        first = next(iter(by_metric.values()))
        cells = [_cell(by_metric.get(m)) for m in metrics]
        table.add_row(labels[key], first.bcr, first.channel, f"{snr:g}", *cells, str(first.n))
    return table
