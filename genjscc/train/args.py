"""Arguments of the trainers, declared once (the CLI builds its options from these fields).

Kept apart from the trainers so that the command line can describe them without importing
Lightning. ``TrainerOptions`` says *how* to run (Lightning flags, length, checkpoints);
``DeepJSCCTrainArgs`` / ``StyleGAN2TrainArgs`` / ``GenerativeJSCCTrainArgs`` say *what* to train
and are recorded, flat, in ``run.json`` and the model card.

What the trainers share is written once, with its checks: :class:`DataArgs` (the data),
:class:`TrainingArgs` (batch, learning rate, seed, loader workers), :class:`LPIPSArgs` (the
perceptual term) and :class:`ChannelArgs` (BCR, channel, SNR). A trainer re-declares a shared
field only to give it its own default or help. The architecture flags of StyleGAN2 are fields of
:class:`genjscc.models.configs.GeneratorConfig` (:func:`config_options`: their names and types
come from the config), and every trainer builds its model config from the fields it shares with
it by name (:func:`config_from`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields, make_dataclass
from typing import TYPE_CHECKING

from genjscc.models.configs import GeneratorConfig, matching_discriminator  # torch-free

if TYPE_CHECKING:  # the checks import them when an argument object is made: `genjscc train X --help` needs no torch
    from genjscc.models.deepjscc import DeepJSCCConfig
    from genjscc.models.generative_jscc import GenerativeJSCCConfig

__all__ = ["flag_name", "option", "config_options", "config_from", "TrainerOptions", "parse_duration", "parse_snr_spec",
           "DataArgs", "TrainingArgs", "LPIPSArgs", "ChannelArgs", "DeepJSCCTrainArgs", "StyleGAN2TrainArgs",
           "GenerativeJSCCTrainArgs"]


def flag_name(field_name: str) -> str:
    """The command-line flag of an argument field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field_name.replace("_", "-")


def option(default, help: str, *flags: str, names_model: bool = False):
    """A dataclass field with its command-line help (and optional flag names, e.g. an alias).

    Training arguments are declared once, as fields of a trainer's argument dataclass; the CLI
    builds its options from them (:func:`genjscc.cli.options.training_command`).
    ``names_model``: the value names a model (zoo name or path), resolved by the CLI.
    """
    return field(default=default, metadata={"help": help, "flags": flags, "names_model": names_model})


def config_options(config_cls, options: dict[str, tuple]) -> type:
    """A dataclass of argument fields that are fields of the model config ``config_cls``.

    ``options`` maps a config field's name to its training default and its flag's help,
    ``(default, help)``; the field's name and type are the config's, so a flag cannot drift from
    the field it sets (:func:`config_from` passes it on by that name).
    """
    declared = {f.name for f in fields(config_cls)}
    unknown = sorted(set(options) - declared)
    if unknown:
        raise TypeError(f"{config_cls.__name__} has no fields {unknown}")
    hints = typing.get_type_hints(config_cls)
    return make_dataclass(f"{config_cls.__name__}Options",
                          [(name, hints[name], option(default, help)) for name, (default, help) in options.items()])


def config_from(args, config_cls, **given):
    """``config_cls`` built from the fields ``args`` shares with it by name, and ``given`` (the rest)."""
    names = {f.name for f in fields(args)}
    shared = {f.name: getattr(args, f.name) for f in fields(config_cls) if f.name in names}
    return config_cls(**{**shared, **given})


DATA_HELP = ("photos | deadleaves | folder:PATH | cifar10:PATH | prior:NAME[@PSI] (images of a StyleGAN2 prior, "
             "truncation PSI in [0, 1], default 0.7) | a mix A+B[@F] (train on B with probability F, test on A)")


