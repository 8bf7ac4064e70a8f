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

import csv
import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from torch.utils.data import DataLoader, Dataset

from genjscc.utils.atomic import atomic_path, atomic_write_text
from genjscc.data import StreamSampler, TensorPool, load_dataset, pass_batch
from genjscc.train.args import TrainerOptions, flag_name, parse_duration

__all__ = [
    "TrainerOptions", "TrainingJob", "TrainingInterrupted", "RunControl", "AppendingCSVLogger", "checkpoint_iterations", "run_training", "make_trainer", "prepare_run_dir",
    "hardware_summary", "last_checkpoint", "parse_duration", "cosine_lr", "training_stream", "IntervalMeans",
    "IntervalLogging", "IterationCounter", "single_gpu",
]


def cosine_lr(base: float, step: int, max_steps: int, floor: float = 0.05) -> float:
    """Cosine decay from ``base`` to ``floor * base`` over ``max_steps`` (a function of the step, so resume is exact)."""
    low = base * floor
    t = min(step, max_steps) / max(1, max_steps)
    return low + (base - low) * 0.5 * (1 + math.cos(math.pi * t))


def training_stream(args, options: TrainerOptions, start: int = 0, *, dataset: Dataset | None = None,
                    workers: int | None = None) -> DataLoader:
    """The resumable training stream of a trainer's ``args`` (``data``, ``size``, ``seed``, ``batch_size``,
    ``workers``, ``data_options()``), positioned after ``start`` completed iterations.

    ``dataset`` defaults to ``max(50,000, steps x batch)`` random training crops of ``args.data``;
    its order comes from :class:`genjscc.data.StreamSampler` (split between processes under DDP).
    A :class:`genjscc.data.TensorPool` is read a batch at a time (one indexing operation, on the
    pool's device). Host batches are pinned when training on a GPU, so that Lightning's
    non-blocking copy overlaps the previous step.
    """
    if dataset is None:
        length = max(50_000, options.steps * args.batch_size)
        dataset = load_dataset(args.data, "train", args.size, seed=args.seed, length=length, **args.data_options())
    workers = args.workers if workers is None else workers
    sampler = StreamSampler(len(dataset), seed=args.seed, start_iteration=start, batch_size=args.batch_size)
    pooled = isinstance(dataset, TensorPool)
    on_host = not pooled or dataset.images.device.type == "cpu"
    pin = on_host and torch.cuda.is_available() and options.accelerator in ("auto", "gpu", "cuda")
    return DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True, num_workers=workers,
                      generator=torch.Generator().manual_seed(args.seed), persistent_workers=workers > 0,
                      pin_memory=pin, collate_fn=pass_batch if pooled else None)


def single_gpu(options: TrainerOptions) -> torch.device | None:
    """The GPU when the run trains on exactly one (data can then live there from the start), else None."""
    if not torch.cuda.is_available() or options.accelerator not in ("auto", "gpu", "cuda"):
        return None
    if options.num_nodes != 1 or options.strategy not in ("auto", "single_device"):
        return None
    devices = options.devices
    if devices == "auto":
        return torch.device("cuda", 0) if torch.cuda.device_count() == 1 else None
    parsed = _parse_devices(devices)
    if isinstance(parsed, int):
        return torch.device("cuda", 0) if parsed == 1 else None
    return torch.device("cuda", parsed[0]) if len(parsed) == 1 else None


