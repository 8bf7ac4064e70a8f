"""Separation at native size: odd sizes through every codec, metadata, the channel-use count, the
per-image choice of operating point (``select="image"``) and the exact LDPC decoding shortcuts."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from genjscc.channel import AWGN, BlockRayleigh
from genjscc.metrics import psnr
from genjscc.schemes.separation import MEAN_IMAGE_MAX_SIDE, SeparationScheme
from genjscc.separation import build_link
from genjscc.separation.capacity import CapacityLink
from genjscc.separation.codecs import CODECS, build_codec, strip_j2k_comments, to_uint8
from genjscc.separation.link import Link, LinkOption


def _photo_like(height: int, width: int, seed: int, texture: float = 0.05) -> torch.Tensor:
    """Smooth colour field + texture, ``[3, H, W]`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    return (smooth + texture * torch.randn(3, height, width, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def crops():
    from genjscc.data import load_dataset, stack

    return stack(load_dataset("photos", "test", 64, limit=4))


# ----------------------------------------------------------------------------- codecs at native size


@pytest.mark.parametrize("name", list(CODECS))
def test_every_codec_sends_a_451x300_image_and_decodes_it_at_its_size(name):
    """chelsea's size (W 451 x H 300, odd width): one encoding at a mid setting, decoded back to exactly 300 x 451
    (HEIF pads to even sides and is cropped back), no EXIF / XMP / ICC / comment in the file."""
    codec = build_codec(name)
    image = _photo_like(300, 451, 0)
    array = codec._pad(to_uint8(image))
    assert array.shape[:2] == ((300, 452) if name == "heif" else (300, 451))
    data = codec.encode_at(array, codec.qualities[len(codec.qualities) // 2])
    out = codec.decode(data, (300, 451))
    assert out.shape == (3, 300, 451)
    assert psnr(out.unsqueeze(0), image.unsqueeze(0)).item() > 25
    with Image.open(io.BytesIO(data)) as im:
        assert not any(im.info.get(key) for key in ("exif", "icc_profile", "xmp", "comment")), im.info
    if name == "heif":  # the crop takes the padded column away, nothing else
        padded = codec.decode(data)
        assert padded.shape == (3, 300, 452) and torch.equal(padded[:, :, :451], out)


def test_jpeg2000_files_carry_no_comment_marker_and_decode_as_before():
    codec = build_codec("jpeg2000")
    array = to_uint8(_photo_like(61, 93, 1))
    raw = codec._save(array, "JPEG2000", quality_mode="rates", quality_layers=[50.0], irreversible=True,
                      no_jp2=True, num_resolutions=4)
    stripped = strip_j2k_comments(raw)
    header = stripped[: stripped.index(b"\xff\x90")]  # main header: up to the first SOT
    assert b"\xff\x64" in raw[: raw.index(b"\xff\x90")] and b"\xff\x64" not in header
    at = raw.index(b"\xff\x64")
    assert len(raw) - len(stripped) == 2 + int.from_bytes(raw[at + 2:at + 4], "big")  # exactly the COM segment
    assert torch.equal(codec.decode(stripped), codec.decode(raw))
    assert strip_j2k_comments(b"not a codestream") == b"not a codestream"
    assert b"\xff\x64" not in codec.encode_at(array, 50.0)[:200]


def test_native_channel_uses_are_those_of_the_true_pixels():
    scheme = SeparationScheme(build_codec("webp"), CapacityLink(), "1/12")
    assert scheme.channel_uses(300, 451) == math.floor(3 * 300 * 451 / 12) == 33825
    assert scheme.channel_uses(512, 768) == 98304
    assert SeparationScheme(build_codec("webp"), CapacityLink(), "1/48").channel_uses(300, 451) == 8456


def test_ldpc_layouts_at_native_size_are_codes_sionna_builds():
    """Rate-1/3 MCSs at native k floored K just below 1/3 on base graph 1 (Sionna refused them)."""
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    from genjscc.separation.ldpc import MCS_TABLE, budget_bytes, codeword_layout

    for k in (8456, 24576, 33825, 98304):
        for mcs in MCS_TABLE:
            count, symbols, info = codeword_layout(k, mcs)
            assert count * symbols <= k and 12 <= info <= 8448
            assert budget_bytes(k, mcs) * 8 <= k * mcs.rate
            if info > 3824:
                assert 3 * info >= symbols * mcs.bits_per_symbol
            LDPC5GEncoder(info, symbols * mcs.bits_per_symbol, device="cpu")
    assert codeword_layout(1024, MCS_TABLE[0]) == (1, 1024, 341)  # small images: layout as before


def test_fallback_at_native_size_is_the_training_mean_resized(tmp_path, monkeypatch):
    """A 300 x 451 image's fallback: the training mean with its longer side at MEAN_IMAGE_MAX_SIDE, resized
    (the mean of 2000 crops at the full size would not fit in memory)."""
    import genjscc.data.mean_image as mean_image
    from genjscc.utils.images import save_image

    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for i in range(2):
            save_image(torch.tensor((0.9, 0.1, 0.1)).view(3, 1, 1).expand(3, 256, 256).clone(),
                       tmp_path / split / f"{i}.png")
    asked = []
    real = mean_image.training_mean_image

    def spy(spec, height, width):
        asked.append((height, width))
        return real(spec, height, width)

    monkeypatch.setattr(mean_image, "training_mean_image", spy)
    scheme = SeparationScheme(build_codec("webp"), CapacityLink(), "1/12", training_data=f"folder:{tmp_path}")
    mean = scheme._mean(300, 451)
    assert mean.shape == (3, 300, 451) and asked == [(170, MEAN_IMAGE_MAX_SIDE)]
    assert mean[0].mean() > 0.85 and mean[2].mean() < 0.15
    scheme._mean(64, 64)
    assert asked[-1] == (64, 64)  # small images as before


# ----------------------------------------------------------------------------- LDPC shortcuts are exact


def _random_files(count: int, size: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(count)]


def test_first_failure_stop_and_decode_mask_change_no_outcome():
    """Three codewords per image at an SNR where some images arrive and some do not: stopping an image at its
    first failed codeword, or decoding only some images, gives the same outcome as decoding everything."""
    from genjscc.separation.ldpc import LDPCLink, codeword_layout, parse_mcs

    k, snr = 6400, 8.85
    assert codeword_layout(k, parse_mcs("16qam-r2/3"))[0] == 3
    outcomes = []
    for stop in (False, True):
        link = LDPCLink(mcs="16qam-r2/3", prune_margin_db=None, first_failure_stops=stop)
        (option,) = link.options(k, AWGN(), snr)
        files = _random_files(8, option.budget_bytes, 0)
        outcomes.append(link.deliver(option, files, k, AWGN(), snr, generator=torch.Generator().manual_seed(3)))
        if stop:
            assert link.work["codewords"] < 24  # failed images left early
            mask = torch.tensor([True, False] * 4)
            part = link.deliver(option, files, k, AWGN(), snr, generator=torch.Generator().manual_seed(3), decode=mask)
            assert torch.equal(part, outcomes[0] & mask)
            before = dict(link.work)
            none = link.deliver(option, files, k, AWGN(), snr, generator=torch.Generator().manual_seed(3),
                                decode=torch.zeros(8, dtype=torch.bool))
            assert not none.any() and link.work == before  # nothing decoded
    assert torch.equal(outcomes[0], outcomes[1]) and 0 < int(outcomes[0].sum()) < 8


# ----------------------------------------------------------------------------- per-image choice


def test_select_option_through_build_scheme_and_record_identity():
    from genjscc.schemes import build_scheme

    scheme = build_scheme("separation", codec="webp", code="ldpc", bcr="1/12")
    assert scheme.select == "batch" and "select" not in scheme.options  # the old records' identity
    scheme = build_scheme("separation", codec="webp", code="ldpc", bcr="1/12", select="image")
    assert scheme.select == "image" and scheme.options["select"] == "image"
    with pytest.raises(ValueError, match="select must be one of batch, image"):
        build_scheme("separation", codec="webp", bcr="1/12", select="mean")


class _ScriptedLink(Link):
    """Two operating points with known outcomes: the large budget reaches image 0 only."""

    name = "scripted"

    def options(self, k, channel, snr_db):
        return [LinkOption("large", 4000, 4.0), LinkOption("small", 700, 1.0)]

    def deliver(self, option, files, k, channel, snr_db, *, generator=None, decode=None):
        sent = torch.tensor([f is not None for f in files])
        arrived = sent.clone() if option.label == "small" else sent & (torch.arange(len(files)) == 0)
        return arrived if decode is None else arrived & decode


def test_per_image_choice_gives_each_image_its_point():
    images = torch.stack([_photo_like(64, 64, 0, texture=0.2), _photo_like(64, 64, 1, texture=0.2)])
    batch = SeparationScheme(build_codec("webp"), _ScriptedLink(), "1/12", mean_image=torch.full((3, 64, 64), 0.5))
    each = SeparationScheme(build_codec("webp"), _ScriptedLink(), "1/12", mean_image=torch.full((3, 64, 64), 0.5),
                            select="image")
    out_batch = batch.transmit(images, AWGN(), 10.0).images
    out_each = each.transmit(images, AWGN(), 10.0).images
    choice = each.choices[("awgn", 10.0)]
    assert choice.per_image == ("large", "small") and choice.delivered == 2
    assert choice.option == "per image: large x1, small x1"
    assert (psnr(out_each, images) >= psnr(out_batch, images) - 1e-9).all()
    assert psnr(out_each, images).mean() > psnr(out_batch, images).mean() + 0.5


def test_per_image_ldpc_choice_is_the_oracle_over_every_mcs_and_never_below_the_batch(crops):
    """Block fading, one seed: per image, the PSNR equals the best over all twelve MCSs run one by one (each on
    the same seed, so the same fades and noise; the fallback where none delivers); no image does worse than
    under the batch's choice; and the images do not all get the same MCS."""
    from genjscc.separation.ldpc import MCS_TABLE, LDPCLink

    channel, snr, mean = BlockRayleigh(), 12.0, torch.full((3, 64, 64), 0.5)
    codec = build_codec("webp")

    def run(link, select="batch"):
        scheme = SeparationScheme(codec, link, "1/12", mean_image=mean, select=select)
        out = scheme.transmit(crops, channel, snr, generator=torch.Generator().manual_seed(4)).images
        return psnr(out, crops).double(), scheme.choices[(channel.describe(), snr)]

    each, choice = run(LDPCLink(), "image")
    batch, _ = run(LDPCLink(), "batch")
    fixed = torch.stack([run(LDPCLink(mcs=m.name))[0] for m in MCS_TABLE])
    fallback = psnr(mean.expand_as(crops), crops).double()
    oracle = torch.maximum(fixed.max(dim=0).values, fallback)
    assert torch.allclose(each, oracle, atol=1e-9)
    assert (each >= batch - 1e-9).all()
    assert len(set(choice.per_image)) > 1, choice


def test_flat_and_textured_images_get_different_mcs():
    """AWGN, 64 x 64 at BCR 1/12, 16 dB: the textured image needs the largest budget; the flat image's whole file
    fits a robust low-rate MCS, which is reported (the same PSNR at the lowest rate that delivers it)."""
    from genjscc.separation.ldpc import LDPCLink, parse_mcs

    flat = torch.tensor((0.3, 0.5, 0.7)).view(3, 1, 1).expand(3, 64, 64)
    textured = _photo_like(64, 64, 2, texture=0.25)
    images = torch.stack([flat, textured])
    mean = torch.full((3, 64, 64), 0.5)
    results = {}
    for select in ("batch", "image"):
        scheme = SeparationScheme(build_codec("webp"), LDPCLink(), "1/12", mean_image=mean, select=select)
        out = scheme.transmit(images, AWGN(), 16.0, generator=torch.Generator().manual_seed(0)).images
        results[select] = (psnr(out, images), scheme.choices[("awgn", 16.0)])
    each, choice = results["image"]
    flat_mcs, textured_mcs = (parse_mcs(label) for label in choice.per_image)
    assert choice.per_image[1] == "64qam-r2/3" and flat_mcs.rate < textured_mcs.rate
    assert (each >= results["batch"][0] - 1e-9).all()
    assert results["batch"][1].option == "64qam-r2/3"  # the batch sends both with the largest budget


def test_per_image_outage_choice_on_block_fading_uses_each_images_expectation(crops):
    """The ideal code on block fading: each image its own outage target, by its own expected PSNR, independent
    of the fading draw; mean expected PSNR at least the batch's."""
    mean = torch.full((3, 64, 64), 0.5)
    images = torch.cat([crops[:2], torch.tensor((0.3, 0.5, 0.7)).view(1, 3, 1, 1).expand(1, 3, 64, 64)])
    labels = []
    for seed in (0, 1):
        scheme = SeparationScheme(build_codec("webp"), CapacityLink(), "1/12", mean_image=mean, select="image")
        scheme.transmit(images, BlockRayleigh(), 10.0, generator=torch.Generator().manual_seed(seed))
        labels.append(scheme.choices[("rayleigh(csi=mmse)", 10.0)])
    assert labels[0].per_image == labels[1].per_image and len(labels[0].per_image) == 3
    batch = SeparationScheme(build_codec("webp"), CapacityLink(), "1/12", mean_image=mean)
    batch.transmit(images, BlockRayleigh(), 10.0, generator=torch.Generator().manual_seed(0))
    assert labels[0].score >= batch.choices[("rayleigh(csi=mmse)", 10.0)].score - 1e-9
    assert len(set(labels[0].per_image)) > 1  # the flat image's small file takes a safer rate


def test_awgn_capacity_has_one_rate_so_both_selections_agree(crops):
    mean = torch.full((3, 64, 64), 0.5)
    outs = []
    for select in ("batch", "image"):
        scheme = SeparationScheme(build_codec("webp"), build_link("capacity"), "1/12", mean_image=mean, select=select)
        outs.append(scheme.transmit(crops, AWGN(), 5.0).images)
    assert torch.equal(outs[0], outs[1])
