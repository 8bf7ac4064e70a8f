"""One run lifecycle for every trainer: run folder, seed, resume, Lightning, checkpoints, export.

A run folder ``RUN`` holds::

    RUN/run.json              arguments, seed, command and one entry per session (wall time)
    RUN/checkpoints/last.ckpt Lightning checkpoint (every ``checkpoint_every`` iterations and at the end)
    RUN/logs/                 CSV logs (and TensorBoard when installed)
    RUN/model.safetensors     exported weights + model.json + model.md, at the end

**Iterations.** ``steps`` counts *iterations*: one call of the module's ``training_step`` on
one batch, whatever the number of optimisers it steps (DeepJSCC: one Adam step; StyleGAN2:
one discriminator and one generator step). :class:`RunControl` counts them, checkpoints every
``checkpoint_every`` of them and stops after ``steps``; Lightning's own ``global_step``
(which counts optimiser steps) is not used for either.

``--resume`` restarts from ``RUN/checkpoints/last.ckpt`` with the model arguments recorded
in ``run.json``; the per-session settings named by the trainer (``session_fields``), the
step count and the Lightning flags come from the new command line.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch

from genjscc.atomic import atomic_write_text
from genjscc.train.args import TrainerOptions, parse_duration

__all__ = [
    "TrainerOptions", "TrainingJob", "RunControl", "run_training", "make_trainer", "prepare_run_dir",
    "hardware_summary", "last_checkpoint", "parse_duration",
]


class RunControl(L.Callback):
    """Counts iterations, checkpoints every ``checkpoint_every``, stops after ``steps`` or ``max_seconds``.

    The count is part of the checkpoint (callback state), so a resumed run continues it.
    """

    def __init__(self, run_dir: Path, steps: int, checkpoint_every: int, max_seconds: float | None = None):
        self.run_dir, self.steps, self.checkpoint_every, self.max_seconds = Path(run_dir), steps, checkpoint_every, max_seconds
        self.iterations = 0
        self.session_start_iteration = 0
        self.started = time.time()

    @property
    def state_key(self) -> str:
        return "RunControl"

    def state_dict(self) -> dict:
        return {"iterations": self.iterations}

    def load_state_dict(self, state: dict) -> None:
        self.iterations = int(state["iterations"])

    def on_train_start(self, trainer, pl_module):
        self.started = time.time()
        self.session_start_iteration = self.iterations
        if self.iterations >= self.steps:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.iterations += 1
        if self.iterations % self.checkpoint_every == 0:
            save_checkpoint(trainer, self.run_dir)
        out_of_time = self.max_seconds is not None and time.time() - self.started > self.max_seconds
        if self.iterations >= self.steps or out_of_time:
            trainer.should_stop = True


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.exists() else None


def save_checkpoint(trainer, run_dir: Path) -> Path:
    """Write ``RUN/checkpoints/last.ckpt`` atomically (rank 0 writes; every rank must call)."""
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    tmp = path.with_name(f".last.ckpt.{os.getpid()}.part")
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(str(tmp))
    if trainer.is_global_zero:
        os.replace(tmp, path)
    trainer.strategy.barrier("genjscc-checkpoint")
    return path


def prepare_run_dir(run_dir: Path, args: dict, resume: bool, session_fields: tuple[str, ...] = ()) -> tuple[dict, Path | None]:
    """Create or reopen a run folder; returns (arguments to use, checkpoint to resume from).

    On resume the recorded arguments win, except ``session_fields`` (taken from ``args``).
    """
    run_dir = Path(run_dir)
    record = run_dir / "run.json"
    if resume:
        ckpt = last_checkpoint(run_dir)
        if ckpt is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}; start without --resume")
        saved = json.loads(record.read_text()) if record.exists() else {}
        merged = {**args, **saved.get("args", {})}
        for key in session_fields:
            if key in args:
                merged[key] = args[key]
        return merged, ckpt
    if last_checkpoint(run_dir) is not None:
        raise FileExistsError(f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps({"args": args, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "sessions": []}, indent=2))
    return args, None


def _record_session(run_dir: Path, session: dict) -> float:
    """Append a session to ``run.json``; returns the total wall time of all sessions (s)."""
    record = Path(run_dir) / "run.json"
    data = json.loads(record.read_text()) if record.exists() else {}
    data.setdefault("sessions", []).append(session)
    atomic_write_text(record, json.dumps(data, indent=2))
    return sum(s.get("wall_time_s", 0.0) for s in data["sessions"])


def make_trainer(run_dir: Path, options: TrainerOptions, callbacks: list | None = None, val_every: int | None = None):
    """A Lightning Trainer without its own step limit or checkpointing (:class:`RunControl` does both)."""
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(str(run_dir), name="logs", version="")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="logs", version="tb"))
    except ImportError:
        pass
    devices = options.devices if options.devices == "auto" else _parse_devices(options.devices)
    return L.Trainer(
        max_steps=-1,
        max_epochs=-1,
        accelerator=options.accelerator,
        devices=devices,
        strategy=options.strategy,
        precision=options.precision,
        num_nodes=options.num_nodes,
        logger=loggers,
        callbacks=list(callbacks or []),
        enable_checkpointing=False,
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
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


@dataclass
class TrainingJob:
    """What a trainer supplies to :func:`run_training` (the rest of the lifecycle is shared).

    ``args`` is the trainer's argument dataclass (recorded in run.json and the card);
    ``build_module(args, options)`` makes the LightningModule; ``train_loader(args, options)``
    and optionally ``val_loader(args)`` the data; ``export(module, trainer, args, info)`` writes
    the weights on rank 0 (``info``: command, hardware, wall times, iterations) and returns the
    path. ``session_fields`` name the arguments a resume may change; ``callbacks(module, args)``
    adds trainer-specific callbacks; ``val_every`` is the validation interval in iterations.
    """

    args: Any
    build_module: Callable
    train_loader: Callable
    export: Callable
    val_loader: Callable | None = None
    session_fields: tuple[str, ...] = ()
    callbacks: Callable | None = None
    val_every: int = 0
    prepare: Callable | None = field(default=None)  # prepare(module, args, run_dir) before fit


def run_training(job: TrainingJob, out: Path, options: TrainerOptions, *, resume: bool = False, command: str = "") -> Path:
    """Train (or resume) ``job`` in run folder ``out`` and export its weights; returns their path."""
    out = Path(out)
    args_cls = type(job.args)
    recorded, ckpt = prepare_run_dir(out, {**asdict(job.args), "command": command}, resume, job.session_fields)
    args = args_cls(**{k: v for k, v in recorded.items() if k in {f.name for f in fields(args_cls)}})
    L.seed_everything(args.seed, workers=True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # no effect on CPU
    module = job.build_module(args, options)
    if job.prepare is not None:
        job.prepare(module, args, out)
    train_loader = job.train_loader(args, options)
    val_loader = job.val_loader(args) if job.val_loader is not None and job.val_every else None
    control = RunControl(out, options.steps, options.checkpoint_every, parse_duration(options.max_time))
    extra = job.callbacks(module, args) if job.callbacks is not None else []
    trainer = make_trainer(out, options, callbacks=[control, *extra], val_every=job.val_every or None)
    started = time.time()
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if ckpt else None)
    wall = time.time() - started
    save_checkpoint(trainer, out)
    if trainer.global_rank != 0:
        return out / "model.safetensors"
    iterations_now = control.iterations - control.session_start_iteration
    total = _record_session(out, {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                                  "wall_time_s": round(wall, 1), "iterations": iterations_now, "command": command})
    info = {
        "command": command,
        "hardware": hardware_summary(),
        "torch": torch.__version__,
        "iterations": control.iterations,
        "wall_time_s_last_session": round(wall, 1),
        "wall_time_s_total": round(total, 1),
        "iterations_per_s_last_session": round(iterations_now / max(wall, 1e-9), 2),
        "world_size": trainer.world_size,
    }
    return job.export(module, trainer, args, info)
