"""``transmit`` returns what it produced: stages and per-image reports travel in the Transmission, never
on the scheme, so evaluation pairs each output with its own stages however calls interleave."""

from __future__ import annotations

import torch

from genjscc.channel import AWGN
from genjscc.evaluation.evaluate import evaluate, transmit_checked
from genjscc.metrics import psnr
from genjscc.schemes import Scheme, Stage, Transmission


class NoisyThenDimmed(Scheme):
    """Stage ``{label}:noisy`` = clamp(x + 0.1 n) with n from the channel's generator; output = gain x stage;
    report ``bright`` [B] = mean of each output image."""

    kind = "test"

    def __init__(self, label: str, gain: float):
        super().__init__(label)
        self.gain = gain

    def transmit(self, images, channel, snr_db, *, generator=None):
        noisy = (images + 0.1 * torch.randn(images.shape, generator=generator)).clamp(0, 1)
        out = noisy * self.gain
        return Transmission(out, {f"{self.label}:noisy": Stage("noisy", noisy)}, {"bright": out.mean(dim=(1, 2, 3))})


def _images(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_each_transmission_keeps_its_own_stages_and_the_scheme_keeps_none():
    scheme = NoisyThenDimmed("a", 0.5)
    x, y = _images(0), _images(1)
    first = scheme.transmit(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(5))
    second = scheme.transmit(y, AWGN(), 0.0, generator=torch.Generator().manual_seed(6))
    expected = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    assert torch.equal(first.stages["a:noisy"].images, expected)  # not overwritten by the second call
    assert torch.equal(first.images, expected * 0.5) and not torch.equal(second.images, first.images)
    assert torch.equal(first.report["bright"], first.images.mean(dim=(1, 2, 3)))
    assert not hasattr(scheme, "stage_outputs") and not hasattr(scheme, "reports")


def test_interleaved_evaluations_pair_every_output_with_its_own_stages():
    """Scheme b is evaluated (twice) while scheme a's evaluation is between batches: a's stage records are
    those of a alone, and b's records hold no stage of a."""
    a, b = NoisyThenDimmed("a", 0.5), NoisyThenDimmed("b", 0.8)
    images, other = _images(2, 6), _images(3, 6)
    alone = evaluate(a, images, AWGN(), [0.0], metrics=["psnr"], batch_size=2)
    inner: list = []
    nested = evaluate(a, images, AWGN(), [0.0], metrics=["psnr"], batch_size=2,
                      progress=lambda snr, done, total: inner.append(
                          evaluate(b, other, AWGN(), [5.0], metrics=["psnr"], batch_size=3)))
    assert len(inner) == 3 and nested == alone
    by_model = {(r.model, r.metric): r.mean for r in nested}
    assert set(by_model) == {("a", "psnr"), ("a:noisy", "psnr"), ("a", "bright")}
    assert all({r.model for r in records} == {"b", "b:noisy"} for records in inner)
    # the stage's record is the PSNR of the stage's images, the same draws evaluate used
    sent = [transmit_checked(a, images[i:i + 2], AWGN(), 0.0,
                             generator=torch.Generator().manual_seed(_seed_of(0, 0.0, i))) for i in (0, 2, 4)]
    stage_psnr = torch.cat([psnr(s.stages["a:noisy"].images, images[i:i + 2]) for s, i in zip(sent, (0, 2, 4))])
    assert by_model[("a:noisy", "psnr")] == stage_psnr.double().mean().item()


def _seed_of(seed: int, snr: float, start: int) -> int:
    from genjscc.evaluation.evaluate import _noise_seed

    return _noise_seed(seed, snr, start)


def test_transmit_checked_clamps_stages_and_reads_a_bare_tensor():
    class Bare(Scheme):
        kind = "bare"

        def transmit(self, images, channel, snr_db, *, generator=None):
            return images * 2  # a scheme written before Transmission: no stages, no report

    class Wide(NoisyThenDimmed):
        def transmit(self, images, channel, snr_db, *, generator=None):
            sent = super().transmit(images, channel, snr_db, generator=generator)
            return Transmission(sent.images, {"wide": Stage("noisy", sent.images * 4 - 1)}, sent.report)

    x = _images(4)
    bare = transmit_checked(Bare("bare"), x, AWGN(), 0.0)
    assert torch.equal(bare.images, (x * 2).clamp(0, 1)) and bare.stages == {} and bare.report == {}
    wide = transmit_checked(Wide("w", 0.5), x, AWGN(), 0.0, generator=torch.Generator().manual_seed(0))
    stage = wide.stages["wide"].images
    assert stage.min() == 0 and stage.max() == 1 and wide.stages["wide"].kind == "noisy"
