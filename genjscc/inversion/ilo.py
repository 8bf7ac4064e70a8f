"""Intermediate Layer Optimization (ILO, Daras et al., ICML 2021) on a StyleGAN2 generator.

Objective, per image n, for an observation ``y [N, 3, h, w]`` in [0, 1], the generator's
image ``G = (synthesis + 1) / 2 [N, 3, R, R]`` (not clamped) and a forward operator ``A``:

.. math::

    L_n = \\lambda_{\\text{mse}} \\operatorname{MSE}(A(G_n), y_n)
        + \\lambda_{\\text{lpips}} \\operatorname{LPIPS}(A(G_n), y_n)
        + \\lambda_{\\text{geo}} \\operatorname{geocross}(z_n).

Adam minimises :math:`\\sum_n L_n`; Adam is elementwise and images do not interact, so every
image follows the trajectory it would follow alone (a batch equals single runs).

Latents: ``latent="w"`` is one row per image shared by all ``num_ws`` rows of W+, ``"w+"`` one
row per W+ row. ``space="proxy"`` optimises ``z`` on the sphere of radius ``sqrt(w_dim)`` with
``w = lrelu_0.2(std * z + mean)`` (:mod:`.latents`); ``space="w"`` optimises w from ``w_avg``.

Rounds: round 0 optimises the latent (and the noise maps if asked). Round ``r >= 1`` runs the
blocks before ``b = first_block + r - 1`` once on the previous round's last iterate and makes
the feature map entering block b a variable (the latent and noises stay variables; the blocks
before b are not run again). The skip RGB image entering b is kept fixed: the low-resolution
image is what the earlier blocks drew, and only the features may move. Each round has a fresh
Adam and the learning rate ``lr * min(1, t / rampup) * (0.5 - 0.5 cos(pi min(1, (1 - t) / rampdown)))``
at the middle ``t = (i + 1/2) / steps`` of step i (the StyleGAN projector schedule, taken mid-step
so that every step has a positive rate: at ``t = i / steps`` step 0 would not move).

Projections after every step: z rows to their sphere, noise maps to zero mean and unit
variance; with ``radii``, the deviation of the latent and the feature map from their values at
the start of the round onto the l1 ball of that round's radius (per image; before the sphere,
so for proxy latents the ball holds up to the final rescaling). Every iterate is scored: the
start, and the result of each of the ``sum(steps)`` updates (the last one by a forward pass
after the loop); the best per image (MSE to the observation, or the whole objective) is returned.

==================  ==============================================  ====================
setting             paper scale (256²/1024² official generators)    this project (64²)
==================  ==============================================  ====================
steps               [50, 50, 25, 25]                                (100,)
lr                  0.1                                             0.1
latent              "w+"                                            "w"
space               Gaussian proxy                                  "w" (start at w_avg)
lpips (VGG)         1                                               1
geocross            0.01                                            0.01 (no effect with "w")
optimize_noise      True                                            False
first_block         chosen per generator                            1 (used with > 1 round)
==================  ==============================================  ====================

Why the project differs (a probe inverting the 64² prior on 16 of its own samples): free W+
and a feature-map round can reproduce the blur of a DeepJSCC output and gain nothing, while one w per image lowered
LPIPS-alex by 0.10 at no PSNR cost. Between the two spaces for that one w, a pilot on 16
in-range images (DeepJSCC 1/48, AWGN 0 dB, 100 steps) gave LPIPS-alex 0.217 / PSNR −0.09 dB
from w_avg ("w") and 0.207 / −1.09 dB from a random proxy z ("proxy"): starting at the mean
keeps the distortion, so "w" is the default.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.inversion.latents import (
    GaussianProxy,
    gaussian_proxy,
    geocross,
    normalize_noise,
    project_l1_ball,
    project_sphere,
)
from genjscc.inversion.tracking import BestIterate, progress_reporter
from genjscc.metrics import lpips_network

__all__ = ["ILOSettings", "InversionResult", "invert", "learning_rate"]

_LATENTS = ("w", "w+")
_SPACES = ("proxy", "w")
_SELECT = ("mse", "loss")
_NETS = ("vgg", "alex")


@dataclass(frozen=True)
class ILOSettings:
    steps: tuple[int, ...] = (100,)  # Adam steps per round (round r >= 1 adds a feature map)
    first_block: int = 1             # synthesis block whose input is round 1's variable
    latent: str = "w"                # "w": one latent per image; "w+": one per W+ row
    space: str = "w"                 # "w": w from w_avg (deterministic); "proxy": z on a sphere through the Gaussian proxy
    lr: float = 0.1
    rampup: float = 0.05             # fraction of each round with a linear warm-up
    rampdown: float = 0.75           # fraction of each round with the cosine ramp-down
    mse: float = 1.0                 # λ_mse
    lpips: float = 1.0               # λ_lpips; 0 builds no network
    lpips_net: str = "vgg"
    geocross: float = 0.01           # λ_geo between W+ rows (latent "w+" only)
    optimize_noise: bool = False     # noise maps as variables, kept at unit variance
    radii: tuple[float, ...] | None = None  # l1-ball radius per round for the deviation (None = off)
    select: str = "mse"              # best iterate by "mse" to the observation or by "loss"

    def __post_init__(self):
        steps = tuple(int(s) for s in self.steps) if not isinstance(self.steps, int) else (int(self.steps),)
        object.__setattr__(self, "steps", steps)
        if not steps:
            raise ValueError("ILOSettings.steps is empty: give at least one round, e.g. steps=(100,)")
        if any(s <= 0 for s in steps):
            raise ValueError(f"ILOSettings.steps={steps} has a round with zero (or negative) steps: "
                             "drop that round or give every round at least 1 step")
        for name, value, allowed in (("latent", self.latent, _LATENTS), ("space", self.space, _SPACES),
                                     ("select", self.select, _SELECT), ("lpips_net", self.lpips_net, _NETS)):
            if value not in allowed:
                raise ValueError(f"ILOSettings.{name} must be one of {allowed}, got {value!r}")
        for name in ("mse", "lpips", "geocross"):
            if getattr(self, name) < 0:
                raise ValueError(f"ILOSettings.{name} is a loss weight and must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"ILOSettings.lr must be > 0, got {self.lr}")
        if not 0 <= self.rampup <= 1 or not 0 < self.rampdown <= 1:
            raise ValueError(f"ILOSettings needs 0 <= rampup <= 1 and 0 < rampdown <= 1, "
                             f"got rampup={self.rampup}, rampdown={self.rampdown}")
        if self.first_block < 1:
            raise ValueError(f"ILOSettings.first_block must be >= 1 (block 0 starts from a constant), "
                             f"got {self.first_block}")
        if self.radii is not None:
            radii = tuple(float(r) for r in self.radii)
            object.__setattr__(self, "radii", radii)
            if len(radii) != len(steps):
                raise ValueError(f"ILOSettings.radii has {len(radii)} entries for {len(steps)} rounds: "
                                 "give one radius per round")
            if any(r <= 0 for r in radii):
                raise ValueError(f"ILOSettings.radii must all be > 0, got {radii}")


@dataclass
class InversionResult:
    images: Tensor          # [N, 3, R, R] in [0, 1], best iterate per image (clamped)
    ws: Tensor              # [N, num_ws, w_dim] of the best iterate
    loss: Tensor            # [N] objective of the returned iterate
    mse: Tensor             # [N] MSE of A(G) to the observation, returned iterate
    history: list[float]    # mean objective of the start, then of the iterate after each update (1 + sum(steps))
    latents: Tensor | None = None  # [N, 1 | num_ws, w_dim] the optimised variable (z or w) of the best iterate
    noises: list[Tensor] | None = field(default=None)  # per layer [N, 1, r, r] of the best iterate (optimize_noise)


def learning_rate(settings: ILOSettings, t: float) -> float:
    """Learning rate at the fraction ``t`` in [0, 1) of a round (warm-up, then cosine ramp-down)."""
    up = min(1.0, t / settings.rampup) if settings.rampup > 0 else 1.0
    down = min(1.0, (1.0 - t) / settings.rampdown)
    return settings.lr * up * (0.5 - 0.5 * math.cos(math.pi * down))


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """Eval mode and no parameter gradients for the duration; both restored afterwards."""
    training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        module.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(training)


def _forward_operator(forward, observation: Tensor, resolution: int) -> Callable[[Tensor], Tensor]:
    if forward is not None:
        return forward
    h, w = observation.shape[-2:]
    if h != w:
        raise ValueError(f"observation must be square without a forward= operator, got {h}x{w}")
    if h == resolution:
        return lambda images: images
    if resolution % h == 0:
        factor = resolution // h
        return lambda images: F.avg_pool2d(images, factor)
    raise ValueError(f"observation is {h}x{w} but the generator makes {resolution}x{resolution} images: pass an "
                     f"observation whose side divides {resolution} (area downsampling) or a forward= operator "
                     f"that maps {resolution}x{resolution} images to {h}x{w}")


def _seed_list(seeds: Sequence[int] | int, n: int) -> list[int]:
    if isinstance(seeds, int):
        return [seeds + i for i in range(n)]
    seeds = [int(s) for s in seeds]
    if len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} observations: give one per image or an int")
    return seeds


def invert(generator: nn.Module, observation: Tensor, settings: ILOSettings = ILOSettings(), *,
           forward: Callable[[Tensor], Tensor] | None = None, seeds: Sequence[int] | int = 0,
           progress: bool | Callable[[int, int], None] = False) -> InversionResult:
    """Find generator images whose ``forward`` view matches ``observation [N, 3, h, w]`` in [0, 1].

    ``forward`` maps images ``[N, 3, R, R]`` in [0, 1] to the observation's shape (differentiably);
    without it the operator is the identity when ``h == w == R`` and area downsampling when R is
    a multiple of h. Random draws (z, initial noise) of image n use ``torch.Generator`` seeded
    with ``seeds[n]`` (an int s means s, s + 1, ...). Runs on the generator's device with
    gradients on, even inside ``torch.inference_mode()``; the generator's mode and
    ``requires_grad`` flags are restored and its parameters get no ``.grad``. ``progress``: ``True``
    draws a bar; a callable gets ``progress(steps done, steps in all)`` after each step (an
    exception it raises stops the solver and propagates).
    """
    with torch.inference_mode(False), torch.enable_grad(), _frozen(generator):
        return _solve(generator, observation, settings, forward, seeds, progress)


def _solve(G: nn.Module, observation: Tensor, s: ILOSettings, forward, seeds, progress) -> InversionResult:
    device = next(G.parameters()).device
    R, num_ws, dim = G.img_resolution, G.num_ws, G.w_dim
    channels = G.synthesis.img_channels
    if observation.dim() != 4 or observation.shape[1] != channels:
        raise ValueError(f"observation must be [N, {channels}, h, w] (RGB in [0, 1]), got shape "
                         f"{tuple(observation.shape)}: check the channel count and the batch dimension")
    y = observation.detach().to(device=device, dtype=torch.float32).clone()  # a normal tensor, even from inference mode
    n = y.shape[0]
    A = _forward_operator(forward, y, R)
    seeds = _seed_list(seeds, n)
    blocks = G.synthesis.blocks()
    if len(s.steps) > 1 and s.first_block + len(s.steps) - 2 > len(blocks) - 1:
        raise ValueError(f"ILOSettings.first_block={s.first_block} with {len(s.steps)} rounds needs block "
                         f"{s.first_block + len(s.steps) - 2}, but the generator has blocks 0..{len(blocks) - 1}: "
                         "lower first_block or use fewer rounds")
    lpips = lpips_network(s.lpips_net, str(device)) if s.lpips > 0 else None

    # per-image draws from per-image generators, so a batch repeats single runs
    rows = 1 if s.latent == "w" else num_ws
    noise_sizes = [b.shape[-1] for b in G.synthesis.noise_buffers()]
    z_draws, noise_draws = [], []
    for seed in seeds:
        rng = torch.Generator().manual_seed(seed)
        if s.space == "proxy":
            z_draws.append(torch.randn(rows, dim, generator=rng))
        if s.optimize_noise:
            noise_draws.append([torch.randn(1, size, size, generator=rng) for size in noise_sizes])
    proxy: GaussianProxy | None = None
    if s.space == "proxy":
        proxy = gaussian_proxy(G)
        latent = project_sphere(torch.stack(z_draws).to(device))
    else:
        latent = G.w_avg.detach().float().to(device).expand(n, rows, dim).clone()
    latent.requires_grad_(True)
    noises = None
    if s.optimize_noise:
        noises = [normalize_noise(torch.stack(maps).to(device)).requires_grad_(True) for maps in zip(*noise_draws)]
    noise_mode = "const"

    def to_ws(lat: Tensor) -> Tensor:
        return (proxy(lat) if proxy is not None else lat).expand(n, num_ws, dim)

    best = BestIterate(n, device)
    history: list[float] = []
    start, x, img = 0, None, None

    def score() -> Tensor:
        """Objective [N] of the current iterate; kept as the best where it improves, and in the history."""
        ws = to_ws(latent)
        raw = G.synthesis(ws, noise_mode=noise_mode, noises=noises, start=start, x=x, img=img)
        loss, mse = _objective((raw + 1) / 2, y, A, s, lpips, latent)
        best.update(loss if s.select == "loss" else mse, raw=raw, ws=ws, loss=loss, mse=mse, latent=latent,
                    noises=noises)
        history.append(loss.detach().mean().item())
        return loss

    with progress_reporter(progress, sum(s.steps)) as report:
        for r, steps in enumerate(s.steps):
            if r > 0:  # the features entering the next block become a variable
                block = s.first_block + r - 1
                with torch.no_grad():
                    x, img = G.synthesis(to_ws(latent), noise_mode=noise_mode, noises=noises, start=start, x=x,
                                         img=img, stop=block)
                start, x = block, x.detach().clone().requires_grad_(True)
            variables = [latent] + (noises or []) + ([x] if x is not None else [])
            anchors = [(v, v.detach().clone()) for v in ([latent] + ([x] if x is not None else []))]
            optimizer = torch.optim.Adam(variables, lr=s.lr)
            for i in range(steps):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(s, (i + 0.5) / steps)  # mid-step: positive for every step
                loss = score()  # the start, or the iterate of the previous update (of this round or the last)
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimizer.step()
                with torch.no_grad():
                    if s.radii is not None:
                        for v, anchor in anchors:
                            v.copy_(anchor + project_l1_ball(v - anchor, s.radii[r]))
                    if proxy is not None:
                        latent.copy_(project_sphere(latent))
                    for noise in noises or []:
                        noise.copy_(normalize_noise(noise))
                report(history[-1], r)
        with torch.no_grad():
            score()  # the iterate of the last update
    if best["raw"] is None:
        raise RuntimeError("the ILO objective was NaN at every step: check the observation and the generator")
    return InversionResult(images=((best["raw"] + 1) / 2).clamp(0, 1), ws=best["ws"], loss=best["loss"],
                           mse=best["mse"], history=history, latents=best["latent"], noises=best["noises"])


def _objective(images: Tensor, y: Tensor, A, s: ILOSettings, lpips, latent: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image objective and MSE ``[N]`` for generator images ``[N, 3, R, R]`` in [0, 1]."""
    seen = A(images)
    if seen.shape != y.shape:
        raise ValueError(f"the forward operator gives {tuple(seen.shape)} from images {tuple(images.shape)}, "
                         f"but the observation is {tuple(y.shape)}: make forward= map to the observation's shape")
    mse = (seen - y).square().flatten(1).mean(dim=1)
    loss = s.mse * mse
    if lpips is not None:
        loss = loss + s.lpips * lpips(seen, y)
    if s.geocross > 0 and latent.shape[1] > 1:
        loss = loss + s.geocross * geocross(latent)
    return loss, mse.detach()
