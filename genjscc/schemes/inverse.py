"""The ``inverse`` scheme (InverseJSCC): a DeepJSCC whose output is cleaned by inverting a StyleGAN2 prior.

``x̂ = DeepJSCC(x)`` through the channel, then ILO (:func:`genjscc.inversion.invert`) finds the
prior image ``G`` closest to x̂ under ``λ_mse·MSE + λ_lpips·LPIPS-VGG`` and sends ``G`` out (with the
consistency test, a per-image blend of G into x̂). The receiver needs nothing beyond what the DeepJSCC receiver
has (the received symbols and x̂), so the scheme costs the DeepJSCC's bandwidth exactly.

Options (:class:`InverseOptions`, ``--set key=value``): ``jscc`` (DeepJSCC zoo name or file,
required), ``prior`` (StyleGAN2 zoo name or any file ``load_stylegan2`` reads), every field of the
solver's :class:`genjscc.inversion.ILOSettings` under its own name (``steps`` such as ``100`` or
``50,50``, ``latent``, ``space``, ``lr``, ``mse``, ``lpips``, ...), ``seed``, ``progress`` and the
consistency test's settings.

Consistency test (:mod:`.consistency`, ``consistency=true`` by default): per image, the output is
x̂ plus α of G − x̂'s fine band and ``consistency_low_share`` · α of its coarse band (Gaussian σ =
``consistency_lowpass`` × side), with α = ``consistency_blend`` · P^``consistency_power``, P the
p-value of how well G explains the received symbols compared with x̂ among ``consistency_samples``
prior samples sent at the same SNR (computed once and cached); ``consistency_quantile=q`` makes it
a hard test and ``consistency_low_share=1`` one weight for every frequency, ``x̂ + α (G − x̂)``.
``consistency=false`` is the scheme without the test (every image replaced by G). The test costs
no solver step: the solve runs once per batch, and the decision adds two noise-free encoder passes
(of G and of x̂; two encoder and decoder passes with ``consistency_statistic=reencoding``).

``transmit`` returns the DeepJSCC output among its :attr:`~genjscc.schemes.base.Transmission.stages`,
so evaluation records DeepJSCC and InverseJSCC on the same images and channel draws (a paired
comparison); with the test, the untested inversion is a stage too (label ``...:unchecked``) and the
transmission's ``report`` holds ``accepted`` ``[B]`` (1 where α > 0), whose mean is the fraction
accepted, and ``weight`` ``[B]`` (α).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch

from genjscc.channel import Channel
from genjscc.utils.images import ImageSizeError
from genjscc.inversion import ILOSettings, InversionResult, invert
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.schemes.base import Scheme, Stage, Transmission, register_scheme
from genjscc.schemes.options import scheme_option
from genjscc.schemes.consistency import (
    ConsistencyTest,
    blend_images,
    blend_weights,
    calibration_statistics,
    likelihood_gap,
    reencoding_ratio,
    weights_hash,
)
from genjscc.schemes.network import NetworkScheme, network_scheme
from genjscc.zoo import resolve_model

__all__ = ["InverseScheme", "InverseOptions", "build_inverse"]


class InverseScheme(Scheme):
    """DeepJSCC -> x̂ -> ILO on the prior -> G(latents), images in [0, 1].

    ``jscc`` is the DeepJSCC :class:`~genjscc.schemes.network.NetworkScheme` that produces x̂; its
    bandwidth, size checks and device handling are this scheme's too. ``progress``: ``True`` draws
    the solver's bar; a callable gets ``progress(steps done, steps in all)`` after each ILO step
    and may raise to stop it (``genjscc app`` sets one per request to show progress and cancel).
    """

    kind = "inverse"

    def __init__(self, jscc: NetworkScheme, prior: torch.nn.Module, settings: ILOSettings, label: str,
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
        stages = {self.jscc.label: Stage("deepjscc", observed)}
        if self.consistency is None:
            return Transmission(result.images, stages)
        weight = self.weights(self.statistic(result.images, observed, received, snr_db), channel, snr_db)
        stages[f"{self.label}:unchecked"] = Stage(self.kind, result.images)  # the label of consistency=false
        sent = blend_images(observed, result.images, weight, self.consistency)
        return Transmission(sent, stages, {"accepted": (weight > 0).float(), "weight": weight})

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
        if (link, float(snr)) not in self._calibrations:  # read the cache once per SNR
            key = {**self._networks_key, "channel": link, "snr_db": float(snr)}

            def statistic(images, snr_db, generator, seeds):
                observed, received = self._send(images, channel, snr_db, generator)
                return self.statistic(self._invert(observed, seeds).images, observed, received, snr_db)

            self._calibrations[(link, float(snr))] = calibration_statistics(self.prior, statistic, self.consistency,
                                                                            key)
        return self._calibrations[(link, float(snr))]

    @cached_property
    def _networks_key(self) -> dict:
        """What the calibration depends on besides channel and SNR; the networks are frozen, so hashed once."""
        return {"prior": weights_hash(self.prior), "jscc": weights_hash(self.jscc.model),
                "settings": asdict(self.settings), "solver_seed": self.seed}

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


@dataclass(frozen=True)
class InverseOptions:
    """Options of the ``inverse`` scheme; the solver's settings are :class:`ILOSettings`' own fields."""

    jscc: str | None = scheme_option(None, help="the DeepJSCC whose output is inverted: zoo name or .safetensors "
                                                "(required)")
    prior: str = scheme_option("stylegan2-photos64", help="StyleGAN2 prior: zoo name or a file load_stylegan2 reads")
    ilo: ILOSettings = scheme_option(default_factory=ILOSettings, help="the ILO solver's settings")
    seed: int = scheme_option(0, help="seed of the solver's random starts (per call and image)")
    progress: bool = scheme_option(False, help="draw the solver's progress bar")
    consistency: bool = scheme_option(True, help="blend G into x̂ by the consistency test (false: always G)")
    consistency_statistic: str = scheme_option(ConsistencyTest.statistic, help="likelihood (L, on the received "
                                               "symbols) or reencoding (R, the earlier statistic)")
    consistency_blend: float = scheme_option(ConsistencyTest.blend, help="b: the most of G's detail sent, "
                                             "x̂ + b (G - x̂) in the fine band")
    consistency_power: float = scheme_option(ConsistencyTest.power, help="γ: weight α = b · p-value^γ")
    consistency_lowpass: float = scheme_option(ConsistencyTest.lowpass, help="σ of the Gaussian that splits coarse "
                                               "from fine, as a fraction of the image side (0: no split)")
    consistency_low_share: float = scheme_option(ConsistencyTest.low_share, help="s: the coarse band gets s · α of G "
                                                 "(1: one weight for every frequency)")
    consistency_quantile: float | None = scheme_option(ConsistencyTest.quantile, help="q: a hard test instead (weight b where the "
                                                                  "statistic is at most its q-quantile in range)")
    consistency_samples: int = scheme_option(ConsistencyTest.samples, help="prior samples per (channel, SNR) in the "
                                             "calibration")
    consistency_truncation: float = scheme_option(ConsistencyTest.truncation, help="truncation ψ of those samples")


@register_scheme("inverse", InverseOptions)
def build_inverse(model: Path | None, options: InverseOptions) -> Scheme:
    """InverseJSCC from a DeepJSCC (``jscc``) and a StyleGAN2 prior (``prior``), solved with ``options.ilo``;
    ``consistency`` (on by default) and its ``consistency_*`` settings as :class:`ConsistencyTest`."""
    if model is not None:
        raise ValueError("the inverse scheme has no weight file of its own: give --set jscc=MODEL --set prior=PRIOR")
    if not options.jscc:
        raise ValueError("the inverse scheme needs a DeepJSCC: --set jscc=deepjscc-64-bcr1_48 (zoo name or .safetensors)")
    # every ConsistencyTest field that the options carry as consistency_<field>
    settings = {f.name: getattr(options, f"consistency_{f.name}") for f in fields(ConsistencyTest)
                if hasattr(options, f"consistency_{f.name}")}
    test = ConsistencyTest(**settings) if options.consistency else None
    jscc_path, prior_path = resolve_model(options.jscc), _resolve_prior(options.prior)
    generator = load_stylegan2(prior_path)
    jscc_scheme = network_scheme("deepjscc", jscc_path)
    label = f"inverse({jscc_scheme.label}+{Path(prior_path).stem})" + (_rule_suffix(test) if test else ":unchecked")
    scheme = InverseScheme(jscc_scheme, generator, options.ilo, label, seed=options.seed,
                           progress=options.progress, consistency=test)
    scheme.weight_files = (*jscc_scheme.weight_files, Path(prior_path))
    return scheme


RULE_FIELDS = ("statistic", "blend", "power", "quantile", "lowpass", "low_share")


def _rule_suffix(test: ConsistencyTest) -> str:
    """"" for the default weight rule, else e.g. ``":reencoding-q0.9-b1-s1"`` (results of two rules stay apart;
    ``-s`` shows a coarse-band share and ``-lp`` a blur width other than the default's)."""
    default = ConsistencyTest()
    if all(getattr(test, name) == getattr(default, name) for name in RULE_FIELDS):
        return ""
    shape = f"q{test.quantile:g}" if test.quantile is not None else f"p{test.power:.3g}"
    split = "" if test.low_share == default.low_share else f"-s{test.low_share:g}"
    if test.lowpass != default.lowpass and test.low_share != 1:
        split += f"-lp{test.lowpass:.3g}"
    return f":{test.statistic}-{shape}-b{test.blend:g}{split}"


def _resolve_prior(prior: str) -> Path:
    try:
        return resolve_model(prior)
    except FileNotFoundError as exc:
        raise ValueError(f"unknown prior {prior!r}: {exc}") from None
