"""Separation baselines: codecs, ideal code, outage, LDPC + QAM link, scheme and CLI."""

import io
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genjscc.channel import AWGN, BlockRayleigh, FastRayleigh
from genjscc.metrics import psnr
from genjscc.separation.capacity import (
    CapacityLink,
    bit_budget,
    capacity_per_use,
    ergodic_capacity,
    in_outage,
    outage_probability,
    outage_rate,
)
from genjscc.separation.codecs import CODECS, build_codec
from genjscc.schemes.separation import SeparationScheme
from genjscc.separation import build_link

# ----------------------------------------------------------------------------- images


def _photo_like(height: int, width: int, seed: int) -> torch.Tensor:
    """Smooth colour field + texture: compresses like a photo, not like noise. [3, H, W] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    return (smooth + 0.05 * torch.randn(3, height, width, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def crops():
    from genjscc.data import load_dataset, stack

    return stack(load_dataset("photos", "test", 64, limit=4))


# ----------------------------------------------------------------------------- codecs


@pytest.mark.parametrize("name", list(CODECS))
@settings(max_examples=6, deadline=None)
@given(height=st.integers(16, 48), width=st.integers(16, 48), budget=st.integers(0, 2500), seed=st.integers(0, 999))
def test_rate_control_never_exceeds_budget(name, height, width, budget, seed):
    codec = build_codec(name)
    image = _photo_like(height, width, seed)
    data = codec.encode(image, budget)
    if budget >= 2000:  # far above every codec's header floor at these sizes: a file must fit
        assert data is not None
    if data is not None:
        assert len(data) <= budget
        out = codec.decode(data, (height, width))
        assert out.shape == (3, height, width) and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("name", list(CODECS))
def test_codec_round_trip_odd_size_and_no_metadata(name):
    codec = build_codec(name)
    image = _photo_like(33, 31, 0)  # odd sides: HEIF pads and crops back
    data = codec.encode(image, 100_000)
    assert data is not None
    out = codec.decode(data, (33, 31))
    assert out.shape == (3, 33, 31)
    assert psnr(out.unsqueeze(0), image.unsqueeze(0)).item() > 25
    with Image.open(io.BytesIO(data)) as im:
        assert not any(im.info.get(key) for key in ("exif", "icc_profile", "xmp", "comment")), im.info
    assert name in codec.description and any(ch.isdigit() for ch in codec.description)  # carries a version


def test_rate_control_picks_the_largest_fitting_quality():
    codec = build_codec("jpeg")
    image = _photo_like(64, 64, 1)
    sizes = [len(codec.encode_at(codec._pad((image.permute(1, 2, 0) * 255).round().byte().numpy()), q))
             for q in codec.qualities]
    budget = sizes[40] + 1
    data = codec.encode(image, budget)
    # the search returns a file within budget, and no setting that is larger yet fits was missed by much
    assert len(data) <= budget
    assert len(data) >= max(s for s in sizes if s <= budget) * 0.9


@pytest.mark.parametrize("name", list(CODECS))
def test_tiny_images_do_not_fit_small_budgets(name):
    codec = build_codec(name)
    image = _photo_like(32, 32, 2)
    assert codec.encode(image, 60) is None  # header floors exceed 60 bytes in every codec
    assert codec.encode(image, 0) is None


def test_unknown_codec_names_the_choices():
    with pytest.raises(ValueError, match="webp"):
        build_codec("bpg2")


# ----------------------------------------------------------------------------- capacity


def test_capacity_arithmetic():
    assert capacity_per_use(0.0) == pytest.approx(1.0)
    assert bit_budget(1024, capacity_per_use(10.0)) == math.floor(1024 * math.log2(11.0)) == 3542
    assert bit_budget(256, capacity_per_use(-5.0)) == math.floor(256 * math.log2(1 + 10 ** -0.5))
    assert bit_budget(1000, 1.0) == 1000  # an exact product is not lost to rounding
    link = CapacityLink()
    (option,) = link.options(1024, AWGN(), 10.0)
    assert option.budget_bytes == 3542 // 8 and option.success_probability == 1.0


def test_outage_rate_inverts_outage_probability():
    for snr in (-5.0, 0.0, 5.0, 10.0):
        for eps in (0.01, 0.1, 0.5):
            assert outage_probability(outage_rate(snr, eps), snr) == pytest.approx(eps, rel=1e-9)
        # the average-SNR rate is in outage with probability 1 - 1/e
        assert outage_probability(capacity_per_use(snr), snr) == pytest.approx(1 - math.exp(-1), rel=1e-9)


def test_outage_frequency_matches_theory():
    n, snr, eps = 200_000, 5.0, 0.1
    g = torch.Generator().manual_seed(0)
    h = BlockRayleigh().draw_fading(torch.zeros(n, 1, dtype=torch.complex64), generator=g)
    freq = in_outage(h, snr, outage_rate(snr, eps)).double().mean().item()
    assert abs(freq - eps) < 4 * math.sqrt(eps * (1 - eps) / n)


def test_in_outage_closed_form_cases():
    rate = 1.0  # needs |h|^2 S >= 1
    h = torch.tensor([[0.5 + 0j], [1.0 + 0j], [0.0 + 2j]], dtype=torch.complex64)
    assert in_outage(h, 0.0, rate).tolist() == [True, False, False]


def test_ergodic_capacity_matches_monte_carlo():
    n, snr = 200_000, 5.0
    g = torch.Generator().manual_seed(1)
    h = FastRayleigh().draw_fading(torch.zeros(1, n, dtype=torch.complex64), generator=g)
    samples = torch.log2(1 + h.abs().square().double() * 10 ** 0.5).flatten()
    assert abs(samples.mean().item() - ergodic_capacity(snr)) < 4 * samples.std().item() / math.sqrt(n)


def test_lost_images_become_the_mean_image(crops):
    mean = torch.full((3, 64, 64), 0.5)
    scheme = SeparationScheme(build_codec("webp"), CapacityLink(outage=0.5), "1/12", mean_image=mean)
    g = torch.Generator().manual_seed(3)
    out = scheme.transmit(crops, BlockRayleigh(), 10.0, generator=g).images
    lost = (out == mean).flatten(1).all(dim=1)
    choice = scheme.choices[("rayleigh(csi=mmse)", 10.0)]
    assert choice.fitted == len(crops)
    assert int((~lost).sum()) == choice.delivered
    # the same fading draws through in_outage give the same losses
    g = torch.Generator().manual_seed(3)
    seed = int(torch.randint(0, 2**62, (1,), generator=g).item())
    h = BlockRayleigh().draw_fading(torch.zeros(len(crops), 1, dtype=torch.complex64),
                                    generator=torch.Generator().manual_seed(seed))
    assert lost.tolist() == in_outage(h, 10.0, outage_rate(10.0, 0.5)).tolist()


def test_best_outage_target_is_chosen_by_expectation(crops):
    mean = torch.full((3, 64, 64), 0.5)
    scheme = SeparationScheme(build_codec("webp"), CapacityLink(), "1/12", mean_image=mean)
    scheme.transmit(crops, BlockRayleigh(), 10.0, generator=torch.Generator().manual_seed(0))
    first = scheme.choices[("rayleigh(csi=mmse)", 10.0)].option
    scheme.transmit(crops, BlockRayleigh(), 10.0, generator=torch.Generator().manual_seed(1))
    assert scheme.choices[("rayleigh(csi=mmse)", 10.0)].option == first  # independent of the fading draw


# ----------------------------------------------------------------------------- LDPC + QAM


def _random_files(count: int, size: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(count)]


@pytest.mark.parametrize("mcs", ["bpsk-r1/3", "qpsk-r1/2", "16qam-r2/3", "64qam-r1/2"])
def test_ldpc_round_trip_error_free_at_high_snr(mcs):
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs=mcs)
    (option,) = link.options(256, AWGN(), 25.0)
    files = _random_files(4, option.budget_bytes, 0)
    ok = link.deliver(option, files, 256, AWGN(), 25.0, generator=torch.Generator().manual_seed(0))
    assert ok.all()


def test_ldpc_fails_at_very_low_snr():
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs="16qam-r1/2", prune_margin_db=None)  # really decode, no shortcut
    (option,) = link.options(256, AWGN(), -5.0)
    ok = link.deliver(option, _random_files(4, option.budget_bytes, 1), 256, AWGN(), -5.0,
                      generator=torch.Generator().manual_seed(0))
    assert not ok.any()


def test_ldpc_noise_variance_convention_puts_the_threshold_in_place():
    """QPSK r1/2 (K ~ 1000) decodes at Es/N0 3.5 dB and fails at 0 dB: a real-vs-complex
    noise mix-up (3 dB) would break one of the two."""
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs="qpsk-r1/2", prune_margin_db=None)
    (option,) = link.options(1024, AWGN(), 0.0)
    files = _random_files(3, option.budget_bytes, 2)
    good = link.deliver(option, files, 1024, AWGN(), 3.5, generator=torch.Generator().manual_seed(0))
    bad = link.deliver(option, files, 1024, AWGN(), 0.0, generator=torch.Generator().manual_seed(0))
    assert good.all() and not bad.any()


@pytest.mark.parametrize("csi", ["mmse", "zf"])
def test_ldpc_over_block_fading_with_equalisation(csi):
    from genjscc.separation.ldpc import LDPCLink

    channel = BlockRayleigh(csi=csi)
    link = LDPCLink(mcs="16qam-r1/2", prune_margin_db=None)
    (option,) = link.options(256, channel, 30.0)
    files = _random_files(12, option.budget_bytes, 3)
    g = torch.Generator().manual_seed(5)
    ok = link.deliver(option, files, 256, channel, 30.0, generator=g)
    g = torch.Generator().manual_seed(5)
    h = channel.draw_fading(torch.zeros(12, 1, dtype=torch.complex64), generator=g)
    strong = (h.abs().square().flatten() * 1000 > 10 ** 1.2)  # instantaneous SNR > 12 dB: must decode
    assert ok[strong].all() and strong.sum() >= 8


def test_ldpc_capacity_pruning_changes_no_outcome():
    from genjscc.separation.ldpc import LDPCLink

    channel = BlockRayleigh()
    results = []
    for margin in (1.0, None):
        link = LDPCLink(mcs="qpsk-r1/2", prune_margin_db=margin)
        (option,) = link.options(256, channel, 3.0)
        files = _random_files(12, option.budget_bytes, 4)
        results.append(link.deliver(option, files, 256, channel, 3.0, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(results[0], results[1]) and 0 < int(results[1].sum()) < 12


def test_ldpc_budget_and_layout():
    from genjscc.separation.ldpc import MCS_TABLE, budget_bytes, codeword_layout, parse_mcs

    assert len(MCS_TABLE) == 12
    mcs = parse_mcs("16qam-1/2")
    count, symbols, info = codeword_layout(1024, mcs)
    assert (count, symbols, info) == (1, 1024, 2048)
    assert budget_bytes(1024, mcs) == 255  # 255 bytes + an 8-bit length field fill the 2048 bits
    count, symbols, info = codeword_layout(12_288, parse_mcs("64qam-r2/3"))  # 49152 info bits: 6 codewords
    assert count == 6 and info <= 8448 and count * symbols <= 12_288
    for m in MCS_TABLE:
        assert budget_bytes(256, m) * 8 <= 256 * m.rate


def test_ldpc_refuses_incoherent_receiver():
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs="qpsk-r1/2")
    (option,) = link.options(256, AWGN(), 10.0)
    with pytest.raises(ValueError, match="coherent"):
        link.deliver(option, [b"x"], 256, BlockRayleigh(csi="none"), 10.0)


# ----------------------------------------------------------------------------- scheme and CLI


def test_scheme_through_build_scheme(crops):
    from genjscc.schemes import build_scheme

    scheme = build_scheme("separation", codec="webp", code="capacity", bcr="1/12")
    assert scheme.label == "webp+capacity" and scheme.kind == "separation"
    assert scheme.bcr(64, 64) == Fraction(1, 12) and scheme.channel_uses(64, 64) == 1024
    out = scheme.transmit(crops, AWGN(), 10.0, generator=torch.Generator().manual_seed(0)).images
    assert out.shape == crops.shape
    mean = scheme._mean(64, 64).expand_as(crops)
    assert psnr(out, crops).mean() > psnr(mean, crops).mean() + 5
    choice = scheme.choices[("awgn", 10.0)]
    assert choice.fitted == len(crops) and choice.mean_bytes <= choice.budget_bytes == 442


def test_scheme_ldpc_reports_its_mcs(crops):
    from genjscc.schemes import build_scheme

    scheme = build_scheme("separation", codec="webp", code="ldpc", bcr="1/12")
    out = scheme.transmit(crops[:2], AWGN(), 16.0, generator=torch.Generator().manual_seed(0)).images
    assert out.shape == crops[:2].shape
    choice = scheme.choices[("awgn", 16.0)]
    assert choice.delivered == 2 and choice.option == "64qam-r2/3"  # the largest budget, and it decodes


def test_tiny_images_through_the_scheme():
    scheme = SeparationScheme(build_codec("avif"), build_link("capacity"), "1/48")
    images = torch.stack([_photo_like(32, 32, s) for s in range(2)])
    out = scheme.transmit(images, AWGN(), 0.0).images
    assert out.shape == images.shape
    assert torch.equal(out[0], out[1])  # both the mean image
    assert scheme.choices[("awgn", 0.0)].fitted == 0


def test_scheme_option_errors():
    from genjscc.schemes import build_scheme

    with pytest.raises(ValueError, match="--set bcr="):
        build_scheme("separation", codec="webp")
    with pytest.raises(ValueError, match="no option rate.*its options: bcr, code, codec, mcs, outage"):
        build_scheme("separation", codec="webp", bcr="1/12", rate=3)
    with pytest.raises(ValueError, match="capacity"):
        build_scheme("separation", codec="webp", code="turbo", bcr="1/12")
    with pytest.raises(ValueError, match="mcs applies"):
        build_scheme("separation", codec="webp", code="capacity", bcr="1/12", mcs="qpsk-r1/2")


def test_cli_evaluate_separation():
    from typer.testing import CliRunner

    from genjscc.cli import app

    result = CliRunner().invoke(app, [
        "evaluate", "separation", "--set", "codec=webp", "--set", "code=capacity", "--set", "bcr=1/48",
        "--snr", "0,10", "--limit", "2", "--metrics", "psnr", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    assert {r["bcr"] for r in records} == {"1/48"} and {r["model"] for r in records} == {"webp+capacity"}
    assert [r["snr_db"] for r in records] == [0.0, 10.0]


def test_cli_separation_without_bcr_fails_cleanly():
    from typer.testing import CliRunner

    from genjscc.cli import app

    result = CliRunner().invoke(app, ["evaluate", "separation", "--set", "codec=webp", "--limit", "1"])
    assert result.exit_code == 2 and "--set bcr=" in result.output


def test_cli_reaches_every_separation_option(tmp_path):
    """--set and --config carry any builder option: here the MCS of the LDPC link (no CLI code of its own)."""
    from typer.testing import CliRunner

    from genjscc.cli import app

    config = tmp_path / "sep.yaml"
    config.write_text("codec: webp\ncode: ldpc\nbcr: 1/12\nmcs: qpsk-r1/2\n")
    result = CliRunner().invoke(app, [
        "evaluate", "separation", "--config", str(config), "--snr", "16", "--limit", "1", "--metrics", "psnr",
        "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    assert record["model"] == "webp+ldpc" and record["bcr"] == "1/12"
    result = CliRunner().invoke(app, ["evaluate", "separation", "--config", str(config), "--set", "mcs=bogus",
                                      "--snr", "16", "--limit", "1"])
    assert result.exit_code == 2 and "bogus" in result.output  # --set overrides the file and reaches the link


def _red_train_blue_test(folder) -> str:
    """A folder data spec whose two training images are red and two test images blue (64x64)."""
    from genjscc.utils.images import save_image

    for split, colour in (("train", (0.9, 0.1, 0.1)), ("test", (0.1, 0.1, 0.9))):
        (folder / split).mkdir()
        for i in range(2):
            save_image(torch.tensor(colour).view(3, 1, 1).expand(3, 64, 64).clone(), folder / split / f"{i}.png")
    return f"folder:{folder}"


def test_fallback_is_the_evaluated_datasets_training_mean(tmp_path):
    """The image sent when nothing fits is the mean of the *evaluated* data's training crops."""
    from genjscc.data import training_mean_image
    from genjscc.schemes import build_scheme

    spec = _red_train_blue_test(tmp_path)
    scheme = build_scheme("separation", codec="webp", bcr="1/384", training_data=spec)
    images = torch.rand(2, 3, 32, 32)
    out = scheme.transmit(images, AWGN(), -5.0).images  # 1/384 of a 32x32 image fits no file: all fallbacks
    assert scheme.choices[("awgn", -5.0)].fitted == 0
    expected = training_mean_image(spec, 32, 32)
    assert torch.allclose(out[0], expected, atol=1e-6)
    assert out[0, 0].mean() > 0.85 and out[0, 2].mean() < 0.15  # red training images, not the photos' mean


