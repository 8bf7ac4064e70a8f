"""Training StyleGAN2 with Lightning: non-saturating logistic loss, lazy R1, EMA generator, DiffAugment.

One iteration = one discriminator step + one generator step on a batch of B real images;
``--steps`` counts iterations (:mod:`genjscc.train.common`). Every
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
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from genjscc.utils.compile import compile_forward
from genjscc.data import crop_pool, load_dataset, stack
from genjscc.utils.images import image_grid, save_image
from genjscc.train.losses import StyleGAN2Loss
from genjscc.models.projected_discriminator import DISCRIMINATORS, ProjectedDiscriminator, ProjectedDiscriminatorConfig
from genjscc.models.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from genjscc.train.augment import DiffAugment
from genjscc.train.args import StyleGAN2TrainArgs, TrainerOptions
from genjscc.train.common import IntervalLogging, IterationCounter, TrainingJob, run_training, single_gpu, training_stream
from genjscc.train.ema import EMA, ema_beta
from genjscc.utils.weights import save_weights

__all__ = ["StyleGAN2Module", "StyleGAN2TrainArgs", "train_stylegan2", "style_mixed_ws"]


# ----------------------------------------------------------------------------- module


def style_mixed_ws(G: Generator, z: Tensor, probability: float, update_w_avg: bool = False) -> Tensor:
    """Latents ``[N, num_ws, w_dim]`` of ``z [N, z_dim]``; with ``probability`` the rows from a random
    cutoff on come from a second z (one cutoff per batch). Drawn on the device: no host synchronisation."""
    ws = G.mapping(z, update_w_avg=update_w_avg)
    if probability > 0:
        cutoff = torch.randint(1, G.num_ws, (), device=z.device)
        cutoff = torch.where(torch.rand((), device=z.device) < probability, cutoff, G.num_ws)
        mixed = torch.arange(G.num_ws, device=z.device) >= cutoff
        ws = torch.where(mixed.view(1, -1, 1), G.mapping(torch.randn_like(z)), ws)
    return ws


class StyleGAN2Module(IterationCounter, IntervalLogging, L.LightningModule):
    """G, D and the EMA generator G_ema; one iteration = the discriminator phase then the generator phase of
    :class:`genjscc.train.losses.StyleGAN2Loss` on one batch. ``iteration`` (:class:`IterationCounter`) and
    ``images_seen`` (images of all processes, for the EMA ramp and kimg) are host ints saved in the checkpoint."""

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
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.ema = EMA(self.G, self.G_ema)
        self.augment = DiffAugment(augment)
        self.gan_loss = StyleGAN2Loss(self.D, r1_gamma=r1_gamma, r1_every=r1_every, augment=self.augment,
                                      frozen_features=discriminator != "plain")
        self.images_seen = 0
        self.run_dir: Path | None = None
        self.sample_every, self.kid_every, self.kid_images = 0, 0, 0
        self.kid_sources: dict[str, Tensor] = {}  # name -> real images [N, 3, S, S] in [0, 1]
        self._kid_real: dict = {}
        self.best_kid = math.inf
        self.session_start_images = 0
        self.export_info: dict | None = None  # recorded in exported weights (arguments, hardware)

    # -- generation
    def _ws(self, n: int, update_w_avg: bool) -> Tensor:
        z = torch.randn(n, self.G.z_dim, device=self.device)
        return style_mixed_ws(self.G, z, self.hparams.style_mixing, update_w_avg=update_w_avg)

    def compile_networks(self) -> None:
        """``--compile``: the synthesis network and D; lazy R1's double backward stays eager."""
        compile_forward(self.G.synthesis, "G.synthesis")
        compile_forward(self.D, "D")

    def training_step(self, batch, batch_idx):
        real = batch.float() / 127.5 - 1 if batch.dtype == torch.uint8 else batch * 2 - 1
        n = real.shape[0]
        opt_g, opt_d = self.optimizers()
        with torch.no_grad():
            fake = self.G.synthesis(self._ws(n, update_w_avg=False), noise_mode="random")
        d = self.gan_loss.discriminator_main(real, fake, regularise=self.gan_loss.r1_due(self.iteration))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d.total)
        opt_d.step()
        fake = self.G.synthesis(self._ws(n, update_w_avg=True), noise_mode="random")
        loss_g = self.gan_loss.generator_main(fake)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        images = n * self.trainer.world_size
        self.ema.update(ema_beta(images, self.images_seen, self.hparams.ema_kimg * 1000, self.hparams.ema_rampup))
        self.images_seen += images
        self.count_iteration()
        logs = {} if d.r1 is None else {"train/r1": d.r1}
        self.log_interval({**logs, "train/loss_d": d.total, "train/loss_g": loss_g,
                           "train/real_logit": d.real_logits.mean(), "train/fake_logit": d.fake_logits.mean()},
                          kimg=self.images_seen / 1000)

    def configure_optimizers(self):
        hp = self.hparams
        c = hp.r1_every / (hp.r1_every + 1) if hp.r1_every > 0 else 1.0  # lazy-regularisation correction
        opt_g = torch.optim.Adam(self.G.parameters(), lr=hp.lr_g, betas=(0.0, 0.99), eps=1e-8)
        opt_d = torch.optim.Adam(self.D.parameters(), lr=hp.lr_d * c, betas=(0.0, 0.99**c), eps=1e-8)
        return [opt_g, opt_d]

    # -- monitoring
    def on_train_start(self):
        self.session_start_images = self.images_seen

    def on_train_batch_end(self, outputs, batch, batch_idx):
        it = self.iteration
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
        record = {"iteration": self.iteration, "kimg": self.images_seen / 1000}
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
                "training": {**(self.export_info or {}), "images_seen": self.images_seen, "iterations": self.iteration},
                **(extra or {})}
        return save_weights(path, self.G_ema.state_dict(), meta, card=card)

    def on_save_checkpoint(self, checkpoint):
        super().on_save_checkpoint(checkpoint)
        checkpoint["best_kid"], checkpoint["images_seen"] = self.best_kid, self.images_seen

    def on_load_checkpoint(self, checkpoint):
        super().on_load_checkpoint(checkpoint)
        self.best_kid = checkpoint.get("best_kid", math.inf)
        state = checkpoint["state_dict"]
        legacy = state.pop("images_seen", None)  # a buffer in checkpoints written before the host count
        self.images_seen = int(checkpoint.get("images_seen", 0 if legacy is None else legacy))
        for key, value in self.state_dict().items():  # fixed filter buffers added after older checkpoints
            if key.endswith("resample_filter"):
                state.setdefault(key, value)


