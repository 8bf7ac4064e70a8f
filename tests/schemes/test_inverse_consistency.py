"""InverseJSCC's consistency test on a tiny generator: images it can make pass, others get x̂ back;
the calibration comes from prior samples only and is cached, keyed by the weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import genjscc.schemes.consistency as consistency_module
from genjscc.channel import AWGN
from genjscc.data import load_dataset, stack
from genjscc.evaluation.evaluate import evaluate
from genjscc.inversion import ILOSettings
from genjscc.models.stylegan2.sampling import sample_images
from genjscc.schemes import build_scheme
from genjscc.schemes.base import Scheme
from genjscc.schemes.consistency import ConsistencyTest, weights_hash
from genjscc.schemes.inverse import InverseScheme
from support import tiny_generator  # 16² generator, images mostly inside [-1, 1], w_avg at the mean w

SETTINGS = ILOSettings(steps=(40,), lpips=0.0)  # MSE-only objective: no LPIPS network, fast
TEST = ConsistencyTest(quantile=0.9, samples=16, batch=16)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only synchronises
    yield
    torch.set_num_threads(threads)


class BlurryLink(nn.Module):
    """Stands in for a DeepJSCC: noise-free it outputs ``gain · blur3(x)`` (``decode(*encode(x))``)."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    @torch.no_grad()
    def encode(self, images, snr_db):
        return self.gain * F.avg_pool2d(F.pad(images, [1] * 4, mode="replicate"), 3, stride=1), images.shape

    def decode(self, symbols, shape, snr_db):
        return symbols


class BlurryScheme(Scheme):
    """x̂ = clamp(gain · blur3(x) + 0.05 · 10^(-SNR/20) · n), n ~ N(0, 1) from the channel's generator."""

    kind = "deepjscc"

    def __init__(self):
        super().__init__("blurry")
        self.model = BlurryLink()

    def transmit(self, images, channel, snr_db, *, generator=None):
        noise = torch.randn(images.shape, generator=generator)
        return (self.model.decode(*self.model.encode(images, snr_db), snr_db) + 0.05 * 10 ** (-float(snr_db) / 20)
                * noise).clamp(0, 1)


def scheme(G: nn.Module, jscc: Scheme | None = None, test: ConsistencyTest | None = TEST) -> InverseScheme:
    return InverseScheme(jscc or BlurryScheme(), G, SETTINGS, "inverse(blurry+tiny)", consistency=test)


def out_of_range(n: int) -> torch.Tensor:
    """Photo crops at 16²: edges and textures that a random 16² generator does not make."""
    return stack(load_dataset("photos", "test", 16, limit=n))


def test_in_range_images_pass_and_others_get_the_deepjscc_output_back():
    G = tiny_generator()
    inverse = scheme(G)
    inside = sample_images(G, range(10_000, 10_016))  # seeds the calibration (2^41 + i) never uses
    outside = out_of_range(16)
    accepted = {}
    for name, images in (("inside", inside), ("outside", outside)):
        out = inverse.transmit(images, AWGN(), 10.0, generator=torch.Generator().manual_seed(3))
        flags = inverse.reports["accepted"].bool()
        observed = inverse.stage_outputs["blurry"][1]
        unchecked = inverse.stage_outputs["inverse(blurry+tiny):unchecked"][1]
        assert torch.equal(out[flags], unchecked[flags]) and torch.equal(out[~flags], observed[~flags])
        accepted[name] = flags.float().mean().item()
    assert accepted["inside"] >= 0.7, accepted  # the calibration accepts about 90 % of prior images (13/16 here)
    assert accepted["outside"] <= 0.2, accepted  # (0/16 here)


def test_without_the_test_every_image_is_the_priors_and_nothing_is_calibrated(monkeypatch):
    def no_calibration(*args, **kwargs):
        raise AssertionError("calibrated although consistency is off")

    monkeypatch.setattr(consistency_module, "sample_images", no_calibration)
    G = tiny_generator()
    inverse = scheme(G, test=None)
    images = out_of_range(4)
    out = inverse.transmit(images, AWGN(), 10.0, generator=torch.Generator().manual_seed(3))
    assert inverse.reports == {} and set(inverse.stage_outputs) == {"blurry"}
    assert not torch.allclose(out, inverse.stage_outputs["blurry"][1], atol=1e-3)  # G, not x̂


