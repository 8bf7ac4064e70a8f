"""The ``inverse`` scheme (InverseJSCC): a DeepJSCC whose output is cleaned by inverting a StyleGAN2 prior.

``x̂ = DeepJSCC(x)`` through the channel, then ILO (:func:`genjscc.inversion.invert`) finds the
prior image ``G`` closest to x̂ under ``λ_mse·MSE + λ_lpips·LPIPS-VGG`` and sends ``G`` out. The
receiver needs nothing beyond x̂, so the scheme costs the DeepJSCC's bandwidth exactly.

Options (``--set key=value``): ``jscc`` (DeepJSCC zoo name or file, required), ``prior``
(StyleGAN2 zoo name or any file ``load_stylegan2`` reads), and the solver's settings
(:class:`genjscc.inversion.ILOSettings`: ``steps`` such as ``100`` or ``50,50``, ``latent``,
``space``, ``lr``, ``mse``, ``lpips``, ``lpips_net``, ``geocross``, ``optimize_noise``,
``first_block``, ``select``), ``seed`` and ``progress``.

Consistency test (:mod:`.consistency`, ``consistency=true`` by default): per image, the output is
``x̂ + α (G − x̂)`` with α = ``consistency_blend`` · P^``consistency_power``, P the p-value of how well
G explains the received symbols compared with x̂ among ``consistency_samples`` prior samples sent at
the same SNR (computed once and cached); ``consistency_quantile=q`` makes it a hard test.
``consistency=false`` is the scheme without the test (every image replaced by G). The test costs
no solver step: the solve runs once per batch, and the decision adds two noise-free encoder passes
(of G and of x̂; two encoder and decoder passes with ``consistency_statistic=reencoding``).

After each ``transmit`` the DeepJSCC output is kept in :attr:`stage_outputs`, so evaluation
records DeepJSCC and InverseJSCC on the same images and channel draws (a paired comparison);
with the test, the untested inversion is kept there too (label ``...:unchecked``) and
:attr:`reports` holds ``accepted`` ``[B]`` (1 where α > 0), whose mean is the fraction accepted,
and ``weight`` ``[B]`` (α).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

import torch

from genjscc.channel import Channel
from genjscc.images import ImageSizeError
from genjscc.inversion import ILOSettings, InversionResult, invert
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.models.stylegan2.sampling import DEFAULT_TRUNCATION
from genjscc.schemes.base import Scheme, parse_flag, register_scheme
from genjscc.schemes.consistency import (
    ConsistencyTest,
    blend_weights,
    calibration_statistics,
    likelihood_gap,
    reencoding_ratio,
    weights_hash,
)
from genjscc.schemes.deepjscc import DeepJSCCScheme, build_deepjscc
from genjscc.zoo import resolve_model

__all__ = ["InverseScheme", "ilo_settings"]


class InverseScheme(Scheme):
    """DeepJSCC -> x̂ -> ILO on the prior -> G(latents), images in [0, 1].

    ``jscc`` is the :class:`~genjscc.schemes.deepjscc.DeepJSCCScheme` that produces x̂; its
    bandwidth, size checks and device handling are this scheme's too. ``progress``: ``True`` draws
    the solver's bar; a callable gets ``progress(steps done, steps in all)`` after each ILO step
    and may raise to stop it (``genjscc app`` sets one per request to show progress and cancel).
    """

    kind = "inverse"

    def __init__(self, jscc: DeepJSCCScheme, prior: torch.nn.Module, settings: ILOSettings, label: str,
                 seed: int = 0, progress: bool | Callable[[int, int], None] = False,
                 consistency: ConsistencyTest | None = ConsistencyTest()):
        super().__init__(label)
        self.jscc, self.prior = jscc, prior.eval().requires_grad_(False)
        self.settings, self.seed, self.progress = settings, seed, progress
        self.consistency = consistency  # None: every image is replaced by the prior's (no test)
        self.calls = 0
        self._calibrations: dict[tuple[str, float], torch.Tensor] = {}  # (channel, SNR) -> [m]; the networks are frozen

    def transmit(self, images, channel, snr_db, *, generator=None):
        self.check_size(*images.shape[-2:])  # before any work: the solve is the cost of this scheme
        observed, received = self._send(images, channel, snr_db, generator)
        # a fixed seed per call and image: the same evaluation reproduces itself
        seeds = [self.seed * 1_000_003 + self.calls * 4096 + i for i in range(images.shape[0])]
        self.calls += 1
        result = self._invert(observed, seeds)
        self.stage_outputs = {self.jscc.label: ("deepjscc", observed)}
        if self.consistency is None:
            return result.images
        weight = self.weights(self.statistic(result.images, observed, received, snr_db), channel, snr_db)
        self.stage_outputs[f"{self.label}:unchecked"] = (self.kind, result.images)  # the label of consistency=false
        self.reports = {"accepted": (weight > 0).float(), "weight": weight}
        alpha = weight.view(-1, 1, 1, 1).to(observed.device)
        return observed + alpha * (result.images.to(observed.device) - observed)

    def _send(self, images: torch.Tensor, channel: Channel, snr_db, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """x̂ ``[B, 3, H, W]`` in [0, 1] and the symbols its decoder received ``[B, k]``: the DeepJSCC's
        forward pass (encoder, channel, decoder) with the channel output kept."""
        model = self.jscc.model
        with torch.inference_mode():
            symbols, shape = model.encode(images.to(self.jscc.device), snr_db)
            received = channel(symbols, snr_db, generator=generator)
            return model.decode(received, shape, snr_db).clamp(0, 1), received

    def _invert(self, observed: torch.Tensor, seeds: list[int]) -> InversionResult:
        return invert(self.prior, observed, self.settings, seeds=seeds, progress=self.progress)

    def statistic(self, candidates: torch.Tensor, observed: torch.Tensor, received: torch.Tensor,
                  snr_db: float | torch.Tensor) -> torch.Tensor:
        """The consistency statistic ``[N]`` of candidates G for DeepJSCC outputs x̂ and the symbols ỹ that
        made them: :func:`likelihood_gap` or :func:`reencoding_ratio`, the DeepJSCC run without channel
        noise at the SNR it was sent at."""
        model = self.jscc.model

        def encode(images: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return model.encode(images, snr_db)[0]

        def reencode(images: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return model.decode(*model.encode(images, snr_db), snr_db).clamp(0, 1)

        if self.consistency is not None and self.consistency.statistic == "reencoding":
            return reencoding_ratio(reencode, candidates, observed)
        return likelihood_gap(encode, candidates, observed, received)

    def weights(self, statistic: torch.Tensor, channel: Channel, snr_db: float | torch.Tensor) -> torch.Tensor:
        """α ``[N]`` of G for the statistic of N images sent at ``snr_db`` (a number or one per image)."""
        n = statistic.shape[0]
        snrs = torch.as_tensor(snr_db, dtype=torch.float64).flatten().cpu().expand(n) if torch.is_tensor(snr_db) \
            else torch.full((n,), float(snr_db), dtype=torch.float64)
        weight = torch.empty(n)
        for snr in sorted(set(snrs.tolist())):
            rows = snrs == snr
            weight[rows] = blend_weights(statistic.cpu()[rows], self.calibration(channel, snr), self.consistency)
        return weight

    def calibration(self, channel: Channel, snr: float) -> torch.Tensor:
        """The statistic ``[m]`` on the prior samples at one SNR (computed or read from the cache once per scheme)."""
        link = channel.describe()
        if (link, float(snr)) not in self._calibrations:  # hash the weights and read the cache once per SNR
            key = {"prior": weights_hash(self.prior), "jscc": weights_hash(self.jscc.model),
                   "settings": asdict(self.settings), "channel": link, "solver_seed": self.seed, "snr_db": float(snr)}

            def statistic(images, snr_db, generator, seeds):
                observed, received = self._send(images, channel, snr_db, generator)
                return self.statistic(self._invert(observed, seeds).images, observed, received, snr_db)

            self._calibrations[(link, float(snr))] = calibration_statistics(self.prior, statistic, self.consistency,
                                                                            key)
        return self._calibrations[(link, float(snr))]

    def bcr(self, height, width):
        return self.jscc.bcr(height, width)

    def stage_identity(self, label):
        return self.jscc.weight_files, {}

    def check_size(self, height, width):
        """Only the prior's own size: it returns G at that size, so any other input could not be compared."""
        r = self.prior.img_resolution
        if (height, width) != (r, r):
            raise ImageSizeError(f"the prior makes {r}x{r} images and InverseJSCC sends back the prior's image, so "
                                 f"it takes only {r}x{r} inputs (got {height}x{width})", r, f", or a prior of size {height}")
        self.jscc.check_size(height, width)

    def to(self, device):
        super().to(device)
        self.jscc.to(self.device)
        self.prior.to(self.device)
        return self