# ----------------------------------------------------------------------------- entry point


SESSION_FIELDS = ("kid_every", "kid_images", "sample_every", "workers", "pool")


def _build_module(args: StyleGAN2TrainArgs, options: TrainerOptions) -> StyleGAN2Module:
    return StyleGAN2Module(args.generator_config().to_dict(), args.discriminator_config().to_dict(), lr_g=args.lr,
                           lr_d=args.lr, r1_gamma=args.r1_gamma, r1_every=args.r1_every, ema_kimg=args.ema_kimg,
                           augment=args.augment, style_mixing=args.style_mixing, seed=args.seed,
                           discriminator=args.discriminator)


def _prepare(module: StyleGAN2Module, args: StyleGAN2TrainArgs, run_dir: Path) -> None:
    module.run_dir, module.sample_every = run_dir, args.sample_every
    module.kid_every, module.kid_images = args.kid_every, args.kid_images
    if args.kid_images:
        module.kid_sources = {
            "train": stack(load_dataset(args.data, "train", args.size, seed=args.seed + 777, length=args.kid_images,
                                        **args.data_options())),
            "test": stack(load_dataset(args.data, "test", args.size, limit=args.kid_images, **args.data_options())),
        }


def _train_loader(args: StyleGAN2TrainArgs, options: TrainerOptions, start: int = 0) -> DataLoader:
    if args.pool > 0:  # the pool is in memory (on the GPU when training on one): no worker processes
        pool = crop_pool(args.data, args.size, args.pool, seed=args.seed, workers=args.workers, **args.data_options())
        device = single_gpu(options)
        return training_stream(args, options, start, dataset=pool.to(device) if device else pool, workers=0)
    return training_stream(args, options, start)


def _export(module: StyleGAN2Module, trainer, args: StyleGAN2TrainArgs, info: dict) -> Path:
    out = Path(trainer.default_root_dir)
    module.to(trainer.strategy.root_device)
    record = module.evaluate_kid(log=False) if args.kid_images else {}
    module.save_samples(out / "samples" / "final.png")
    session_images = module.images_seen - module.session_start_images
    module.export_info = {**asdict(args), **info,
                          "images_per_s_last_session": round(session_images / max(info["wall_time_s_last_session"], 1e-9), 1)}
    extra = {"metrics": record} if record else {}
    meta_preview = {"training": {**module.export_info, "images_seen": module.images_seen, "iterations": module.iteration},
                    "config": module.G_ema.config.to_dict(), **extra}
    return module.export(out / "model.safetensors", extra=extra, card=stylegan2_card(meta_preview, out))


def train_stylegan2(args: StyleGAN2TrainArgs, out: Path, options: TrainerOptions, resume: bool = False,
                    command: str = "") -> Path:
    """Train (or resume) a StyleGAN2; exports ``out/model.safetensors`` (EMA generator); returns its path."""
    job = TrainingJob(args=args, build_module=_build_module, train_loader=_train_loader, export=_export,
                      session_fields=SESSION_FIELDS, prepare=_prepare)
    return run_training(job, out, options, resume=resume, command=command)


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
