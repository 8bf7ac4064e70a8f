"""Training StyleGAN2 with Lightning: non-saturating logistic loss, lazy R1, EMA generator, DiffAugment.

One iteration = one discriminator step + one generator step on a batch of B real images
(``trainer.global_step`` counts both optimiser steps, i.e. 2 per iteration). Every
``sample_every`` iterations a grid of the EMA generator is written to ``RUN/samples/``; every
``kid_every`` iterations KID (Inception pool features, :mod:`genjscc.metrics.fid`) of EMA
samples against training crops and held-out crops is appended to ``RUN/kid.jsonl`` and the
generator with the lowest training-crop KID is exported to ``RUN/best.safetensors``.

Discriminators (``discriminator=``): ``"plain"`` is the StyleGAN2 residual discriminator on
pixels; ``"projected-alex"`` is :class:`genjscc.models.projected_discriminator.ProjectedDiscriminator`
(trainable heads on frozen ImageNet AlexNet features, Projected-GAN style). With the projected
discriminator the D step runs the frozen backbone without autograd (the heads are all that
trains) and lazy R1 penalises the gradient of the real logits with respect to the heads'
inputs (the projected AlexNet features of the augmented reals), not the pixels: it costs one
double backward through the small heads only, and it regularises the part of D that learns.
(Projected GAN itself uses no R1; ``--r1-gamma 0`` gives that.) The generator step
back-propagates through the frozen backbone to the pixels as usual.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from genjscc.data import load_dataset, save_image, stack
from genjscc.models.projected_discriminator import DISCRIMINATORS, ProjectedDiscriminator, ProjectedDiscriminatorConfig
from genjscc.models.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from genjscc.train.common import TrainerOptions, hardware_summary, make_trainer, prepare_run_dir
from genjscc.weights import save_weights

__all__ = ["StyleGAN2Module", "StyleGAN2TrainArgs", "train_stylegan2", "diff_augment", "image_grid", "WallClockLimit"]


# ----------------------------------------------------------------------------- DiffAugment


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Differentiable augmentations (Zhao et al. 2020) of images ``[N, 3, H, W]`` in [-1, 1].

    ``policy``: comma-separated subset of ``color`` (brightness, saturation, contrast),
    ``translation`` (shift by up to 1/8 of the side, zero fill), ``cutout`` (a zeroed square of
    half the side). Every image draws its own parameters.
    """
    n, _, h, w = x.shape
    for op in filter(None, policy.split(",")):
        if op == "color":
            x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
            mean = x.mean(dim=[1, 2, 3], keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean
        elif op == "translation":
            sx, sy = int(w * 0.125 + 0.5), int(h * 0.125 + 0.5)
            dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
            dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
            gy = (torch.arange(h, device=x.device).view(1, h, 1) + dy).expand(n, h, w) + 1
            gx = (torch.arange(w, device=x.device).view(1, 1, w) + dx).expand(n, h, w) + 1
            padded = F.pad(x, [1, 1, 1, 1])  # index 0 / last = zero border
            gy, gx = gy.clamp(0, h + 1), gx.clamp(0, w + 1)
            idx = (gy * (w + 2) + gx).view(n, 1, h * w).expand(-1, x.shape[1], -1)
            x = padded.flatten(2).gather(2, idx).view_as(x)
        elif op == "cutout":
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
            ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
            ys = torch.arange(h, device=x.device).view(1, h, 1)
            xs = torch.arange(w, device=x.device).view(1, 1, w)
            inside = (ys >= oy) & (ys < oy + ch) & (xs >= ox) & (xs < ox + cw)
            x = x * (~inside).unsqueeze(1).to(x.dtype)
        else:
            raise ValueError(f"unknown DiffAugment op {op!r}; use color, translation, cutout")
    return x


def image_grid(images: Tensor, cols: int | None = None, pad: int = 2) -> Tensor:
    """``[N, 3, H, W]`` in [0, 1] -> one ``[3, H', W']`` grid (white gaps)."""
    n, c, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu().clamp(0, 1)):
        r, q = divmod(i, cols)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = img
    return grid


# ----------------------------------------------------------------------------- data


class _CropPool(Dataset):
    """A fixed pool of uint8 crops ``[N, 3, S, S]`` (built once, in parallel); items are uint8."""

    def __init__(self, crops: Tensor):
        self.crops = crops

    def __len__(self) -> int:
        return self.crops.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.crops[index]