@dataclass
class TrainerOptions:
    """How to run (not what to train): Lightning flags and the run's length; the same code runs
    on a CPU, one GPU, many GPUs (``strategy=ddp``) and many nodes."""

    steps: int = option(1000, "iterations: one training step on one batch each (all optimisers)")
    devices: str = option("auto", "Lightning devices: auto, N, or a list such as 0,1")
    accelerator: str = option("auto", "Lightning accelerator: auto | cpu | gpu")
    strategy: str = option("auto", "Lightning strategy, e.g. ddp")
    precision: str = option("32-true", "Lightning precision, e.g. bf16-mixed (32-true is the checked setting)")
    num_nodes: int = option(1, "machines (Lightning num_nodes)")
    checkpoint_every: int = option(500, "iterations between checkpoints (RUN/checkpoints/last.ckpt)")
    log_every: int = option(50, "Lightning logging interval (optimiser steps)")
    max_time: str = option("", "wall-clock limit of this session: DD:HH:MM:SS, HH:MM:SS, MM:SS or seconds")
    progress: bool = option(True, "show a progress bar")
    compile: bool = option(False, "torch.compile the networks (eager fallback with a warning where compile is unavailable)")
    name: str = option("", "the exported model's name in result records (stored in its metadata; default: the run "
                           "folder's name)")

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {self.steps}")
        if self.checkpoint_every < 1:
            raise ValueError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        parse_duration(self.max_time)


def parse_duration(text: str | float | None) -> float | None:
    """``"DD:HH:MM:SS"``, ``"HH:MM:SS"``, ``"MM:SS"`` or seconds -> seconds (None/"" -> None)."""
    if text in (None, "", 0, "0"):
        return None
    try:
        parts = [float(p) for p in str(text).split(":")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 4 or any(p < 0 for p in parts):
        raise ValueError(f"cannot read the duration (--max-time) {text!r}: use DD:HH:MM:SS, HH:MM:SS, MM:SS or seconds")
    return sum(p * unit for p, unit in zip(reversed(parts), (1, 60, 3600, 86400)))


def parse_snr_spec(snr: str | float) -> tuple[float, float]:
    """``"0"`` -> (0, 0); ``"-5,10"`` -> (-5, 10) (uniform range in dB)."""
    try:
        parts = [float(p) for p in str(snr).split(",")]
    except ValueError:
        raise ValueError(f"cannot read the SNR {snr!r}: give dB as a number (0) or a range LOW,HIGH (-5,10)") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] > parts[1]:
        raise ValueError(f"SNR range must be LOW,HIGH in dB with LOW <= HIGH, got {snr!r}")
    return parts[0], parts[1]


@dataclass
class DataArgs:
    """The training data of every trainer and its image side (the first flags of each ``genjscc train`` command)."""

    data: str = option("photos", DATA_HELP)
    skip_bad: bool = option(False, "folder data: skip unreadable image files (counted) instead of failing")
    resize_small: bool = option(False, "folder data: upscale images smaller than --size instead of failing")
    size: int = option(64, "image side (px)")
    crop_scale: str = option("downscaled", "training crops of photos and folders: downscaled (a random share of "
                                           "the image resized to --size) | native (--size pixels at the image's "
                                           "own scale, as whole images are sent)")

    def __post_init__(self):
        """The root of the argument checks: each argument class checks its fields, then calls ``super()``."""
        from genjscc.data.datasets import CROP_SCALES

        if self.crop_scale not in CROP_SCALES:
            raise ValueError(f"--crop-scale must be one of {', '.join(CROP_SCALES)}, got {self.crop_scale!r}")

    def data_options(self) -> dict:
        """Keyword options of :func:`genjscc.data.load_dataset` for folder data."""
        return {"skip_bad": self.skip_bad, "resize_small": self.resize_small, "crop_scale": self.crop_scale}


