"""Evaluation of whole images at their own size: mixed-size batches, per-image means, records of native runs,
the refusal by fixed-size schemes, and sweeps with ``size: native``."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
import torch
import yaml
from typer.testing import CliRunner

from genjscc.channel import AWGN
from genjscc.cli import app
from genjscc.data import save_image
from genjscc.evaluation.evaluate import _noise_seed, evaluate, plan_batches
from genjscc.evaluation.records import Record, read_records, read_sizes, records_markdown, write_records
from genjscc.metrics import ms_ssim, ms_ssim_db, psnr
from genjscc.schemes import Scheme, Transmission, build_scheme

runner = CliRunner()

MIXED = [(48, 40), (33, 71), (48, 40), (27, 30)]  # (H, W): two of one size, two odd sizes


class Darken(Scheme):
    """A deterministic scheme (no channel): ``0.9 x``, BCR 1 / (H + W), every size accepted."""

    kind = "test"

    def __init__(self):
        super().__init__("darken")
        self.batches: list[tuple[int, ...]] = []

    def transmit(self, images, channel, snr_db, *, generator=None):
        self.batches.append(tuple(images.shape))
        return Transmission(images * 0.9)

    def bcr(self, height, width):
        return Fraction(1, height + width)


def _images(sizes) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return [torch.rand(3, h, w, generator=g) for h, w in sizes]


def _mixed_folder(tmp_path) -> tuple[str, list[torch.Tensor]]:
    """folder:PATH with train/ and test/; the test images (8-bit, as read back) of the MIXED sizes, in name order."""
    root = tmp_path / "mixed"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    save_image(torch.rand(3, 40, 40), root / "train" / "a.png")
    images = [(im * 255).round() / 255 for im in _images(MIXED)]
    for i, image in enumerate(images):
        save_image(image, root / "test" / f"{i}.png")
    return f"folder:{root}", images


def test_equal_size_images_as_a_list_give_the_records_of_the_stacked_tensor(tiny_model):
    """Same numbers, channel seeding per batch included (5 images in batches of 2: three seeds)."""
    scheme = build_scheme(str(tiny_model))
    images = torch.rand(5, 3, 32, 32)
    stacked = evaluate(scheme, images, AWGN(), [0, 7], metrics=["psnr", "ssim"], batch_size=2)
    listed = evaluate(scheme, list(images), AWGN(), [0, 7], metrics=["psnr", "ssim"], batch_size=2)
    assert stacked == listed
    assert all(r.size == 32 and r.sizes == "" and r.bcr == "1/48" for r in listed)
    other = evaluate(scheme, list(images), AWGN(), [0, 7], metrics=["psnr", "ssim"], batch_size=5)
    assert [r.mean for r in other] != [r.mean for r in listed]  # the batching is what the seeding follows


def test_batches_group_by_size_and_cap_the_pixels(monkeypatch):
    import genjscc.evaluation.evaluate as ev

    plan = plan_batches(_images(MIXED + [(48, 40)]), batch_size=2)
    assert plan.batches == ((0, 2), (4,), (1,), (3,))
    monkeypatch.setattr(ev, "MAX_BATCH_PIXELS", 48 * 40 * 2 - 1)  # two 48x40 images no longer fit one batch
    assert ev.plan_batches(_images(MIXED + [(48, 40)]), batch_size=8).batches == ((0,), (2,), (4,), (1,), (3,))


def test_mixed_sizes_average_every_image_alike():
    scheme = Darken()
    images = _images(MIXED)
    records = evaluate(scheme, images, AWGN(), [5], metrics=["psnr", "ms-ssim-db"], batch_size=8, note=print)
    assert sorted(scheme.batches) == sorted([(2, 3, 48, 40), (1, 3, 33, 71), (1, 3, 27, 30)])
    by_metric = {r.metric: r for r in records}
    direct = torch.cat([psnr(im.unsqueeze(0) * 0.9, im.unsqueeze(0)) for im in images]).double()
    assert by_metric["psnr"].mean == pytest.approx(direct.mean().item(), abs=1e-9)
    assert by_metric["psnr"].n == 4 and by_metric["psnr"].ci95 > 0
    db = torch.cat([ms_ssim_db(im.unsqueeze(0) * 0.9, im.unsqueeze(0)) for im in images]).double()
    assert by_metric["ms-ssim-db"].mean == pytest.approx(db.mean().item(), abs=1e-6)
    r = by_metric["psnr"]
    assert r.size == "native" and r.sizes == "40x48:2,71x33:1,30x27:1"
    assert read_sizes(r.sizes) == [(48, 40), (48, 40), (33, 71), (27, 30)]
    mean_bcr = sum(Fraction(1, h + w) for h, w in MIXED) / len(MIXED)
    assert r.bcr == f"{float(mean_bcr):.4g}"


def test_an_image_too_small_for_ms_ssim_leaves_it_out_for_all_with_a_note():
    notes = []
    records = evaluate(Darken(), _images([(48, 40), (20, 17)]), AWGN(), [0], metrics=["psnr", "ms-ssim", "ms-ssim-db"],
                       note=notes.append)
    assert [r.metric for r in records] == ["psnr"] and len(records) == 1
    assert notes == ["ms-ssim, ms-ssim-db left out: 17x20 images are too small for any multi-scale setting"]


def test_ms_ssim_db_is_minus_ten_log10_of_one_minus_ms_ssim():
    x = torch.rand(2, 3, 64, 64)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    expected = -10 * torch.log10(1 - ms_ssim(y, x).double())
    assert torch.allclose(ms_ssim_db(y, x).double(), expected, atol=1e-4)
    assert ms_ssim_db(x, x).tolist() == pytest.approx([100.0, 100.0])  # identical images: the 100 dB floor


def test_evaluate_native_on_a_folder_of_mixed_sizes(tiny_model, tmp_path):
    """The CLI's means are over every image, each sent as the documented batches send it, and the records carry
    the sizes and the effective BCR k/(3HW) of the padded latent (C = 8, f = 8)."""
    data, images = _mixed_folder(tmp_path)
    out = tmp_path / "native.csv"
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--data", data, "--size", "native", "--snr", "3",
                                 "--metrics", "psnr,ssim", "--batch-size", "1", "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)["results"]}
    model = build_scheme(str(tiny_model)).model
    order = [0, 2, 1, 3]  # grouped by size, first appearance first; one image a batch
    direct = {}
    for sent_before, i in enumerate(order):
        g = torch.Generator().manual_seed(_noise_seed(0, 3.0, sent_before))
        with torch.inference_mode():
            y = model(images[i].unsqueeze(0), AWGN(), 3.0, generator=g).clamp(0, 1)
        direct[i] = psnr(y, images[i].unsqueeze(0)).item()
        assert y.shape[-2:] == images[i].shape[-2:]
    assert rows["psnr"]["mean"] == pytest.approx(sum(direct.values()) / 4, abs=1e-5)
    assert rows["psnr"]["n"] == 4 and rows["psnr"]["size"] == "native"
    assert rows["psnr"]["sizes"] == "40x48:2,71x33:1,30x27:1"
    k_over_n = [Fraction(8 * math.ceil(h / 8) * math.ceil(w / 8), 2 * 3 * h * w) for h, w in MIXED]
    assert rows["psnr"]["bcr"] == f"{float(sum(k_over_n) / 4):.4g}" != "1/48"
    (back,) = [r for r in read_records(out) if r.metric == "psnr"]  # the CSV reads back as written
    assert (back.size, back.sizes, back.bcr, back.n) == ("native", rows["psnr"]["sizes"], rows["psnr"]["bcr"], 4)


def test_records_of_native_runs_read_back_and_stay_apart_from_crops(tmp_path):
    native = Record("deepjscc", "m", "photos", "native", "0.08434", "awgn", 0.0, "psnr", 25.5, 3.4, 3,
                    sizes="451x300:1,600x400:1,640x427:1")
    crops = Record("deepjscc", "m", "photos", 64, "1/12", "awgn", 0.0, "psnr", 24.0, 0.5, 93)
    for suffix in (".csv", ".json"):
        write_records([native, crops], tmp_path / f"r{suffix}")
        assert read_records(tmp_path / f"r{suffix}") == [native, crops]
    table = records_markdown([native, crops])
    assert "m (size native, sizes 451x300:1,600x400:1,640x427:1, n 3)" in table and "m (size 64, n 93)" in table
    old = tmp_path / "old.csv"  # written before size could be native and before sizes existed
    old.write_text("scheme,model,data,size,bcr,channel,snr_db,metric,mean,ci95,n,weights,options,seed\n"
                   "deepjscc,a,photos,64,1/12,awgn,-5.0,psnr,22.4,0.5,93,,,0\n")
    (r,) = read_records(old)
    assert (r.size, r.sizes) == (64, "")


def test_fixed_size_schemes_refuse_native_before_any_work(tmp_path, tiny_model, tiny_prior, monkeypatch):
    """GenerativeJSCC and InverseJSCC take only their prior's 16x16: one line naming it, exit 2, nothing sent."""
    from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
    from genjscc.utils.weights import save_weights

    from support import TINY_PRIOR_CONFIG

    model = GenerativeJSCC(GenerativeJSCCConfig(channels=8, generator=TINY_PRIOR_CONFIG, downsample=4, width=32,
                                                blocks=1, inject_resolution=16))
    generative = save_weights(tmp_path / "gen.safetensors", model.state_dict(),
                              {"kind": "generative", "config": model.config.to_dict()})
    import genjscc.evaluation.evaluate as ev

    sent = []
    monkeypatch.setattr(ev, "transmit_checked", lambda *a, **k: sent.append(a) or pytest.fail("sent"))
    data, _ = _mixed_folder(tmp_path)
    inverse = ["inverse", "--set", f"jscc={tiny_model}", "--set", f"prior={tiny_prior}", "--set", "steps=2"]
    for args, words in (([str(generative)], "decodes 16x16 images"), (inverse, "use --size 16")):
        result = runner.invoke(app, ["evaluate", *args, "--data", data, "--size", "native", "--snr", "0"])
        assert result.exit_code == 2, result.output
        assert "cannot send whole images at their own size" in result.output and words in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert sent == []