def build_crop_pool(data: str, size: int, count: int, seed: int, workers: int) -> Tensor:
    source = load_dataset(data, "train", size, seed=seed, length=count)
    loader = DataLoader(source, batch_size=256, num_workers=workers)
    return torch.cat([(b * 255).round().to(torch.uint8) for b in loader])


class WallClockLimit(L.Callback):
    """Stop cleanly after ``seconds`` of training in this session (not counting earlier sessions)."""

    def __init__(self, seconds: float):
        self.seconds, self.started = seconds, None

    def on_train_start(self, trainer, pl_module):
        self.started = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if time.time() - self.started > self.seconds:
            trainer.should_stop = True


def parse_duration(text: str | float | None) -> float | None:
    """``"DD:HH:MM:SS"``, ``"HH:MM:SS"``, ``"MM:SS"`` or seconds -> seconds (None/"" -> None)."""
    if text in (None, "", 0, "0"):
        return None
    parts = [float(p) for p in str(text).split(":")]
    seconds = 0.0
    for p, unit in zip(reversed(parts), (1, 60, 3600, 86400)):
        seconds += p * unit
    return seconds


# ----------------------------------------------------------------------------- module


class StyleGAN2Module(L.LightningModule):
    def __init__(self, g_config: dict, d_config: dict, lr_g: float = 0.0025, lr_d: float = 0.0025,
                 r1_gamma: float = 0.05, r1_every: int = 16, ema_kimg: float = 5.0, ema_rampup: float = 0.05,
                 augment: str = "color,translation,cutout", style_mixing: float = 0.9, seed: int = 0,
                 discriminator: str = "plain"):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.G = Generator(GeneratorConfig(**g_config))
        if discriminator == "plain":
            self.D = Discriminator(DiscriminatorConfig(**d_config))
        elif discriminator == "projected-alex":
            self.D = ProjectedDiscriminator(ProjectedDiscriminatorConfig(**d_config))
        else:
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {discriminator!r}")
        self.projected = discriminator != "plain"
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("iterations", torch.zeros((), dtype=torch.long))
        self.run_dir: Path | None = None
        self.sample_every, self.kid_every, self.kid_images = 0, 0, 0
        self.kid_sources: dict[str, Tensor] = {}  # name -> real images [N, 3, S, S] in [0, 1]
        self._kid_real: dict = {}
        self.best_kid = math.inf
        self.session_start_images = 0
        self.export_info: dict | None = None  # recorded in exported weights (arguments, hardware)

    # -- generation
    def _ws(self, n: int, update_w_avg: bool) -> Tensor:
        G = self.G
        z = torch.randn(n, G.z_dim, device=self.device)
        ws = G.mapping(z, update_w_avg=update_w_avg)
        if self.hparams.style_mixing > 0 and torch.rand(()).item() < self.hparams.style_mixing:
            cutoff = int(torch.randint(1, G.num_ws, ()).item())
            ws[:, cutoff:] = G.mapping(torch.randn_like(z))[:, cutoff:]
        return ws

    def _augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.hparams.augment) if self.hparams.augment else x

    def training_step(self, batch, batch_idx):
        real = batch.float() / 127.5 - 1 if batch.dtype == torch.uint8 else batch * 2 - 1
        n = real.shape[0]
        opt_g, opt_d = self.optimizers()
        hp = self.hparams
        # discriminator: softplus(D(fake)) + softplus(-D(real)), plus lazy R1 on reals
        with torch.no_grad():
            fake = self.G.synthesis(self._ws(n, update_w_avg=False), noise_mode="random")
        do_r1 = hp.r1_every > 0 and hp.r1_gamma > 0 and int(self.iterations) % hp.r1_every == 0
        if self.projected:  # frozen backbone without autograd; R1 on the heads' inputs
            with torch.no_grad():
                feats = self.D.features(torch.cat([self._augment(real), self._augment(fake)]))
            real_in = [f[:n].requires_grad_(do_r1) for f in feats]
            real_logits = self.D.logits(real_in)
            fake_logits = self.D.logits([f[n:] for f in feats])
        else:
            real_in = [real.detach().requires_grad_(do_r1)]
            real_logits = self.D(self._augment(real_in[0]))
            fake_logits = self.D(self._augment(fake))
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        if do_r1:
            grads = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
            r1 = sum(g.square().sum(dim=[1, 2, 3]) for g in grads).mean()
            loss_d = loss_d + r1 * (hp.r1_gamma / 2) * hp.r1_every
            self.log("train/r1", r1.detach())
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        # generator: softplus(-D(G(z)))
        self.D.requires_grad_(False)
        fake = self.G.synthesis(self._ws(n, update_w_avg=True), noise_mode="random")
        loss_g = F.softplus(-self.D(self._augment(fake))).mean()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.D.requires_grad_(True)
        self._update_ema(n)
        self.images_seen += n * self.trainer.world_size
        self.iterations += 1
        self.log_dict({"train/loss_d": loss_d.detach(), "train/loss_g": loss_g.detach(),
                       "train/real_logit": real_logits.detach().mean(), "train/fake_logit": fake_logits.detach().mean()},
                      prog_bar=True)
        self.log("kimg", self.images_seen.float() / 1000)

    @torch.no_grad()
    def _update_ema(self, n: int) -> None:
        hp = self.hparams
        ema_nimg = hp.ema_kimg * 1000
        if hp.ema_rampup:
            ema_nimg = min(ema_nimg, float(self.images_seen) * hp.ema_rampup)
        beta = 0.5 ** (n * self.trainer.world_size / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def configure_optimizers(self):
        hp = self.hparams
        c = hp.r1_every / (hp.r1_every + 1) if hp.r1_every > 0 else 1.0  # lazy-regularisation correction
        opt_g = torch.optim.Adam(self.G.parameters(), lr=hp.lr_g, betas=(0.0, 0.99), eps=1e-8)
        opt_d = torch.optim.Adam(self.D.parameters(), lr=hp.lr_d * c, betas=(0.0, 0.99**c), eps=1e-8)
        return [opt_g, opt_d]

    # -- monitoring
    def on_train_start(self):
        self.session_start_images = int(self.images_seen)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        it = int(self.iterations)
        if self.trainer.global_rank != 0 or self.run_dir is None:
            return
        if self.sample_every and it % self.sample_every == 0:
            self.save_samples(self.run_dir / "samples" / f"iter{it:07d}.png")
        if self.kid_every and it % self.kid_every == 0:
            self.evaluate_kid()

    @torch.no_grad()
    def generate(self, n: int, seed: int = 0, truncation_psi: float = 1.0, batch: int = 128) -> Tensor:
        """EMA samples in [0, 1], ``[n, 3, S, S]`` (fixed seed)."""
        g = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, n, batch):
            z = torch.randn(min(batch, n - i), self.G_ema.z_dim, generator=g).to(self.device)
            out.append(((self.G_ema(z, truncation_psi, noise_mode="const") + 1) / 2).clamp(0, 1))
        return torch.cat(out)

    def save_samples(self, path: Path, n: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(image_grid(self.generate(n).cpu()), path)

    @torch.no_grad()
    def evaluate_kid(self, log: bool = True) -> dict:
        from genjscc.metrics.fid import inception_features, kernel_inception_distance

        for name, images in self.kid_sources.items():
            if name not in self._kid_real:
                self._kid_real[name] = inception_features(images.to(self.device)).numpy()
        fake = inception_features(self.generate(self.kid_images, seed=1)).numpy()
        record = {"iteration": int(self.iterations), "kimg": float(self.images_seen) / 1000}
        for name, real in self._kid_real.items():
            # half-size subsets, so that the spread over subsets means something
            mean, std = kernel_inception_distance(fake, real, subsets=50, subset_size=max(2, min(len(fake), len(real)) // 2))
            record[f"kid_{name}"], record[f"kid_{name}_std"] = round(mean, 5), round(std, 5)
            if log:
                self.log(f"kid/{name}", mean)
        with open(self.run_dir / "kid.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        key = "kid_train" if "kid_train" in record else None
        if key and record[key] < self.best_kid:
            self.best_kid = record[key]
            self.export(self.run_dir / "best.safetensors", extra={"selected_by": record})
        return record

    def export(self, path: Path, extra: dict | None = None, card: str | None = None) -> Path:
        meta = {"kind": "stylegan2", "config": self.G_ema.config.to_dict(), "discriminator": self.D.config.to_dict(),
                "training": {**(self.export_info or {}), "images_seen": int(self.images_seen), "iterations": int(self.iterations)},
                **(extra or {})}
        return save_weights(path, self.G_ema.state_dict(), meta, card=card)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["best_kid"] = self.best_kid

    def on_load_checkpoint(self, checkpoint):
        self.best_kid = checkpoint.get("best_kid", math.inf)
        state = checkpoint["state_dict"]
        for key, value in self.state_dict().items():  # fixed filter buffers added after older checkpoints
            if key.endswith("resample_filter"):
                state.setdefault(key, value)


# ----------------------------------------------------------------------------- entry point


@dataclass
class StyleGAN2TrainArgs:
    """Everything ``genjscc train stylegan2`` records in run.json and the model card."""

    data: str = "photos"
    size: int = 64
    batch_size: int = 32
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 4
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 8192
    channel_max: int = 128
    lr: float = 0.0025
    r1_gamma: float = 0.05
    r1_every: int = 16
    ema_kimg: float = 5.0
    augment: str = "color,translation,cutout"
    style_mixing: float = 0.9
    pool: int = 0            # >0: draw batches from a fixed pool of this many crops (fast), 0: stream crops
    seed: int = 0
    workers: int = 0
    sample_every: int = 500   # iterations between sample grids (0: never)
    kid_every: int = 0        # iterations between KID evaluations (0: only at the end if kid_images > 0)
    kid_images: int = 0       # generated images per KID evaluation (0: no KID)
    max_time: str = ""        # wall-clock limit of this session, DD:HH:MM:SS or seconds
    discriminator: str = "plain"  # plain (StyleGAN2 residual D) | projected-alex (heads on frozen AlexNet features)

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(img_resolution=self.size, z_dim=self.z_dim, w_dim=self.w_dim, mapping_layers=self.mapping_layers,
                               mapping_lr_multiplier=self.mapping_lr_multiplier, channel_base=self.channel_base,
                               channel_max=self.channel_max)

    def discriminator_config(self) -> DiscriminatorConfig | ProjectedDiscriminatorConfig:
        if self.discriminator == "projected-alex":
            return ProjectedDiscriminatorConfig(img_resolution=self.size)
        if self.discriminator != "plain":
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {self.discriminator!r}")
        return DiscriminatorConfig(img_resolution=self.size, channel_base=self.channel_base, channel_max=self.channel_max)


def train_stylegan2(args: StyleGAN2TrainArgs, out: Path, options: TrainerOptions, resume: bool = False,
                    command: str = "") -> Path:
    """Train (or resume) a StyleGAN2; exports ``out/model.safetensors`` (EMA generator); returns its path.

    ``options.max_steps`` counts iterations (one D and one G step each).
    """
    out = Path(out)
    recorded, ckpt = prepare_run_dir(out, {**asdict(args), "max_steps": options.max_steps, "command": command}, resume)
    if resume:  # session-level settings come from this command line, the model from run.json
        for key in ("max_time", "kid_every", "kid_images", "sample_every", "workers", "pool"):
            recorded[key] = getattr(args, key)
    args = StyleGAN2TrainArgs(**{k: v for k, v in recorded.items() if k in StyleGAN2TrainArgs.__dataclass_fields__})
    L.seed_everything(args.seed, workers=True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # no effect on CPU
    module = StyleGAN2Module(args.generator_config().to_dict(), args.discriminator_config().to_dict(), lr_g=args.lr,
                             lr_d=args.lr, r1_gamma=args.r1_gamma, r1_every=args.r1_every, ema_kimg=args.ema_kimg,
                             augment=args.augment, style_mixing=args.style_mixing, seed=args.seed,
                             discriminator=args.discriminator)
    module.run_dir, module.sample_every = out, args.sample_every
    module.kid_every, module.kid_images = args.kid_every, args.kid_images
    if args.pool > 0:
        train_set = _CropPool(build_crop_pool(args.data, args.size, args.pool, args.seed, args.workers))
        sampler = RandomSampler(train_set, replacement=True, num_samples=10**9, generator=torch.Generator().manual_seed(args.seed))
        loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    else:
        train_set = load_dataset(args.data, "train", args.size, seed=args.seed, length=max(50_000, options.max_steps * args.batch_size))
        loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
                            generator=torch.Generator().manual_seed(args.seed), persistent_workers=args.workers > 0)
    if args.kid_images:
        module.kid_sources = {
            "train": stack(load_dataset(args.data, "train", args.size, seed=args.seed + 777, length=args.kid_images)),
            "test": stack(load_dataset(args.data, "test", args.size, limit=args.kid_images)),
        }
    callbacks = []
    seconds = parse_duration(args.max_time)
    if seconds:
        callbacks.append(WallClockLimit(seconds))
    options = TrainerOptions(**{**asdict(options), "max_steps": 2 * options.max_steps,
                                "checkpoint_every": 2 * options.checkpoint_every})
    trainer = make_trainer(out, options, callbacks=callbacks)
    module.export_info = {**asdict(args), "command": command, "hardware": hardware_summary(), "torch": torch.__version__}
    started = time.time()
    trainer.fit(module, loader, ckpt_path=str(ckpt) if ckpt else None)
    wall = time.time() - started
    trainer.save_checkpoint(str(out / "checkpoints" / "last.ckpt"))
    if trainer.global_rank != 0:
        return out / "model.safetensors"
    module.to(trainer.strategy.root_device)
    record = module.evaluate_kid(log=False) if args.kid_images else {}
    module.save_samples(out / "samples" / "final.png")
    previous = float(json.loads((out / "model.json").read_text())["training"].get("wall_time_s_total", 0)) if resume and (out / "model.json").exists() else 0.0
    module.export_info.update({"wall_time_s_last_session": round(wall, 1), "wall_time_s_total": round(previous + wall, 1),
                               "images_per_s_last_session": round((int(module.images_seen) - module.session_start_images) / max(wall, 1e-9), 1)})
    extra = {"metrics": record} if record else {}
    meta_preview = {"training": {**module.export_info, "images_seen": int(module.images_seen), "iterations": int(module.iterations)},
                    "config": module.G_ema.config.to_dict(), **extra}
    return module.export(out / "model.safetensors", extra=extra, card=stylegan2_card(meta_preview, out))


def stylegan2_card(meta: dict, run_dir: Path | None = None) -> str:
    t, c = meta["training"], meta["config"]
    lines = [
        "# StyleGAN2 model card",
        "",
        f"- Architecture: StyleGAN2 (config F layout, skip generator, residual discriminator), {c['img_resolution']}x{c['img_resolution']}, "
        f"z/w {c['z_dim']}/{c['w_dim']}, mapping depth {c['mapping_layers']} (lr x{c['mapping_lr_multiplier']}), "
        f"channels min({c['channel_base']} // res, {c['channel_max']})",
        f"- Data: `{t['data']}` random crops at {t['size']}x{t['size']} (README, 'Data'); DiffAugment `{t['augment']}`",
        f"- Training: batch {t['batch_size']}, lr {t['lr']}, R1 gamma {t['r1_gamma']} every {t['r1_every']}, EMA half-life {t['ema_kimg']} kimg, "
        f"style mixing {t['style_mixing']}, seed {t['seed']}, discriminator `{t.get('discriminator', 'plain')}`",
        f"- Images seen: {t['images_seen']} ({t['iterations']} iterations)",
        f"- Wall time: {t.get('wall_time_s_last_session')} s last session, {t.get('wall_time_s_total')} s total, on {t['hardware']}, torch {t['torch']}",
        f"- Command: `{t['command']}`",
    ]
    metrics = meta.get("metrics") or {}
    if metrics:
        lines += ["", "## KID (EMA generator, Inception pool features)", "",
                  f"- vs training crops: {metrics.get('kid_train')} ± {metrics.get('kid_train_std')}",
                  f"- vs held-out crops: {metrics.get('kid_test')} ± {metrics.get('kid_test_std')}"]
    if run_dir is not None and (Path(run_dir) / "kid.jsonl").exists():
        lines += ["", "| kimg | KID train | KID held-out |", "|---|---|---|"]
        for line in (Path(run_dir) / "kid.jsonl").read_text().splitlines():
            r = json.loads(line)
            lines.append(f"| {r['kimg']:.0f} | {r.get('kid_train')} | {r.get('kid_test')} |")
    return "\n".join(lines) + "\n"