@dataclass
class TrainingArgs(DataArgs):
    """Data, batch, optimiser and seed: what every trainer takes (defaults and help of the most common case)."""

    batch_size: int = option(32, "images per iteration (per device)")
    lr: float = option(1e-3, "Adam learning rate (cosine decay to lr/20)")
    seed: int = option(0, "seed of weights, data and channel draws")
    workers: int = option(0, "data loader worker processes")

    def __post_init__(self):
        super().__post_init__()
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")


@dataclass
class LPIPSArgs(DataArgs):
    """The perceptual term of ``MSE + λ·LPIPS`` (:class:`genjscc.train.losses.PerceptualDistortion`)."""

    lpips_weight: float = option(0.0, "λ in MSE + λ·LPIPS")
    lpips_net: str = option("vgg", "LPIPS backbone of the loss: vgg | alex")

    def __post_init__(self):
        super().__post_init__()
        if self.lpips_net not in ("vgg", "alex"):
            raise ValueError(f"--lpips-net must be vgg or alex, got {self.lpips_net!r}")
        if self.lpips_weight < 0:
            raise ValueError(f"--lpips-weight must be >= 0, got {self.lpips_weight}")


@dataclass
class ChannelArgs(DataArgs):
    """What a JSCC model is trained through: its BCR, the channel and the SNR (with ``size`` and the trainer's
    encoder stride ``downsample``, the BCR gives the encoder's output channels)."""

    bcr: str = option("1/48", "bandwidth compression ratio k/n")
    channel: str = option("awgn", "awgn | rayleigh | fast-rayleigh")
    snr: str = option("0", "training SNR in dB, or a range LOW,HIGH drawn per image", "--snr", "--snr-range")

    def __post_init__(self):
        from genjscc.channel.registry import build_channel

        super().__post_init__()
        parse_snr_spec(self.snr)
        build_channel(self.channel)

    def encoder_channels(self) -> int:
        """C, the real encoder output channels that give ``bcr`` at ``size`` x ``size`` with stride ``downsample``."""
        from genjscc.channel import bcr_to_channels

        return bcr_to_channels(self.bcr, self.size, self.size, self.downsample)


@dataclass
class DeepJSCCTrainArgs(ChannelArgs, LPIPSArgs, TrainingArgs):
    """What ``genjscc train deepjscc`` trains (recorded in run.json and the model card)."""

    size: int = option(64, "training crop side (px)")
    bcr: str = option("1/48", "bandwidth compression ratio k/n, e.g. 1/12")
    snr_adaptive: bool = option(False, "ADJSCC SNR-attention modules (one model for an SNR range)")
    arch: str = option("paper", "backbone: paper (Bourtsoulatze five-conv stacks) | resgdn (residual GDN stages)")
    width: int = option(96, "resgdn: channels of the residual stages")
    downsample: int = option(8, "total encoder stride f (8 reaches BCR 1/6 .. 1/384)")
    filters: str = option("16,32,32,32", "paper: hidden widths of the 4 hidden layers")
    batch_size: int = option(64, "images per iteration (per device)")
    seed: int = option(0, "seed of weights, crops and channel draws")
    val_every: int = option(0, "validate on held-out crops every N iterations (0: never)")
    init: str = option("", "start from this model (zoo name or .safetensors; fine-tuning)", names_model=True)

    def __post_init__(self):
        super().__post_init__()
        try:
            self.model_config()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad model arguments: {exc}") from None

    def model_config(self) -> DeepJSCCConfig:
        from genjscc.models.deepjscc import DeepJSCCConfig

        return config_from(self, DeepJSCCConfig, channels=self.encoder_channels(),
                           filters=tuple(int(f) for f in self.filters.split(",")))


# the GeneratorConfig fields that are flags of the StyleGAN2 trainer: (training default, help); the defaults
# make a small prior (GeneratorConfig's own, FFHQ-sized ones describe official files); size sets img_resolution
STYLEGAN2_ARCHITECTURE = {
    "z_dim": (256, "latent z dimension"),
    "w_dim": (256, "intermediate w dimension"),
    "mapping_layers": (4, "depth of the mapping network"),
    "mapping_lr_multiplier": (0.01, "equalised-lr multiplier of the mapping network"),
    "channel_base": (8192, "channels at resolution r: min(channel_base // r, channel_max)"),
    "channel_max": (128, "largest channel count"),
}