def test_calibration_is_cached_and_rebuilt_when_the_prior_or_the_deepjscc_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path))  # an empty cache
    calls = []
    real_sample = consistency_module.sample_images

    def counting_sample(*args, **kwargs):
        calls.append(1)
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(consistency_module, "sample_images", counting_sample)
    G, jscc = tiny_generator(), BlurryScheme()
    first = scheme(G, jscc).thresholds(AWGN(), 10.0, 2)
    built = len(calls)
    assert built == 1 and torch.equal(first, first[:1].expand(2))
    again = scheme(tiny_generator(), BlurryScheme()).thresholds(AWGN(), 10.0, 3)  # other objects, same weights
    assert len(calls) == built and again[0] == first[0]  # read back from the cache
    looser = scheme(G, jscc, ConsistencyTest(quantile=1.0, samples=16)).thresholds(AWGN(), 10.0, 1)
    assert len(calls) == built and looser[0] > first[0]  # the quantile is applied to the cached objectives
    per_image = scheme(G, jscc).thresholds(AWGN(), torch.tensor([10.0, 0.0, 10.0]), 3)
    assert len(calls) == built + 1  # one more SNR, calibrated once
    assert per_image[0] == per_image[2] == first[0] and per_image[1] != first[0]  # its own calibration
    with torch.no_grad():
        jscc.model.gain.fill_(0.9)
    scheme(G, jscc).thresholds(AWGN(), 10.0, 1)
    assert len(calls) == built + 2  # the DeepJSCC changed
    with torch.no_grad():
        next(G.synthesis.parameters()).add_(0.01)
    scheme(G, jscc).thresholds(AWGN(), 10.0, 1)
    assert len(calls) == built + 3  # the prior changed


def test_a_corrupt_cache_file_is_computed_again(monkeypatch, tmp_path):
    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path))
    G = tiny_generator()
    first = scheme(G).thresholds(AWGN(), 10.0, 1)
    (path,) = (consistency_module.cache_dir() / "inverse-consistency").glob("*.json")
    path.write_text('{"key": ')  # as a killed writer could never leave it (atomic), but a disk might
    assert scheme(G).thresholds(AWGN(), 10.0, 1)[0] == first[0]


def test_weights_hash_sees_every_tensor():
    G = tiny_generator()
    before = weights_hash(G)
    assert weights_hash(tiny_generator()) == before
    with torch.no_grad():
        G.mapping.w_avg.add_(1e-6)  # a buffer
    assert weights_hash(G) != before


def test_evaluation_records_the_fraction_accepted_and_the_unchecked_output():
    G = tiny_generator()
    images = torch.cat([sample_images(G, range(20_000, 20_004)), out_of_range(4)])
    records = evaluate(scheme(G), images, AWGN(), [10.0], metrics=["psnr"], batch_size=8)
    by = {(r.model, r.metric): r for r in records}
    accepted = by[("inverse(blurry+tiny)", "accepted")]
    assert 0 < accepted.mean < 1 and accepted.n == 8  # a mixed batch
    assert {("blurry", "psnr"), ("inverse(blurry+tiny):unchecked", "psnr")} <= set(by)
    assert ("blurry", "accepted") not in by


def test_scheme_options():
    with pytest.raises(ValueError, match="consistency_quantile"):
        ConsistencyTest(quantile=0.0)
    with pytest.raises(ValueError, match="consistency_samples"):
        ConsistencyTest(samples=1)


def test_builder_options(tiny_model, tiny_prior):
    on = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), steps=2, lpips=0)
    assert on.consistency == ConsistencyTest() and not on.label.endswith(":unchecked")
    off = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency="false")
    assert off.consistency is None and off.label == on.label + ":unchecked"
    custom = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency_quantile=0.8,
                          consistency_samples=32)
    assert custom.consistency == ConsistencyTest(quantile=0.8, samples=32)
    with pytest.raises(ValueError, match="consistency takes true or false"):
        build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency="maybe")
