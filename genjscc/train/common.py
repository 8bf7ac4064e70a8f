"""What every training command shares: run folders, seeds, Lightning trainer set-up, resume.

A run folder ``RUN`` holds::

    RUN/run.json              the command's arguments and seed (written at start)
    RUN/checkpoints/last.ckpt Lightning checkpoint (every N steps and at the end)
    RUN/logs/                 CSV logs (and TensorBoard when installed)
    RUN/model.safetensors     exported weights + model.json + model.md, at the end

``--resume`` restarts from ``RUN/checkpoints/last.ckpt`` with the arguments recorded in
``run.json``; Lightning restores weights, optimiser, step counters and the sampler state.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from genjscc.weights import atomic_write_text

__all__ = ["TrainerOptions", "make_trainer", "prepare_run_dir", "hardware_summary", "last_checkpoint"]


@dataclass
class TrainerOptions:
    """Lightning pass-through flags (same code on CPU, one GPU, many GPUs, many nodes)."""

    max_steps: int = 1000
    devices: str = "auto"
    accelerator: str = "auto"
    strategy: str = "auto"
    precision: str = "32-true"
    num_nodes: int = 1
    checkpoint_every: int = 500
    log_every: int = 50
    progress: bool = True


def prepare_run_dir(run_dir: Path, args: dict, resume: bool) -> tuple[dict, Path | None]:
    """Create or reopen a run folder; returns (arguments to use, checkpoint to resume from)."""
    run_dir = Path(run_dir)
    record = run_dir / "run.json"
    if resume:
        ckpt = last_checkpoint(run_dir)
        if ckpt is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}; start without --resume")
        saved = json.loads(record.read_text()) if record.exists() else {}
        merged = {**args, **saved.get("args", {})}
        merged["max_steps"] = args.get("max_steps", merged.get("max_steps"))  # allow extending a run
        return merged, ckpt
    if last_checkpoint(run_dir) is not None:
        raise FileExistsError(f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps({"args": args, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))
    return args, None


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.exists() else None


def make_trainer(run_dir: Path, options: TrainerOptions, callbacks: list | None = None, val_every: int | None = None):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(str(run_dir), name="logs", version="")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="logs", version="tb"))
    except ImportError:
        pass
    checkpoint = ModelCheckpoint(
        dirpath=str(Path(run_dir) / "checkpoints"),
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=options.checkpoint_every,
        save_last=True,
        save_top_k=1,
        monitor=None,
    )
    devices = options.devices if options.devices == "auto" else _parse_devices(options.devices)
    return L.Trainer(
        max_steps=options.max_steps,
        accelerator=options.accelerator,
        devices=devices,
        strategy=options.strategy,
        precision=options.precision,
        num_nodes=options.num_nodes,
        logger=loggers,
        callbacks=[checkpoint, *(callbacks or [])],
        log_every_n_steps=options.log_every,
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
        num_sanity_val_steps=0,
        val_check_interval=val_every,
        check_val_every_n_epoch=None if val_every else 1,
    )


def _parse_devices(text: str):
    return [int(t) for t in text.strip("[]").split(",")] if "," in text or text.startswith("[") else int(text)


def hardware_summary() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    import os

    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