@dataclass
class StyleGAN2TrainArgs(config_options(GeneratorConfig, STYLEGAN2_ARCHITECTURE), TrainingArgs):
    """What ``genjscc train stylegan2`` trains (recorded in run.json and the model card)."""

    size: int = option(64, "image side (a power of two >= 8)")
    batch_size: int = option(32, "real images per iteration (per device)")
    lr: float = option(0.0025, "Adam lr of G and D (betas 0, 0.99)")
    seed: int = option(0, "seed of weights, latents and crops")
    r1_gamma: float = option(0.05, "R1 weight gamma (0: off)")
    r1_every: int = option(16, "lazy R1 interval in D steps")
    ema_kimg: float = option(5.0, "EMA half-life of the generator in thousands of images")
    augment: str = option("color,translation,cutout", "DiffAugment policy ('' for none)")
    style_mixing: float = option(0.9, "style-mixing probability")
    discriminator: str = option("plain", "plain (StyleGAN2 residual D on pixels) | projected-alex "
                                "(trainable heads on frozen ImageNet AlexNet features, Projected-GAN style)")
    pool: int = option(0, "draw batches from a fixed pool of this many crops (fast on GPU); 0: stream crops")
    sample_every: int = option(500, "iterations between sample grids in RUN/samples (0: never)")
    kid_every: int = option(0, "iterations between KID evaluations (RUN/kid.jsonl; 0: only at the end)")
    kid_images: int = option(0, "generated images per KID evaluation (0: no KID)")

    def __post_init__(self):
        super().__post_init__()
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"--size must be a power of two >= 8, got {self.size}")
        from genjscc.models.projected_discriminator import DISCRIMINATORS  # lazy: it loads the metrics stack

        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"--discriminator must be one of {', '.join(DISCRIMINATORS)}, got {self.discriminator!r}")
        from genjscc.train.augment import DiffAugment

        DiffAugment(self.augment)  # checks the policy

    def generator_config(self) -> GeneratorConfig:
        return config_from(self, GeneratorConfig, img_resolution=self.size)

    def discriminator_config(self):
        """``DiscriminatorConfig`` (plain: matching the generator) or ``ProjectedDiscriminatorConfig`` (projected-alex)."""
        from genjscc.models.projected_discriminator import ProjectedDiscriminatorConfig

        if self.discriminator == "projected-alex":
            return ProjectedDiscriminatorConfig(img_resolution=self.size)
        return matching_discriminator(self.generator_config())


