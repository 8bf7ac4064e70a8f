"""Training DeepJSCC end to end through a differentiable channel, with Lightning.

Loss: MSE, or MSE + λ·LPIPS (:class:`genjscc.train.losses.PerceptualDistortion`). The SNR is fixed
or drawn per image uniformly from ``[low, high]`` dB. One iteration = one Adam step on one
batch; the learning rate follows a cosine from ``lr`` to ``lr / 20`` over the run's steps.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from genjscc.channel import parse_bcr, sample_snr_db
from genjscc.channel.registry import build_channel
from genjscc.data import load_dataset, stack
from genjscc.metrics import psnr
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.train.args import DeepJSCCTrainArgs, TrainerOptions, parse_snr_spec
from genjscc.train.common import IntervalLogging, TrainingJob, cosine_lr, run_training, training_stream
from genjscc.utils.weights import save_weights

__all__ = ["DeepJSCCModule", "DeepJSCCTrainArgs", "train_deepjscc", "parse_snr_spec"]


class DeepJSCCModule(IntervalLogging, L.LightningModule):
    """LightningModule around :class:`DeepJSCC`; validation PSNR on held-out crops."""

    def __init__(
        self,
        config: dict,
        channel: str = "awgn",
        snr_low: float = 0.0,
        snr_high: float = 0.0,
        lr: float = 1e-3,
        loss: nn.Module | None = None,
        max_steps: int = 1000,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["loss"])
        self.model = DeepJSCC(DeepJSCCConfig(**config))
        self.channel = build_channel(channel)
        self.loss = loss if loss is not None else nn.MSELoss()

    def learning_rate(self, step: int) -> float:
        """Cosine decay from ``lr`` to ``lr / 20`` over ``max_steps`` optimiser steps."""
        return cosine_lr(self.hparams.lr, step, self.hparams.max_steps)

    def training_step(self, batch, batch_idx):
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = self.learning_rate(self.global_step)
        # SNRs drawn on the host: checked there for free, copied without waiting (genjscc.channel.snr_tensor)
        snr = sample_snr_db(batch.shape[0], self.hparams.snr_low, self.hparams.snr_high)
        recon = self.model(batch, self.channel, snr)
        loss = self.loss(recon, batch)
        with torch.no_grad():
            self.log_interval({"train/loss": loss, "train/psnr": psnr(recon, batch).mean()})
        return loss

    def compile_networks(self) -> None:
        """``--compile``: the encoder and decoder (the channel's complex maths stays eager)."""
        self.model.compile_networks()

    def validation_step(self, batch, batch_idx):
        mid = (self.hparams.snr_low + self.hparams.snr_high) / 2
        g = torch.Generator(device=batch.device).manual_seed(batch_idx)
        recon = self.model(batch, self.channel, mid, generator=g)
        self.log("val/psnr", psnr(recon, batch).mean(), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.hparams.lr)


SESSION_FIELDS = ("workers", "val_every")


def _build_loss(args: DeepJSCCTrainArgs) -> nn.Module | None:
    if args.lpips_weight <= 0:
        return None
    from genjscc.train.losses import PerceptualDistortion

    return PerceptualDistortion(mse=1.0, lpips=args.lpips_weight, net=args.lpips_net)


def _initial_model(args: DeepJSCCTrainArgs) -> DeepJSCC:
    """The ``--init`` model; its BCR must equal the requested one (its architecture is kept)."""
    model = DeepJSCC.from_weights(args.init)
    if model.bcr(args.size, args.size) != parse_bcr(args.bcr):
        raise ValueError(f"--init {args.init} has BCR {model.bcr(args.size, args.size)} at {args.size}x{args.size}, not {args.bcr}")
    return model


def _build_module(args: DeepJSCCTrainArgs, options: TrainerOptions) -> DeepJSCCModule:
    initial = _initial_model(args) if args.init else None
    config = initial.config if initial is not None else args.model_config()
    snr_low, snr_high = parse_snr_spec(args.snr)
    module = DeepJSCCModule(config.to_dict(), args.channel, snr_low, snr_high, args.lr, _build_loss(args), options.steps)
    if initial is not None:
        module.model.load_state_dict(initial.state_dict())  # a resumed run then loads its checkpoint over it
    return module


def _val_loader(args: DeepJSCCTrainArgs) -> DataLoader:
    return DataLoader(stack(load_dataset(args.data, "test", args.size, limit=256, **args.data_options())), batch_size=128)


def _export(module: DeepJSCCModule, trainer, args: DeepJSCCTrainArgs, info: dict) -> Path:
    config = module.model.config
    meta = {
        "kind": "deepjscc",
        "config": config.to_dict(),
        "training": {
            **asdict(args),
            "bcr": str(parse_bcr(args.bcr)),
            "steps": info["iterations"],
            "images_seen": info["iterations"] * args.batch_size * info["world_size"],
            **info,
        },
    }
    return save_weights(Path(trainer.default_root_dir) / "model.safetensors", module.model.state_dict(), meta,
                        card=deepjscc_card(meta))


def train_deepjscc(args: DeepJSCCTrainArgs, out: Path, options: TrainerOptions, resume: bool = False, command: str = "") -> Path:
    """Train (or resume) a DeepJSCC and export ``out/model.safetensors``; returns its path."""
    job = TrainingJob(args=args, build_module=_build_module, train_loader=training_stream, export=_export,
                      val_loader=_val_loader, session_fields=SESSION_FIELDS, val_every=args.val_every)
    return run_training(job, out, options, resume=resume, command=command)


def deepjscc_card(meta: dict, metrics_table: str = "") -> str:
    t, c = meta["training"], meta["config"]
    lines = [
        "# DeepJSCC model card",
        "",
        (f"- Architecture: residual GDN backbone (`resgdn`, width {c['width']}, {c['blocks']} residual blocks), "
         if c.get("arch") == "resgdn" else f"- Architecture: Bourtsoulatze et al. 2019, filters {c['filters']}, ")
        + f"downsampling {c['downsample']}, C = {c['channels']} channels, SNR-adaptive (ADJSCC AF): {c['snr_adaptive']}",
        f"- Data: `{t['data']}`, {t['size']}x{t['size']} training crops"
        + (", cut at the photographs' own scale" if t.get("crop_scale") == "native" else "") + " (docs/data.md)",
        f"- BCR: {t['bcr']}; channel: {t['channel']}; training SNR: {t['snr']} dB",
        "- Loss: MSE" + (f" + {t['lpips_weight']} LPIPS-{t['lpips_net']}" if t.get("lpips_weight") else ""),
        *([f"- Initialised from: `{t['init']}` (fine-tuned)"] if t.get("init") else []),
        f"- Steps: {t['steps']} (batch {t['batch_size']}, {t['images_seen']} images), seed {t['seed']}",
        f"- Wall time: {t['wall_time_s_last_session']} s last session"
        + (f", {t['wall_time_s_total']} s in all" if "wall_time_s_total" in t else "")
        + f", on {t['hardware']}, torch {t['torch']}",
        f"- Command: `{t['command']}`",
        *[f"- Resumed with: `{c}`" for c in t.get("commands", [])[1:]],
    ]
    if metrics_table:
        lines += ["", "## Measured", "", metrics_table]
    return "\n".join(lines) + "\n"