class IntervalMeans:
    """Per-iteration training scalars averaged on the device between two logging steps.

    ``add({name: 0-dim tensor})`` every iteration keeps running sums on the tensors' device, so
    it costs no host-device synchronisation; ``pop()`` returns each name's mean over the
    iterations since the last ``pop()`` (names may come and go, e.g. R1 every 16 iterations)
    and restarts. Reading them every ``log_every`` iterations costs one synchronisation per
    interval instead of several per iteration, and the logged value is the interval's mean
    rather than one batch's noise. The sums are not checkpointed: after a resume the first
    mean covers the iterations since the resume only.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for name, value in values.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
            self.counts[name] = self.counts.get(name, 0) + 1

    def pop(self) -> dict[str, torch.Tensor]:
        means = {name: total / self.counts[name] for name, total in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means


class IntervalLogging:
    """LightningModule mixin: ``self.log_interval(values)`` once per iteration logs
    :class:`IntervalMeans` of ``values`` on the iterations where Lightning writes its logs
    (every ``--log-every``, and the last), and touches no host value on the others."""

    def log_interval(self, values: dict[str, torch.Tensor], prog_bar: bool = True, **host_values: float) -> None:
        meter = getattr(self, "_interval_means", None)
        if meter is None:
            meter = self._interval_means = IntervalMeans()
        meter.add(values)
        if logging_step(self.trainer):
            self.log_dict({**meter.pop(), **host_values}, prog_bar=prog_bar)


class IterationCounter:
    """LightningModule mixin: ``self.iteration``, the iterations this run has completed, as one host int.

    The training step reads it (lazy R1, warm-ups, schedules, sample intervals) without touching
    the device, and calls :meth:`count_iteration` at its end. It is saved in the checkpoint
    (``checkpoint["iteration"]``) and restored before training resumes; checkpoints written
    before it existed held the count as a ``state_dict`` buffer ``iterations``, read instead.
    Modules that override the checkpoint hooks call ``super()``.
    """

    iteration: int = 0

    def count_iteration(self) -> None:
        self.iteration += 1

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["iteration"] = self.iteration

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        legacy = checkpoint.get("state_dict", {}).pop("iterations", None)
        self.iteration = int(checkpoint.get("iteration", 0 if legacy is None else legacy))


def logging_step(trainer) -> bool:
    """Whether Lightning writes logs at the end of the current training batch."""
    connector = getattr(trainer, "_logger_connector", None)  # Lightning 2.x; log every step if it moves
    return True if connector is None else bool(connector.should_update_logs)


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM stopped a run; its last iteration is checkpointed and ``--resume`` continues it."""


