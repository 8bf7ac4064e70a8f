"""InverseJSCC's consistency test on a tiny generator: images it can make pass, others get x̂ back;
the calibration comes from prior samples only and is cached, keyed by the weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import genjscc.schemes.consistency as consistency_module
from genjscc.channel import AWGN, complex_to_real, real_to_complex
from genjscc.data import load_dataset, stack
from genjscc.evaluation.evaluate import evaluate
from genjscc.inversion import ILOSettings
from genjscc.models.stylegan2.sampling import sample_images
from genjscc.schemes import build_scheme
from genjscc.schemes.base import Scheme, Transmission
from genjscc.schemes.consistency import (
    ConsistencyTest,
    blend_images,
    blend_weights,
    in_range_pvalue,
    likelihood_gap,
    weights_hash,
)
from genjscc.schemes.inverse import InverseScheme
from support import tiny_generator  # 16² generator, images mostly inside [-1, 1], w_avg at the mean w

SETTINGS = ILOSettings(steps=(40,), lpips=0.0)  # MSE-only objective: no LPIPS network, fast
TEST = ConsistencyTest(samples=16, batch=16)  # the default weight: p-value^(1/3), half of it on the coarse band
HARD = ConsistencyTest(statistic="reencoding", quantile=0.9, blend=1.0, low_share=1.0, samples=16)  # the earliest rule


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only synchronises
    yield
    torch.set_num_threads(threads)


class BlurryLink(nn.Module):
    """Stands in for a DeepJSCC: the symbols are ``SCALE · (gain · blur3(x) − 1/2)`` paired into complex
    numbers, the decoder undoes that pairing and scaling; through AWGN at S dB x̂ is
    ``gain · blur3(x)`` plus pixel noise of standard deviation ``√(10^(−S/10) / 2) / SCALE``."""

    SCALE = 8.0

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    @torch.no_grad()
    def encode(self, images, snr_db):
        blurred = self.gain * F.avg_pool2d(F.pad(images, [1] * 4, mode="replicate"), 3, stride=1)
        return real_to_complex(self.SCALE * (blurred - 0.5)), images.shape

    def decode(self, symbols, shape, snr_db):
        return complex_to_real(symbols, shape) / self.SCALE + 0.5


class BlurryScheme(Scheme):
    """The DeepJSCC stand-in as a scheme: x̂ = clamp(decode(channel(encode(x))))."""

    kind = "deepjscc"

    def __init__(self):
        super().__init__("blurry")
        self.model = BlurryLink()

    def transmit(self, images, channel, snr_db, *, generator=None):
        model = self.model
        return Transmission(model.decode(channel(*model.encode(images, snr_db)[:1], snr_db, generator=generator),
                                         images.shape, snr_db).clamp(0, 1))


def scheme(G: nn.Module, jscc: Scheme | None = None, test: ConsistencyTest | None = TEST) -> InverseScheme:
    return InverseScheme(jscc or BlurryScheme(), G, SETTINGS, "inverse(blurry+tiny)", consistency=test)


def out_of_range(n: int) -> torch.Tensor:
    """Photo crops at 16²: edges and textures that a random 16² generator does not make."""
    return stack(load_dataset("photos", "test", 16, limit=n))


@pytest.mark.parametrize("statistic", ["likelihood", "reencoding"])
def test_in_range_images_get_the_priors_image_and_others_the_deepjscc_output(statistic):
    G = tiny_generator()
    inverse = scheme(G, test=ConsistencyTest(statistic=statistic, samples=16))
    inside = sample_images(G, range(10_000, 10_016))  # seeds the calibration (2^41 + i) never uses
    outside = out_of_range(16)
    accepted, weight = {}, {}
    for name, images in (("inside", inside), ("outside", outside)):
        sent = inverse.transmit(images, AWGN(), 10.0, generator=torch.Generator().manual_seed(3))
        out, alpha = sent.images, sent.report["weight"]
        observed = sent.stages["blurry"].images
        unchecked = sent.stages["inverse(blurry+tiny):unchecked"].images
        assert torch.allclose(out, blend_images(observed, unchecked, alpha, inverse.consistency), atol=1e-6)
        assert 0 <= alpha.min() and alpha.max() <= 1 + 1e-6
        assert torch.equal(sent.report["accepted"], (alpha > 0).float())
        accepted[name], weight[name] = (alpha > 0).float().mean().item(), alpha.mean().item()
    # in range the p-value is about uniform: E[P^(1/3)] = 0.75
    assert accepted["inside"] >= 0.8 and weight["inside"] >= 0.4, (accepted, weight)
    assert accepted["outside"] <= 0.2 and weight["outside"] <= 0.1, (accepted, weight)


def test_the_earlier_rule_sends_either_g_or_the_deepjscc_output():
    G = tiny_generator()
    inverse = scheme(G, test=HARD)
    images = torch.cat([sample_images(G, range(10_000, 10_008)), out_of_range(8)])
    sent = inverse.transmit(images, AWGN(), 10.0, generator=torch.Generator().manual_seed(3))
    out, flags = sent.images, sent.report["accepted"].bool()
    observed = sent.stages["blurry"].images
    unchecked = sent.stages["inverse(blurry+tiny):unchecked"].images
    assert torch.equal(out[flags], unchecked[flags]) and torch.equal(out[~flags], observed[~flags])
    assert 0 < flags.float().mean() < 1 and torch.equal(sent.report["weight"], flags.float())


def test_the_weight_is_the_capped_in_range_p_value_to_a_power():
    calibration = torch.tensor([4.0, 1.0, 3.0, 2.0])  # F̂ = 1/8, 3/8, 5/8, 7/8 at 1, 2, 3, 4
    statistic = torch.tensor([0.0, 1.0, 2.5, 4.0, 5.0])
    assert torch.allclose(in_range_pvalue(statistic, calibration), torch.tensor([1.0, 7 / 8, 1 / 2, 1 / 8, 0.0]))
    soft = blend_weights(statistic, calibration, ConsistencyTest(blend=0.8, power=0.5))
    assert torch.allclose(soft, 0.8 * torch.tensor([1.0, 7 / 8, 1 / 2, 1 / 8, 0.0]).sqrt())
    hard = blend_weights(statistic, calibration, ConsistencyTest(quantile=0.5, blend=1.0))  # τ_0.5 = 2.5
    assert torch.equal(hard, torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    inside = torch.rand(20_000)
    assert abs(in_range_pvalue(torch.rand(20_000), inside).mean().item() - 0.5) < 0.01  # uniform in range


def test_the_coarse_band_gets_its_share_of_the_weight_and_the_detail_all_of_it():
    """With Δ = G − x̂ constant (all coarse: the blur keeps it) the output is x̂ + s α Δ; with Δ a
    one-pixel checkerboard (all detail: a 3 px blur removes almost all of it) it is x̂ + α Δ."""
    observed = torch.full((2, 3, 64, 64), 0.5)
    alpha = torch.tensor([1.0, 0.4])
    flat = observed + 0.2
    default = ConsistencyTest()
    assert 0 < default.low_share < 1 and default.lowpass > 0
    sent = blend_images(observed, flat, alpha, default)
    assert torch.allclose(sent, observed + default.low_share * alpha.view(-1, 1, 1, 1) * 0.2, atol=1e-6)
    checker = (torch.arange(64).view(1, -1) + torch.arange(64).view(-1, 1)) % 2 * 0.4 - 0.2
    fine = observed + checker
    sent = blend_images(observed, fine, alpha, ConsistencyTest())
    assert torch.allclose(sent, observed + alpha.view(-1, 1, 1, 1) * checker, atol=2e-3)
    one_band = ConsistencyTest(low_share=1.0)
    for candidates in (flat, fine):
        assert torch.equal(blend_images(observed, candidates, alpha, one_band),
                           observed + alpha.view(-1, 1, 1, 1) * (candidates - observed))
    edge = torch.zeros(1, 3, 64, 64)
    edge[..., 32:] = 1.0  # G: a sharp edge; x̂ nearly white, so the edge's detail overshoots 1
    near_white = torch.full_like(edge, 0.95)
    detail_only = blend_images(near_white, edge, torch.ones(1), ConsistencyTest(low_share=0.0))
    assert detail_only.max() == 1 and detail_only.min() >= 0  # clipped into [0, 1]
    assert detail_only[..., 33].mean() > 0.95 and detail_only[..., 30].mean() < 0.95  # the edge is there


def test_likelihood_gap_is_the_symbol_residual_of_g_against_that_of_the_deepjscc_output():
    """L = mean |ỹ − E(G)|² − mean |ỹ − E(x̂)|²: negative when G is the sent image and x̂ is not, and it grows
    by mean |E(G) − E(x)|² (for noise orthogonal to that difference) when G moves away from the sent image."""
    def encode(images):
        return real_to_complex(images.flatten(1))

    x = torch.rand(2, 3, 4, 4)
    noise = 0.1 * real_to_complex(torch.randn(2, 48))
    received = encode(x) + noise
    xhat = (x + 0.3).clamp(0, 1)
    exact = likelihood_gap(encode, x, xhat, received)
    expected = noise.abs().square().mean(1) - (received - encode(xhat)).abs().square().mean(1)
    assert torch.allclose(exact, expected, atol=1e-6) and (exact < 0).all()
    shift = torch.zeros_like(x)
    shift[:, 0, 0, 0] = 0.5  # one real value of symbol 0; the noise there is taken out below
    noise[:, 0] = 0
    received = encode(x) + noise
    moved = likelihood_gap(encode, x + shift, xhat, received) - likelihood_gap(encode, x, xhat, received)
    assert torch.allclose(moved, torch.full((2,), 0.25 / 24), atol=1e-6)


def test_without_the_test_every_image_is_the_priors_and_nothing_is_calibrated(monkeypatch):
    def no_calibration(*args, **kwargs):
        raise AssertionError("calibrated although consistency is off")

    monkeypatch.setattr(consistency_module, "sample_images", no_calibration)
    G = tiny_generator()
    inverse = scheme(G, test=None)
    images = out_of_range(4)
    sent = inverse.transmit(images, AWGN(), 10.0, generator=torch.Generator().manual_seed(3))
    assert sent.report == {} and set(sent.stages) == {"blurry"}
    assert not torch.allclose(sent.images, sent.stages["blurry"].images, atol=1e-3)  # G, not x̂


def test_calibration_is_cached_and_rebuilt_when_the_prior_or_the_deepjscc_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path))  # an empty cache
    calls = []
    real_sample = consistency_module.sample_images

    def counting_sample(*args, **kwargs):
        calls.append(1)
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(consistency_module, "sample_images", counting_sample)
    G, jscc = tiny_generator(), BlurryScheme()
    first = scheme(G, jscc).calibration(AWGN(), 10.0)
    built = len(calls)
    assert built == 1 and first.shape == (16,)
    again = scheme(tiny_generator(), BlurryScheme()).calibration(AWGN(), 10.0)  # other objects, same weights
    assert len(calls) == built and torch.equal(again, first)  # read back from the cache
    other_weight = scheme(G, jscc, ConsistencyTest(blend=0.5, power=2.0, quantile=0.8, samples=16))
    assert torch.equal(other_weight.calibration(AWGN(), 10.0), first) and len(calls) == built  # weights: read time
    inverse = scheme(G, jscc)
    per_image = inverse.weights(torch.full((3,), first.median().item()), AWGN(), torch.tensor([10.0, 0.0, 10.0]))
    assert len(calls) == built + 1  # one more SNR, calibrated once
    assert per_image[0] == per_image[2] and per_image[0] > 0 and per_image[1] != per_image[0]  # its own calibration
    scheme(G, jscc, HARD).calibration(AWGN(), 10.0)
    assert len(calls) == built + 2  # another statistic: its own calibration
    with torch.no_grad():
        jscc.model.gain.fill_(0.9)
    scheme(G, jscc).calibration(AWGN(), 10.0)
    assert len(calls) == built + 3  # the DeepJSCC changed
    with torch.no_grad():
        next(G.synthesis.parameters()).add_(0.01)
    scheme(G, jscc).calibration(AWGN(), 10.0)
    assert len(calls) == built + 4  # the prior changed


def test_a_corrupt_cache_file_is_computed_again(monkeypatch, tmp_path):
    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path))
    G = tiny_generator()
    first = scheme(G).calibration(AWGN(), 10.0)
    (path,) = (consistency_module.cache_dir() / "inverse-consistency").glob("*.json")
    path.write_text('{"key": ')  # as a killed writer could never leave it (atomic), but a disk might
    assert torch.equal(scheme(G).calibration(AWGN(), 10.0), first)


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
    assert 0 < by[("inverse(blurry+tiny)", "weight")].mean <= 1
    assert {("blurry", "psnr"), ("inverse(blurry+tiny):unchecked", "psnr")} <= set(by)
    assert ("blurry", "accepted") not in by


def test_scheme_options():
    with pytest.raises(ValueError, match="consistency_quantile"):
        ConsistencyTest(quantile=0.0)
    with pytest.raises(ValueError, match="consistency_samples"):
        ConsistencyTest(samples=1)
    with pytest.raises(ValueError, match="consistency_power must be > 0"):
        ConsistencyTest(power=0)
    with pytest.raises(ValueError, match="consistency_blend"):
        ConsistencyTest(blend=0.0)
    with pytest.raises(ValueError, match="consistency_statistic must be one of likelihood, reencoding"):
        ConsistencyTest(statistic="psnr")
    with pytest.raises(ValueError, match=r"consistency_lowpass must be in \[0, 0.25\)"):
        ConsistencyTest(lowpass=0.5)
    with pytest.raises(ValueError, match=r"consistency_low_share must be in \[0, 1\]"):
        ConsistencyTest(low_share=1.5)


def test_builder_options(tiny_model, tiny_prior):
    on = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), steps=2, lpips=0)
    assert on.consistency == ConsistencyTest() and not on.label.endswith(":unchecked")
    off = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency="false")
    assert off.consistency is None and off.label == on.label + ":unchecked"
    custom = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency_blend=0.8,
                          consistency_power=0.5, consistency_samples=32)
    assert custom.consistency == ConsistencyTest(blend=0.8, power=0.5, samples=32)
    earlier = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency_statistic="reencoding",
                           consistency_quantile=0.9, consistency_blend=1, consistency_low_share=1)
    assert earlier.consistency == ConsistencyTest(statistic="reencoding", quantile=0.9, blend=1.0, low_share=1.0)
    assert earlier.label == on.label + ":reencoding-q0.9-b1-s1" and custom.label == on.label + ":likelihood-p0.5-b0.8"
    first = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency_blend=0.85,
                         consistency_low_share=1)  # the first soft weight, one band
    assert first.label == on.label + ":likelihood-p0.333-b0.85-s1"
    wider = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency_lowpass=0.1)
    assert wider.consistency.lowpass == 0.1 and wider.label == on.label + ":likelihood-p0.333-b1-lp0.1"
    with pytest.raises(ValueError, match="consistency takes true or false"):
        build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), consistency="maybe")