def test_sweep_with_size_native(tiny_model, tmp_path):
    data, _ = _mixed_folder(tmp_path)
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"schemes": [str(tiny_model)], "snr": [0, 5], "data": data, "size": "native",
                                      "metrics": ["psnr"]}))
    store = tmp_path / "store.jsonl"
    result = runner.invoke(app, ["sweep", str(config), "--store", str(store), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "s.csv")
    assert len(records) == 2 and all(r.size == "native" and r.n == 4 for r in records)
    assert all(r.sizes == "40x48:2,71x33:1,30x27:1" for r in records)
    direct = runner.invoke(app, ["evaluate", str(tiny_model), "--data", data, "--size", "native", "--snr", "0,5",
                                 "--metrics", "psnr", "--batch-size", "128", "--format", "csv"])
    assert [r.mean for r in records] == [float(line.split(",")[8]) for line in direct.stdout.splitlines()[1:]]
    assert all(json.loads(json.loads(line)["key"])["size"] == "native" for line in store.read_text().splitlines())
    config.write_text(yaml.safe_dump({"schemes": [str(tiny_model)], "size": "nat"}))
    result = runner.invoke(app, ["sweep", str(config), "--store", str(store)])
    assert result.exit_code == 2 and "size must be a side in pixels" in result.output and "or native" in result.output