def _rng_state() -> dict:
    """RNG states as tensors and plain numbers (Lightning loads checkpoints with ``weights_only``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RunControl(L.Callback):
    """Counts iterations, checkpoints, stops; makes a resumed run continue the same run.

    * after every ``checkpoint_every`` iterations, and when SIGINT/SIGTERM arrived during an
      iteration, ``RUN/checkpoints/last.ckpt`` is written atomically at the iteration's end;
    * the checkpoint holds the iteration count and the RNG states (torch, CUDA, numpy,
      Python), which are restored on resume; with the trainers' data streams positioned by
      the iteration count (:class:`genjscc.data.StreamSampler`) a resumed single-process CPU
      run reproduces the uninterrupted one bit for bit (with several processes each rank is
      reseeded from (seed, rank, iteration) at start, so ranks draw independent noise);
    * stops after ``steps`` iterations or ``max_seconds`` of this session.
    """

    def __init__(self, run_dir: Path, steps: int, checkpoint_every: int, max_seconds: float | None = None, seed: int = 0):
        self.run_dir, self.steps, self.checkpoint_every, self.max_seconds = Path(run_dir), steps, checkpoint_every, max_seconds
        self.seed = seed
        self.iterations = 0
        self.session_start_iteration = 0
        self.started = time.time()
        self.stop_signal: int | None = None  # set by the signal handler of run_training

    @property
    def state_key(self) -> str:
        return "RunControl"

    def state_dict(self) -> dict:
        return {"iterations": self.iterations, "rng": _rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.iterations = int(state["iterations"])
        if "rng" in state:
            _set_rng_state(state["rng"])

    def on_train_start(self, trainer, pl_module):
        self.started = time.time()
        self.session_start_iteration = self.iterations
        if trainer.world_size > 1:
            # every process was seeded alike (identical initial weights); from here on each draws its
            # own noise, SNRs and latents, from (seed, rank, iteration): statistically right, and a
            # resumed multi-process run repeats the same streams (bitwise only on one process)
            L.seed_everything((self.seed * 1_000_003 + trainer.global_rank * 7_919 + self.iterations) % 2**31,
                              verbose=False)
        if self.iterations >= self.steps:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.iterations += 1
        if self.iterations % self.checkpoint_every == 0 or self.stop_signal is not None:
            save_checkpoint(trainer, self.run_dir)
        out_of_time = self.max_seconds is not None and time.time() - self.started > self.max_seconds
        if self.iterations >= self.steps or out_of_time or self.stop_signal is not None:
            trainer.should_stop = True


@contextmanager
def _checkpoint_on_signals(control: RunControl):
    """SIGINT/SIGTERM ask ``control`` to checkpoint and stop at the end of the iteration; a second SIGINT aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if control.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        control.stop_signal = signum
        print(f"\n{signal.Signals(signum).name}: checkpointing at the end of this iteration "
              "(press Ctrl+C again to abort without one)", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but a resumed run appends to ``metrics.csv`` instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as fh:
                self.metrics_keys = sorted(next(csv.reader(fh), []))


class AppendingCSVLogger(CSVLogger):
    """``RUN/logs/metrics.csv``, appended across sessions (rows are never truncated)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.exists() else None


def save_checkpoint(trainer, run_dir: Path) -> Path:
    """Write ``RUN/checkpoints/last.ckpt`` atomically (rank 0 writes; every rank must call)."""
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            trainer.save_checkpoint(str(tmp))
    else:
        trainer.save_checkpoint(str(path))  # a collective call: only rank 0 writes
    return path


def recorded_args(run_dir: Path) -> dict:
    """The arguments recorded in ``RUN/run.json`` (empty when there is none)."""
    record = Path(run_dir) / "run.json"
    if not record.exists():
        return {}
    try:
        return dict(json.loads(record.read_text()).get("args", {}))
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{record} is not a readable run record: {exc}") from None


def prepare_run_dir(run_dir: Path, args: dict, resume: bool, session_fields: tuple[str, ...] = ()) -> tuple[dict, Path | None]:
    """Check a run folder; returns (arguments to use, checkpoint to resume from). Writes nothing.

    A new run needs a folder without a checkpoint. On resume the recorded arguments are
    used; an argument that differs from the record is an error naming it, except the
    per-session ``session_fields`` and ``command``, which the new call may change.
    """
    run_dir = Path(run_dir)
    if not resume:
        if last_checkpoint(run_dir) is not None:
            raise FileExistsError(f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out")
        if run_dir.exists() and not run_dir.is_dir():
            raise FileExistsError(f"--out {run_dir} is a file, not a folder; choose another --out")
        return args, None
    ckpt = last_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}; start without --resume")
    saved = recorded_args(run_dir)
    free = set(session_fields) | {"command"}
    changed = sorted(k for k, v in args.items() if k not in free and k in saved and saved[k] != v)
    if changed:
        was = " ".join(f"{flag_name(k)} {saved[k]}" for k in changed)
        now = " ".join(f"{flag_name(k)} {args[k]}" for k in changed)
        raise ValueError(
            f"--resume: the run in {run_dir} was made with {was}, this command gives {now}; model arguments "
            f"cannot change when resuming (only {', '.join(flag_name(k) for k in sorted(session_fields)) or 'none'}, "
            "--steps, --max-time and the Lightning flags may): drop them, or start a new run with another --out"
        )
    merged = {**args, **{k: v for k, v in saved.items() if k not in free}}
    return merged, ckpt


def start_run_record(run_dir: Path, args: dict) -> None:
    """Create the run folder and its ``run.json`` (called once the run's set-up has succeeded)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "run.json",
                      json.dumps({"args": args, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "sessions": []}, indent=2))


def checkpoint_iterations(path: Path) -> int:
    """Iterations completed in a checkpoint of :func:`run_training` (0 for other checkpoints)."""
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file, written by Lightning
    return int(state.get("callbacks", {}).get("RunControl", {}).get("iterations", 0))


def _record_session(run_dir: Path, session: dict) -> list[dict]:
    """Record a session in ``run.json``: a session's start (status ``running``) is appended, its end replaces
    it; a session still ``running`` when another starts ended without a record (killed) and says so.
    Returns every session recorded so far."""
    record = Path(run_dir) / "run.json"
    data = json.loads(record.read_text()) if record.exists() else {}
    sessions = data.setdefault("sessions", [])
    if sessions and sessions[-1].get("status") == "running" and sessions[-1].get("id") == session["id"]:
        sessions.pop()  # this session's own start entry (two sessions may start within one second)
    for earlier in sessions:
        if earlier.get("status") == "running":
            earlier["status"] = ("killed (ended without a record, e.g. kill -9: its iterations since the last "
                                 "checkpoint are lost)")
    sessions.append(session)
    atomic_write_text(record, json.dumps(data, indent=2))
    return data["sessions"]


def check_accelerator(options: TrainerOptions) -> None:
    """``--accelerator gpu`` (or cuda) on a machine without a CUDA GPU is a ``ValueError`` naming the fix."""
    if options.accelerator.lower() in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"--accelerator {options.accelerator}: no CUDA GPU is available here; "
                         "use --accelerator cpu (or auto)")


