"""GenerativeJSCC (Erdemir et al., JSAC 2023): a DeepJSCC encoder and a StyleGAN2-synthesis decoder.

Two decoders share the encoder, the channel and the head trunk (``config.decoder``):

``synthesis`` (the paper's mechanism: the prior draws the whole image)::

    y -> head trunk (DeepJSCC's residual-GDN decoder, SNR-adaptive), tapped at every resolution
         - latent-grid features [B, width, R/f, R/f] -> 1x1 conv -> flatten (+ SNR) -> MLP
           -> w+ codes = w_avg + Δ (``w_codes`` groups of the ``num_ws`` rows)
         - features at resolution r -> zero-initialised 3x3 conv -> added to the output of
           synthesis block r, for every block r from ``inject_resolution`` to R/2
      -> the whole StyleGAN2 synthesis network (4x4 constant ... R x R, initialised from the prior)
    x̂ = (img + 1) / 2

There is no base image: with the injections at zero the output is exactly the prior's
``G.synthesis(ŵ)``, an image in the prior's range; the injected features let end-to-end
training correct what the prior cannot draw. On images the prior makes (``prior:NAME`` data) the
head can also be taught the prior's address space directly, ``‖ŵ - w‖²`` against the latent that
made the image (:mod:`genjscc.train.generative`, ``--latent-weight``).

``residual`` (a base image plus the prior's detail, kept as an ablation arm and for real photos)::

    x -> encoder (residual GDN, SNR-adaptive; DeepJSCC's) -> power norm -> channel -> y [B, C, R/f, R/f]
    y -> head: DeepJSCC's residual-GDN decoder (SNR-adaptive)
           - its output is the base image b [B, 3, R, R] in [0, 1] (the MMSE-style reconstruction)
           - its features at r/2 -> to_features -> the feature map entering synthesis block r
           - mean_hw(features after its residual blocks), SNR -> w_head -> w+ deltas added to w_avg
           - (optional) a noise head: one noise map per synthesis layer from block r on
      -> StyleGAN2 synthesis blocks r .. R (initialised from a prior) -> detail d (their RGB output)
    x̂ = b + g · d / 2, with a learnt gain g (zero at the start)

The decoder thus *adds* what the prior can draw to the base image: at initialisation (g = 0,
head and encoder from a trained DeepJSCC) the model is that DeepJSCC exactly, and training
with MSE + λ·LPIPS moves it towards detail the prior knows how to make. (A pure synthesis
decoder, with the head's features as the only input, is the same model with the base image
removed; it needs far more training to reach DeepJSCC's distortion than a 2-core CPU affords,
which is why the base is kept; how the paper feeds StyleGAN is not public.)

**Bandwidth.** The encoder is DeepJSCC's: ``C`` real channels on the ``(R/f)^2`` grid give
``k = C R^2 / (2 f^2)`` complex symbols, ``rho = C / (6 f^2)``; each image's symbols are
normalised to average power P.

**Knobs.** ``inject_resolution`` r chooses how much of the prior decodes: r = R keeps only the
last synthesis block (the head does most of the work, cheap, closest to DeepJSCC), small r hands
more resolutions to the prior (a stronger prior constraint, more compute: with the shipped
prior's 128 channels the 64² block costs ~0.75 GMAC per image and the 32² one ~0.2). ``w_codes``
splits the w+ rows from block r on into that many groups, each with its own predicted delta
(1: one style code per image, the constrained choice that the inversion probe in
:mod:`genjscc.inversion.ilo` favours; more codes give the decoder more freedom). The w head is zero-initialised, so
training starts at the prior's average style, and the gain g starts at 0.

Images must be exactly R x R: the synthesis network has fixed-size constant noise maps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.channel import Channel, channels_to_bcr
from genjscc.models.base import JSCCModel
from genjscc.models.jscc_backbones import ResidualGDNDecoder, ResidualGDNEncoder, stage_widths
from genjscc.models.stylegan2.networks import GeneratorConfig, SynthesisNetwork

__all__ = ["GenerativeJSCCConfig", "GenerativeJSCC", "DecoderHead", "DETAIL_GAIN_SCALE", "DECODERS"]

DETAIL_GAIN_SCALE = 10.0
DECODERS = ("residual", "synthesis")
STYLE_REDUCED_CHANNELS = 16  # latent-grid channels kept before the style MLP flattens them
STYLE_HIDDEN = 512  # hidden units of the style MLP


@dataclass(frozen=True)
class GenerativeJSCCConfig:
    """Everything needed to rebuild a GenerativeJSCC (stored in its weight file)."""

    channels: int  # C, real encoder output channels (sets the BCR)
    generator: dict = field(default_factory=lambda: GeneratorConfig().to_dict())  # the prior's GeneratorConfig
    downsample: int = 8  # f, encoder stride
    width: int = 96  # residual-GDN width of the encoder and the head trunk
    blocks: int = 2  # residual blocks at the latent resolution (encoder and head)
    snr_adaptive: bool = True
    power: float = 1.0
    inject_resolution: int = 0  # residual: the block whose input the head provides; synthesis: the first
    #                             block whose output receives head features; 0: the prior's resolution
    #                             (residual) or 8 (synthesis)
    w_codes: int = 1  # predicted w deltas (groups of w+ rows; residual: from the injection block on)
    predict_noise: bool = False  # residual decoder: the head also predicts the synthesis noise maps
    decoder: str = "residual"  # "residual" (base image + prior detail) | "synthesis" (the prior draws it all)

    def __post_init__(self):
        g = GeneratorConfig(**self.generator)
        res = g.img_resolution
        object.__setattr__(self, "generator", g.to_dict())
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.downsample not in (2, 4, 8, 16) or self.downsample > res:
            raise ValueError(f"downsample must be 2, 4, 8 or 16 and <= the resolution {res}, got {self.downsample}")
        if self.channels < 1 or self.width < 16 or self.blocks < 0 or self.w_codes < 1:
            raise ValueError(f"need channels >= 1, width >= 16, blocks >= 0, w_codes >= 1; got {self.channels}, "
                             f"{self.width}, {self.blocks}, {self.w_codes}")
        if self.inject_resolution == 0:
            object.__setattr__(self, "inject_resolution", res if self.decoder == "residual" else 8)
        latent = res // self.downsample
        if self.decoder == "synthesis":
            if self.predict_noise:
                raise ValueError("predict_noise is an option of the residual decoder only")
            if self.inject_resolution & (self.inject_resolution - 1) or not 4 <= self.inject_resolution <= res // 2:
                raise ValueError(f"the synthesis decoder injects head features from a block between 4 and {res // 2} "
                                 f"(half the prior's resolution {res}), a power of two; got {self.inject_resolution}")
            return
        if self.inject_resolution & (self.inject_resolution - 1) or not 2 * latent <= self.inject_resolution <= res:
            raise ValueError(
                f"inject_resolution must be a power of two between {2 * latent} (twice the latent grid "
                f"{latent}x{latent}) and the prior's resolution {res}, got {self.inject_resolution}"
            )

    @property
    def resolution(self) -> int:
        return self.generator["img_resolution"]

    def to_dict(self) -> dict:
        return asdict(self)


class DecoderHead(ResidualGDNDecoder):
    """DeepJSCC's residual-GDN decoder with taps: received latent ``[B, C, R/f, R/f]`` (+ SNR) ->

    residual decoder: ``(base image [B, 3, R, R] in [0, 1], features at r/2 [B, c, r/2, r/2], pooled [B, width])``;
    the pooled features are the spatial mean after the residual blocks. :meth:`pyramid` gives the
    synthesis decoder the features at every resolution from the latent grid up. Its keys are those of
    :class:`~genjscc.models.jscc_backbones.ResidualGDNDecoder`, so a trained DeepJSCC decoder loads as is.
    """

    def __init__(self, config: "GenerativeJSCCConfig"):
        super().__init__(config.channels, config.downsample, config.width, config.snr_adaptive, config.blocks)
        self.latent_resolution = config.resolution // config.downsample
        self.pooled_at = config.blocks + 1  # layers before the pooled tap
        widths = stage_widths(config.downsample, config.width)[::-1]
        # resolution -> (layers before its tap, channels): the latent grid, then each up stage but the RGB one
        self.pyramid_taps = {self.latent_resolution * 2**i: (self.pooled_at + i, w) for i, w in enumerate(widths)}
        if config.decoder == "residual":
            ups = int(math.log2(config.inject_resolution // 2 // self.latent_resolution))
            self.features_at = config.blocks + 1 + ups  # layers before the feature tap
            self.feature_channels = widths[ups]

    def forward(self, x: Tensor, snr_db: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        out, (pooled, features) = self.run(x, snr_db, taps=(self.pooled_at, self.features_at))
        return self.output(out), features.contiguous(), pooled.mean(dim=(2, 3))

    def pyramid(self, x: Tensor, snr_db: Tensor | None) -> dict[int, Tensor]:
        """Features ``{r: [B, c_r, r, r]}`` for r = R/f, 2R/f, ..., R/2 (channels-last layout)."""
        resolutions = sorted(self.pyramid_taps)
        _, tapped = self.run(x, snr_db, taps=tuple(self.pyramid_taps[r][0] for r in resolutions))
        return dict(zip(resolutions, tapped))


class GenerativeJSCC(JSCCModel):
    """Encoder -> power norm -> channel -> head -> StyleGAN2 synthesis (``config.decoder``: see the module docstring;
    the skeleton: :class:`~genjscc.models.base.JSCCModel`).

    ``forward(images [B, 3, R, R] in [0, 1], channel, snr_db)`` -> reconstructions ``[B, 3, R, R]``,
    in [0, 1] in eval mode (clamped) and unclamped in training mode (so the loss sees every pixel).
    """

    kind = "generative"
    config_class = GenerativeJSCCConfig
    compiled_parts = ("encoder", "head", "synthesis")

    def __init__(self, config: GenerativeJSCCConfig):
        super().__init__(config)
        g = GeneratorConfig(**config.generator)
        self.encoder = ResidualGDNEncoder(config.channels, config.downsample, config.width, config.snr_adaptive,
                                          config.blocks)
        self.head = DecoderHead(config)
        self.synthesis = SynthesisNetwork(g.w_dim, g.img_resolution, g.img_channels, g.channel_base, g.channel_max,
                                          g.conv_clamp)
        self.register_buffer("w_avg", torch.zeros(g.w_dim))
        if config.decoder == "synthesis":
            self._build_synthesis_decoder(config, g)
        else:
            self._build_residual_decoder(config, g)

    def _build_residual_decoder(self, config: GenerativeJSCCConfig, g: GeneratorConfig) -> None:
        self.start = self.synthesis.block_resolutions.index(config.inject_resolution)
        blocks = self.synthesis.blocks()
        for block in blocks[: self.start]:  # replaced by the head: never run, never trained
            block.requires_grad_(False)
        c = self.head.feature_channels
        self.to_features = nn.Conv2d(c, blocks[self.start].in_channels, 3, padding=1)
        # x̂ = base + DETAIL_GAIN_SCALE * detail_gain * d / 2: zero at the start; the scale lets Adam
        # (whose steps are ~lr whatever the gradient) move the single gain as fast as it needs
        self.detail_gain = nn.Parameter(torch.zeros(()))
        self.rows_from = sum(b.num_conv for b in blocks[: self.start])  # first w+ row the synthesis reads
        rows = self.synthesis.num_ws - self.rows_from
        if config.w_codes > rows:
            raise ValueError(f"w_codes {config.w_codes} exceeds the {rows} w+ rows used from block {config.inject_resolution}")
        self.w_head = nn.Linear(config.width + 1, config.w_codes * g.w_dim)
        nn.init.zeros_(self.w_head.weight)
        nn.init.zeros_(self.w_head.bias)
        # w+ row j (from rows_from on) takes code group floor(j * w_codes / rows)
        self.register_buffer("row_group", torch.arange(rows) * config.w_codes // rows, persistent=False)
        self.noise_layers = [layer for b in blocks[self.start:] for layer in b.layers()]
        self.noise_head = nn.Conv2d(c, len(self.noise_layers), 3, padding=1) if config.predict_noise else None

    def _build_synthesis_decoder(self, config: GenerativeJSCCConfig, g: GeneratorConfig) -> None:
        rows = self.synthesis.num_ws
        if config.w_codes > rows:
            raise ValueError(f"w_codes {config.w_codes} exceeds the prior's {rows} w+ rows")
        latent = self.head.latent_resolution
        self.style_reduce = nn.Conv2d(config.width, STYLE_REDUCED_CHANNELS, 1)
        self.style_mlp = nn.Sequential(
            nn.Linear(STYLE_REDUCED_CHANNELS * latent * latent + 1, STYLE_HIDDEN), nn.LeakyReLU(0.2),
            nn.Linear(STYLE_HIDDEN, config.w_codes * g.w_dim),
        )
        nn.init.zeros_(self.style_mlp[-1].weight)  # training starts at the prior's average style
        nn.init.zeros_(self.style_mlp[-1].bias)
        self.register_buffer("row_group", torch.arange(rows) * config.w_codes // rows, persistent=False)
        # one zero-initialised 3x3 conv per synthesis block from inject_resolution to R/2: at the start the
        # decoder is exactly G.synthesis(ŵ)
        taps = self.head.pyramid_taps
        self.inject = nn.ModuleDict()
        for block in self.synthesis.blocks():
            r = block.resolution
            if config.inject_resolution <= r <= g.img_resolution // 2:
                source = r if r in taps else latent  # below the latent grid: pooled latent features
                conv = nn.Conv2d(taps[source][1], self.synthesis.channels[r], 3, padding=1)
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
                self.inject[str(r)] = conv

    # -- initialisation from trained parts -----------------------------------------------------

    def load_prior(self, generator: nn.Module) -> None:
        """Copy the synthesis weights and ``w_avg`` of a StyleGAN2 generator (same config)."""
        mine = GeneratorConfig(**self.config.generator)
        theirs = getattr(generator, "config", None)
        if theirs is None or asdict(theirs) != asdict(mine):
            raise ValueError(f"the prior's generator config {asdict(theirs) if theirs else None} differs from this "
                             f"model's {asdict(mine)}: build the model from the prior's config")
        self.synthesis.load_state_dict(generator.synthesis.state_dict())
        self.w_avg.copy_(generator.w_avg)

    def load_deepjscc(self, model: nn.Module) -> int:
        """Copy a residual-GDN DeepJSCC's encoder and decoder (the head); with the gain at 0 the model then
        reconstructs exactly as that DeepJSCC. Returns the number of tensors copied; a DeepJSCC of
        another architecture, BCR, width or depth is a ``ValueError``.
        """
        if getattr(model.config, "arch", None) != "resgdn":
            raise ValueError("only a DeepJSCC with arch 'resgdn' can initialise GenerativeJSCC")
        theirs, mine = (model.config.channels, model.config.downsample), (self.config.channels, self.config.downsample)
        if theirs != mine:
            r = self.config.resolution
            raise ValueError(f"the DeepJSCC sends at BCR {channels_to_bcr(*theirs[:1], r, r, theirs[1])}, this model at "
                             f"{channels_to_bcr(*mine[:1], r, r, mine[1])}: give --init-jscc a DeepJSCC of the same BCR "
                             "(or train this one at its BCR)")
        try:
            self.encoder.load_state_dict(model.encoder.state_dict())
            self.head.load_state_dict(model.decoder.state_dict())
        except RuntimeError as exc:
            raise ValueError(f"the DeepJSCC does not match this model (channels, width, blocks, snr_adaptive): {exc}") from None
        return len(model.encoder.state_dict()) + len(model.decoder.state_dict())

    # -- its size rule and its decoder (encoder, power norm, channel: models.base.JSCCModel) ------

    def check_size(self, height: int, width: int) -> None:
        r = self.config.resolution
        if height != r or width != r:
            raise ValueError(f"GenerativeJSCC decodes {r}x{r} images (its StyleGAN2 prior's size), got "
                             f"{height}x{width}: crop or resize the images to {r}x{r}")

    def decode_latent(self, latent: Tensor, snr: Tensor) -> Tensor:
        """Received latent ``[B, C, R/f, R/f]`` -> images ``[B, 3, R, R]`` (see the class docstring for the range)."""
        if self.config.decoder == "synthesis":
            features, ws = self.predict_styles(latent, snr)
            out = self.synthesize(features, ws)
        else:
            out = self._decode_residual(latent, snr)
        return out if self.training else out.clamp(0, 1)

    def predict_styles(self, latent: Tensor, snr: Tensor) -> tuple[dict[int, Tensor], Tensor]:
        """Synthesis decoder, first half: received latent ``[B, C, R/f, R/f]`` (real), ``snr [B]`` dB ->
        (head features ``{r: [B, c_r, r, r]}``, predicted ``ws [B, num_ws, w_dim]``). Cheap: no synthesis runs."""
        features = self.head.pyramid(latent, snr)
        grid = self.style_reduce(features[self.head.latent_resolution]).flatten(1)
        codes = self.style_mlp(torch.cat([grid, snr.to(grid.dtype).unsqueeze(1) / 10], dim=1))
        codes = codes.view(latent.shape[0], self.config.w_codes, -1)[:, self.row_group]  # [B, num_ws, w_dim]
        return features, self.w_avg + codes

    def synthesize(self, features: dict[int, Tensor], ws: Tensor) -> Tensor:
        """Synthesis decoder, second half: the whole synthesis network with the head's features added to the
        output of each block from ``inject_resolution`` on -> images ``[B, 3, R, R]`` in [0, 1] (unclamped)."""
        latent = self.head.latent_resolution
        x = img = None
        for block, block_ws in zip(self.synthesis.blocks(), self.synthesis.block_ws(ws)):
            x, img = block(x, img, block_ws, "const")
            r = block.resolution
            if str(r) in self.inject:  # a block coarser than the latent grid takes the pooled latent features
                source = features[r] if r in features else F.avg_pool2d(features[latent], latent // r)
                x = x + self.inject[str(r)](source)
        return (img.contiguous() + 1) / 2

    def _decode_residual(self, latent: Tensor, snr: Tensor) -> Tensor:
        base, h, pooled = self.head(latent, snr)
        features = self.to_features(h)
        codes = self.w_head(torch.cat([pooled, snr.to(pooled.dtype).unsqueeze(1) / 10], dim=1))
        codes = codes.view(h.shape[0], self.config.w_codes, -1)[:, self.row_group]  # [B, rows, w_dim]
        ws = self.w_avg.expand(h.shape[0], self.synthesis.num_ws, -1)
        ws = torch.cat([ws[:, : self.rows_from], ws[:, self.rows_from :] + codes], dim=1)
        noises = None
        if self.noise_head is not None:
            maps = self.noise_head(h)
            noises = [None] * (self.synthesis.num_ws - 1)
            for i, layer in enumerate(self.noise_layers):
                noises[self.rows_from + i] = F.interpolate(maps[:, i : i + 1], size=layer.resolution, mode="bilinear",
                                                           align_corners=False)
        detail = self.synthesis(ws, noise_mode="const", noises=noises, start=self.start, x=features)
        return base + (DETAIL_GAIN_SCALE / 2) * self.detail_gain * detail

    def receive_styles(self, images: Tensor, channel: Channel, snr_db: float | Tensor, *,
                       generator: torch.Generator | None = None) -> tuple[dict[int, Tensor], Tensor]:
        """Synthesis decoder: images through encoder, channel and head -> ``predict_styles``' (features, ws),
        without running the synthesis (the trainer's latent-only iterations)."""
        return self.predict_styles(*self.receive(images, channel, snr_db, generator=generator))