def ilo_settings(**options) -> ILOSettings:
    """:class:`ILOSettings` from scheme options (``steps`` may be ``"50,50"`` or a number)."""
    known = {f.name for f in fields(ILOSettings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown ILO setting(s) {', '.join(unknown)}; settings: {', '.join(sorted(known))}")
    if "steps" in options:
        steps = options["steps"]
        try:
            options["steps"] = tuple(int(s) for s in str(steps).split(",")) if not isinstance(steps, (tuple, list)) \
                else tuple(int(s) for s in steps)
        except ValueError:
            raise ValueError(f"steps must be a number or a list such as 50,50 (steps per round), got {steps!r}") from None
    if isinstance(options.get("radii"), str):
        try:
            options["radii"] = tuple(float(r) for r in options["radii"].split(","))
        except ValueError:
            raise ValueError(f"radii must be numbers such as 100,1000,6000 (one per round), "
                             f"got {options['radii']!r}") from None
    return ILOSettings(**options)


@register_scheme("inverse")
def build_inverse(model: Path | None, *, jscc: str | None = None, prior: str = "stylegan2-photos64",
                  steps: str | int | None = None, latent: str | None = None, space: str | None = None,
                  lr: float | None = None, mse: float | None = None, lpips: float | None = None,
                  lpips_net: str | None = None, geocross: float | None = None, optimize_noise: bool | None = None,
                  first_block: int | None = None, select: str | None = None, radii: str | None = None,
                  seed: int = 0, progress: bool = False, consistency: bool | str = True,
                  consistency_statistic: str | None = None, consistency_blend: float | None = None,
                  consistency_power: float | None = None, consistency_quantile: float | None = None,
                  consistency_samples: int = 64, consistency_truncation: float = DEFAULT_TRUNCATION) -> Scheme:
    """InverseJSCC from a DeepJSCC (``jscc``) and a StyleGAN2 prior (``prior``); solver settings as ILOSettings;
    ``consistency`` (on by default) and its ``consistency_*`` settings as :class:`ConsistencyTest`."""
    if model is not None:
        raise ValueError("the inverse scheme has no weight file of its own: give --set jscc=MODEL --set prior=PRIOR")
    if not jscc:
        raise ValueError("the inverse scheme needs a DeepJSCC: --set jscc=deepjscc-64-bcr1_48 (zoo name or .safetensors)")
    given = {"steps": steps, "latent": latent, "space": space, "lr": lr, "mse": mse, "lpips": lpips,
             "lpips_net": lpips_net, "geocross": geocross, "optimize_noise": optimize_noise,
             "first_block": first_block, "select": select, "radii": radii}
    settings = ilo_settings(**{k: v for k, v in given.items() if v is not None})
    rule = {"statistic": consistency_statistic, "blend": consistency_blend, "power": consistency_power,
            "quantile": consistency_quantile}
    test = ConsistencyTest(**{k: (str(v) if k == "statistic" else float(v)) for k, v in rule.items() if v is not None},
                           samples=int(consistency_samples), truncation=float(consistency_truncation)) \
        if parse_flag(consistency, "consistency") else None
    jscc_path, prior_path = resolve_model(jscc), _resolve_prior(prior)
    generator = load_stylegan2(prior_path)
    jscc_scheme = build_deepjscc(jscc_path)
    label = f"inverse({jscc_scheme.label}+{Path(prior_path).stem})" + (_rule_suffix(test) if test else ":unchecked")
    scheme = InverseScheme(jscc_scheme, generator, settings, label, seed=int(seed), progress=bool(progress),
                           consistency=test)
    scheme.weight_files = (*jscc_scheme.weight_files, Path(prior_path))
    return scheme


def _rule_suffix(test: ConsistencyTest) -> str:
    """"" for the default weight rule, else e.g. ``":reencoding-q0.9-b1"`` (results of two rules stay apart)."""
    default = ConsistencyTest()
    if (test.statistic, test.blend, test.power, test.quantile) == (default.statistic, default.blend, default.power,
                                                                   default.quantile):
        return ""
    shape = f"q{test.quantile:g}" if test.quantile is not None else f"p{test.power:.3g}"
    return f":{test.statistic}-{shape}-b{test.blend:g}"


def _resolve_prior(prior: str) -> Path:
    try:
        return resolve_model(prior)
    except FileNotFoundError as exc:
        raise ValueError(f"unknown prior {prior!r}: {exc}") from None