def make_trainer(run_dir: Path, options: TrainerOptions, callbacks: list | None = None, val_every: int | None = None):
    """A Lightning Trainer without its own step limit or checkpointing (:class:`RunControl` does both)."""
    loggers = [AppendingCSVLogger(str(run_dir), name="logs", version="")]
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
        use_distributed_sampler=False,  # StreamSampler splits the stream between processes itself
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
    ``build_module(args, options)`` makes the LightningModule; ``train_loader(args, options,
    start)`` the training data positioned after ``start`` completed iterations (use
    :class:`genjscc.data.StreamSampler`), and optionally ``val_loader(args)``; ``export(module, trainer, args, info)`` writes
    the weights on rank 0 (``info``: command, hardware, wall times, iterations) and returns the
    path. ``session_fields`` name the arguments a resume may change; ``callbacks(module, args)``
    adds trainer-specific callbacks; ``val_every`` is the validation interval in iterations. With
    ``--compile`` the module's ``compile_networks()`` is called before training.
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
    """Train (or resume) ``job`` in run folder ``out`` and export its weights; returns their path.

    Nothing is written until the module and the data are built. SIGINT/SIGTERM checkpoint the
    run at the end of the current iteration and raise :class:`TrainingInterrupted`.
    """
    out = Path(out)
    check_accelerator(options)
    args_cls = type(job.args)
    given = {**asdict(job.args), "command": command}
    recorded, ckpt = prepare_run_dir(out, given, resume, job.session_fields)
    args = args_cls(**{k: v for k, v in recorded.items() if k in {f.name for f in fields(args_cls)}})
    start = checkpoint_iterations(ckpt) if ckpt else 0
    if start >= options.steps:
        raise ValueError(f"--resume: the run in {out} is at iteration {start} already, so --steps {options.steps} "
                         f"leaves nothing to train; give --steps above {start} (the total, not the iterations to add)")
    L.seed_everything(args.seed, workers=True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # no effect on CPU
    module = job.build_module(args, options)
    if options.compile:
        module.compile_networks()
    train_loader = job.train_loader(args, options, start)
    val_loader = job.val_loader(args) if job.val_loader is not None and job.val_every else None
    control = RunControl(out, options.steps, options.checkpoint_every, parse_duration(options.max_time), seed=args.seed)
    extra = job.callbacks(module, args) if job.callbacks is not None else []
    try:  # before anything is written: Lightning refuses flags it cannot honour here
        trainer = make_trainer(out, options, callbacks=[control, *extra], val_every=job.val_every or None)
    except MisconfigurationException as exc:
        raise ValueError(f"Lightning cannot run with these flags (--accelerator, --devices, --strategy, "
                         f"--precision): {exc}") from None
    if ckpt is None:
        start_run_record(out, {**asdict(args), "command": command})
    if job.prepare is not None:
        job.prepare(module, args, out)
    started = time.time()
    session = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)), "command": command,
               "from_iteration": start, "id": f"{os.getpid()}-{time.time_ns()}"}
    if trainer.global_rank == 0:  # recorded now, so a session killed with -9 still shows (status "running")
        _record_session(out, {**session, "status": "running"})
    with _checkpoint_on_signals(control):
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if ckpt else None)
        wall = time.time() - started
        save_checkpoint(trainer, out)
    iterations_now = control.iterations - control.session_start_iteration
    sessions: list[dict] = []
    if trainer.global_rank == 0:
        sessions = _record_session(out, {**session, "status": "interrupted" if control.stop_signal else "finished",
                                         "wall_time_s": round(wall, 1), "iterations": iterations_now,
                                         "interrupted_by": signal.Signals(control.stop_signal).name if control.stop_signal else None})
    if control.stop_signal is not None:
        raise TrainingInterrupted(
            f"{signal.Signals(control.stop_signal).name}: stopped after iteration {control.iterations} of {options.steps}; "
            f"checkpoint {out / 'checkpoints' / 'last.ckpt'} saved, no weights exported; continue with --resume --out {out}"
        )
    if trainer.global_rank != 0:
        return out / "model.safetensors"
    info = {
        "command": sessions[0]["command"] if sessions else command,
        "commands": [s["command"] for s in sessions],
        "hardware": hardware_summary(),
        "torch": torch.__version__,
        "iterations": control.iterations,
        "wall_time_s_last_session": round(wall, 1),
        "wall_time_s_total": round(sum(s.get("wall_time_s") or 0.0 for s in sessions), 1),
        "iterations_per_s_last_session": round(iterations_now / max(wall, 1e-9), 2),
        "world_size": trainer.world_size,
        "run_name": options.name or out.resolve().name,  # its name in result records (genjscc.utils.weights.model_label)
    }
    return job.export(module, trainer, args, info)
