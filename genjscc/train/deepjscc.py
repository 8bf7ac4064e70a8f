"""Training DeepJSCC end to end through a differentiable channel, with Lightning.

Loss is pluggable: any ``nn.Module`` mapping ``(reconstruction, target) -> scalar`` (default
MSE). The SNR is either fixed or drawn per image uniformly from ``[low, high]`` dB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from genjscc.channel import bcr_to_channels, build_channel, sample_snr_db
from genjscc.data import load_dataset, stack
from genjscc.metrics import psnr
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.train.common import TrainerOptions, hardware_summary, make_trainer, prepare_run_dir
from genjscc.weights import save_weights

__all__ = ["DeepJSCCModule", "DeepJSCCTrainArgs", "train_deepjscc", "parse_snr_spec"]


def parse_snr_spec(snr: str | float) -> tuple[float, float]:
    """``"0"`` -> (0, 0); ``"-5,10"`` -> (-5, 10) (uniform range in dB)."""
    parts = [float(p) for p in str(snr).split(",")]
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2 or parts[0] > parts[1]:
        raise ValueError(f"SNR range must be LOW,HIGH in dB with LOW <= HIGH, got {snr!r}")
    return parts[0], parts[1]


class DeepJSCCModule(L.LightningModule):
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

    def training_step(self, batch, batch_idx):
        snr = sample_snr_db(batch.shape[0], self.hparams.snr_low, self.hparams.snr_high, device=batch.device)
        recon = self.model(batch, self.channel, snr)
        loss = self.loss(recon, batch)
        self.log("train/loss", loss, prog_bar=True)
        with torch.no_grad():
            self.log("train/psnr", psnr(recon, batch).mean(), prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        mid = (self.hparams.snr_low + self.hparams.snr_high) / 2
        g = torch.Generator(device=batch.device).manual_seed(batch_idx)
        recon = self.model(batch, self.channel, mid, generator=g)
        self.log("val/psnr", psnr(recon, batch).mean(), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.hparams.max_steps), eta_min=self.hparams.lr * 0.05)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@dataclass
class DeepJSCCTrainArgs:
    """Everything ``genjscc train deepjscc`` records in run.json and the model card."""

    data: str = "photos"
    size: int = 64
    bcr: str = "1/48"
    channel: str = "awgn"
    snr: str = "0"
    downsample: int = 8
    filters: str = "16,32,32,32"
    snr_adaptive: bool = False
    batch_size: int = 64
    lr: float = 1e-3
    lpips_weight: float = 0.0
    lpips_net: str = "vgg"
    seed: int = 0
    workers: int = 0
    val_every: int = 0
    init: str = ""  # zoo name or weight path to start from (fine-tuning); its architecture is kept


def _build_loss(args: DeepJSCCTrainArgs) -> nn.Module | None:
    if args.lpips_weight <= 0:
        return None
    from genjscc.losses import PerceptualDistortion  # arrives with the metrics issue

    return PerceptualDistortion(mse=1.0, lpips=args.lpips_weight, net=args.lpips_net)


def _initial_weights(init: str, config: DeepJSCCConfig, args: DeepJSCCTrainArgs):
    """Weights and architecture of ``init``; its BCR must equal the requested one."""
    from genjscc.schemes import load_deepjscc
    from genjscc.zoo import resolve_model

    model, _ = load_deepjscc(resolve_model(init))
    if model.bcr(args.size, args.size) != Fraction(args.bcr):
        raise ValueError(f"--init {init} has BCR {model.bcr(args.size, args.size)} at {args.size}x{args.size}, not {args.bcr}")
    return model.state_dict(), model.config


def train_deepjscc(args: DeepJSCCTrainArgs, out: Path, options: TrainerOptions, resume: bool = False, command: str = "") -> Path:
    """Train (or resume) a DeepJSCC and export ``out/model.safetensors``; returns its path."""
    from dataclasses import asdict

    recorded, ckpt = prepare_run_dir(out, {**asdict(args), "max_steps": options.max_steps, "command": command}, resume)
    args = DeepJSCCTrainArgs(**{k: v for k, v in recorded.items() if k in DeepJSCCTrainArgs.__dataclass_fields__})
    L.seed_everything(args.seed, workers=True)
    snr_low, snr_high = parse_snr_spec(args.snr)
    channels = bcr_to_channels(args.bcr, args.size, args.size, args.downsample)
    config = DeepJSCCConfig(
        channels=channels,
        downsample=args.downsample,
        filters=tuple(int(f) for f in args.filters.split(",")),
        snr_adaptive=args.snr_adaptive,
    )
    initial = None
    if args.init:
        initial, config = _initial_weights(args.init, config, args)
    module = DeepJSCCModule(config.to_dict(), args.channel, snr_low, snr_high, args.lr, _build_loss(args), options.max_steps)
    if initial is not None and ckpt is None:
        module.model.load_state_dict(initial)
    train_set = load_dataset(args.data, "train", args.size, seed=args.seed, length=max(50_000, options.max_steps * args.batch_size))
    loader = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
        generator=torch.Generator().manual_seed(args.seed), persistent_workers=args.workers > 0,
    )
    val_loader = None
    if args.val_every:
        val_images = stack(load_dataset(args.data, "test", args.size, limit=256))
        val_loader = DataLoader(val_images, batch_size=128)
    trainer = make_trainer(out, options, val_every=args.val_every or None)
    started = time.time()
    trainer.fit(module, loader, val_loader, ckpt_path=str(ckpt) if ckpt else None)
    wall = time.time() - started
    if trainer.global_rank != 0:
        return out / "model.safetensors"
    steps = int(trainer.global_step)
    meta = {
        "kind": "deepjscc",
        "config": config.to_dict(),
        "training": {
            **asdict(args),
            "bcr": str(Fraction(args.bcr)),
            "steps": steps,
            "images_seen": steps * args.batch_size * trainer.world_size,
            "wall_time_s_last_session": round(wall, 1),
            "hardware": hardware_summary(),
            "torch": torch.__version__,
            "command": command,
        },
    }
    return save_weights(out / "model.safetensors", module.model.state_dict(), meta, card=deepjscc_card(meta))


def deepjscc_card(meta: dict, metrics_table: str = "") -> str:
    t, c = meta["training"], meta["config"]
    lines = [
        "# DeepJSCC model card",
        "",
        f"- Architecture: Bourtsoulatze et al. 2019, downsampling {c['downsample']}, filters {c['filters']}, "
        f"C = {c['channels']} channels, SNR-adaptive (ADJSCC AF): {c['snr_adaptive']}",
        f"- Data: `{t['data']}` at {t['size']}x{t['size']} (see README, 'Data')",
        f"- BCR: {t['bcr']}; channel: {t['channel']}; training SNR: {t['snr']} dB",
        f"- Loss: MSE" + (f" + {t['lpips_weight']} LPIPS-{t['lpips_net']}" if t.get("lpips_weight") else ""),
        *([f"- Initialised from: `{t['init']}` (fine-tuned)"] if t.get("init") else []),
        f"- Steps: {t['steps']} (batch {t['batch_size']}, {t['images_seen']} images), seed {t['seed']}",
        f"- Wall time (last session): {t['wall_time_s_last_session']} s on {t['hardware']}, torch {t['torch']}",
        f"- Command: `{t['command']}`",
    ]
    if metrics_table:
        lines += ["", "## Measured", "", metrics_table]
    return "\n".join(lines) + "\n"