def test_builder_fallback_by_default_is_the_photos_training_mean():
    """Without --data the fallback is what transmit and evaluate gave before: the photos' training mean."""
    from genjscc.data import training_mean_image
    from genjscc.schemes import build_scheme

    scheme = build_scheme("separation", codec="webp", bcr="1/384")
    out = scheme.transmit(torch.rand(2, 3, 32, 32), AWGN(), -5.0).images  # 1/384 of 32x32 fits no file
    assert scheme.choices[("awgn", -5.0)].fitted == 0
    assert torch.equal(out[0], training_mean_image("photos", 32, 32)) and torch.equal(out[1], out[0])
    assert not torch.allclose(out[0], torch.full_like(out[0], 0.5), atol=0.02)  # not the mid-grey of no data


def test_evaluate_data_becomes_the_fallback_data_unless_given(tmp_path):
    """`evaluate --data X` defaults training_data to X (the record names X as its data; only a training_data
    given with --set is among its options); --set training_data wins."""
    import json

    from typer.testing import CliRunner

    from genjscc.cli import app
    from genjscc.data import load_dataset, stack, training_mean_image

    spec = _red_train_blue_test(tmp_path)
    common = ["evaluate", "separation", "--set", "codec=webp", "--set", "bcr=1/384", "--data", spec, "--size", "32",
              "--snr", "-5", "--metrics", "psnr", "--format", "json"]
    targets = stack(load_dataset(spec, "test", 32))
    for extra, fallback, recorded in (([], spec, {}), (["--set", "training_data=photos"], "photos",
                                                       {"training_data": "photos"})):
        result = CliRunner().invoke(app, common + extra)
        assert result.exit_code == 0, result.output
        [record] = json.loads(result.stdout[result.stdout.index("{"):])["results"]
        expected = psnr(training_mean_image(fallback, 32, 32).expand_as(targets), targets).double().mean().item()
        assert record["mean"] == pytest.approx(expected, abs=1e-6)
        assert json.loads(record["options"]) == {"codec": "webp", "bcr": "1/384", **recorded}