@dataclass
class GenerativeJSCCTrainArgs(ChannelArgs, LPIPSArgs, TrainingArgs):
    """What ``genjscc train generative`` trains (recorded in run.json and the model card)."""

    prior: str = option("stylegan2-photos64", "StyleGAN2 prior (zoo name or file load_stylegan2 reads): its config "
                        "shapes the decoder and, with --prior-init, its weights initialise the synthesis", names_model=True)
    prior_init: bool = option(True, "initialise the synthesis from the prior (--no-prior-init: random weights, an ablation)")
    init_jscc: str = option("", "residual-GDN DeepJSCC (zoo name or file) whose encoder and first decoder layers "
                            "initialise the encoder and the head", names_model=True)
    init: str = option("", "start from this GenerativeJSCC (zoo name or file; fine-tuning, e.g. on photos after a run "
                       "on prior samples): its config must match this command's model", names_model=True)
    size: int = option(64, "image side (must equal the prior's resolution)")
    snr: str = option("-5,10", "training SNR in dB, or a range LOW,HIGH drawn per image", "--snr", "--snr-range")
    width: int = option(96, "residual-GDN width of the encoder and the head trunk")
    blocks: int = option(2, "residual blocks at the latent resolution")
    downsample: int = option(8, "encoder stride f")
    decoder: str = option("residual", "residual (DeepJSCC's base image + the prior's detail) | synthesis (the whole "
                          "synthesis network draws the image from predicted w+ codes and injected head features)")
    inject_resolution: int = option(0, "residual: the synthesis block whose input the head provides (16, 32 or 64 at "
                                    "64x64); synthesis: the first block whose output receives head features (4 .. R/2); "
                                    "0: the decoder's default (64 residual, 8 synthesis)")
    w_codes: int = option(1, "predicted w codes (groups of w+ rows; residual: from the injection block on)")
    predict_noise: bool = option(False, "residual decoder: the head also predicts the synthesis noise maps")
    latent_weight: float = option(0.0, "synthesis decoder on prior:NAME data: weight of the latent term "
                                  "|ŵ - w|² / |w - w_avg|² against the latent that made each training image (0: off)")
    latent_steps: int = option(0, "synthesis decoder on prior:NAME data: first iterations trained on the latent term "
                               "alone (the synthesis does not run: cheap), before the image loss starts")
    lr: float = option(2e-4, "Adam learning rate of the encoder and the head trunk, DeepJSCC's parts (cosine to lr/20)")
    head_lr: float = option(1e-3, "Adam learning rate of the new layers that feed the prior (features, w codes, gain)")
    synthesis_lr: float = option(1e-4, "Adam learning rate of the synthesis blocks after the warm-up")
    freeze_synthesis: int = option(200, "iterations with the synthesis frozen (warm-up of the new head)")
    lpips_weight: float = option(0.1, "λ in MSE + λ·LPIPS")
    adversarial_weight: float = option(0.0, "weight of a non-saturating GAN term from a StyleGAN2 discriminator (0: off)")
    r1_gamma: float = option(0.05, "R1 weight of the discriminator (with --adversarial-weight)")
    sample_every: int = option(500, "iterations between grids of held-out reconstructions in RUN/samples (0: never)")

    def __post_init__(self):
        super().__post_init__()
        self.encoder_channels()  # checks that the BCR is reachable
        for name in ("adversarial_weight", "r1_gamma", "synthesis_lr", "head_lr", "freeze_synthesis",
                     "latent_weight", "latent_steps", "inject_resolution"):
            if getattr(self, name) < 0:
                raise ValueError(f"{flag_name(name)} must be >= 0, got {getattr(self, name)}")
        if not self.prior:
            raise ValueError("--prior is required: a StyleGAN2 zoo name or file (its config shapes the decoder)")
        from genjscc.models.generative_jscc import DECODERS

        if self.decoder not in DECODERS:
            raise ValueError(f"--decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if (self.latent_weight > 0 or self.latent_steps > 0) and not (self.decoder == "synthesis"
                                                                      and self.data.startswith("prior:")):
            raise ValueError("--latent-weight and --latent-steps need --decoder synthesis and --data prior:NAME "
                             "(the latent that made each training image is the target)")
        if self.latent_steps > 0 and self.latent_weight <= 0:
            raise ValueError("--latent-steps trains on the latent term alone: give it a --latent-weight > 0")

    def model_config(self, generator_config: dict) -> GenerativeJSCCConfig:
        """The GenerativeJSCC config for a prior with ``generator_config`` (checked)."""
        from genjscc.models.generative_jscc import GenerativeJSCCConfig

        if generator_config["img_resolution"] != self.size:
            r = generator_config["img_resolution"]
            raise ValueError(f"the prior {self.prior} makes {r}x{r} images, not --size {self.size}: use --size {r} "
                             "or a prior of that size")
        return config_from(self, GenerativeJSCCConfig, channels=self.encoder_channels(), generator=generator_config,
                           snr_adaptive=True)
