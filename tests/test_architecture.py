"""The shape the generative schemes build on: scheme registry with entry points, models that
load themselves, reusable GAN parts, one run lifecycle, options declared once."""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import textwrap
import tokenize
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from genjscc.channel import AWGN
from genjscc.cli import app
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.utils.weights import WeightsError, save_weights

runner = CliRunner()


# ----------------------------------------------------------------------------- schemes


@pytest.fixture
def third_party_scheme(tmp_path, monkeypatch):
    """An installed distribution that declares a scheme in the ``genjscc.schemes`` entry-point group."""
    (tmp_path / "halfgrey_scheme.py").write_text(textwrap.dedent('''
        import torch
        from genjscc.schemes.base import Scheme

        class HalfGrey(Scheme):
            kind = "halfgrey"

            def __init__(self, level):
                super().__init__(f"halfgrey-{level}")
                self.level = level

            def transmit(self, images, channel, snr_db, *, generator=None):
                return torch.full_like(images, self.level)

        def build(model, *, level: float = 0.5):
            return HalfGrey(float(level))
    '''))
    dist = tmp_path / "halfgrey_scheme-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: halfgrey-scheme\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[genjscc.schemes]\nhalfgrey = halfgrey_scheme:build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import genjscc.schemes.base as base

    monkeypatch.setattr(base, "_entry_points_loaded", False)
    yield
    base.SCHEMES.pop("halfgrey", None)
    sys.modules.pop("halfgrey_scheme", None)


def test_entry_point_scheme_reaches_build_and_evaluate(third_party_scheme):
    from genjscc.schemes import build_scheme

    scheme = build_scheme("halfgrey", level=0.25)
    assert scheme.transmit(torch.rand(1, 3, 8, 8), AWGN(), 0.0).unique().tolist() == [0.25]
    result = runner.invoke(app, ["evaluate", "halfgrey", "--set", "level=0.5", "--limit", "2", "--snr", "0",
                                 "--metrics", "psnr", "--format", "json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    assert record["scheme"] == "halfgrey" and record["model"] == "halfgrey-0.5" and record["n"] == 2


def test_unknown_scheme_and_option_are_clear_errors():
    result = runner.invoke(app, ["evaluate", "nosuchscheme", "--limit", "1"])
    assert result.exit_code == 2 and "no model 'nosuchscheme'" in result.output
    result = runner.invoke(app, ["evaluate", "separation", "--set", "codec=webp", "--set", "bcr=1/12",
                                 "--set", "colour=red", "--limit", "1"])
    assert result.exit_code == 2 and "no option colour" in result.output and "codec" in result.output
    result = runner.invoke(app, ["evaluate", "separation", "--set", "codec"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


# ----------------------------------------------------------------------------- models load themselves


def test_deepjscc_from_weights_checks_the_file(tmp_path):
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4)))
    path = save_weights(tmp_path / "m.safetensors", model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})
    loaded = DeepJSCC.from_weights(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert not loaded.training
    wrong = save_weights(tmp_path / "w.safetensors", model.state_dict(),
                         {"kind": "deepjscc", "config": {**model.config.to_dict(), "channels": 16}})
    with pytest.raises(WeightsError, match="w.safetensors.*do not match"):
        DeepJSCC.from_weights(wrong)
    other = save_weights(tmp_path / "g.safetensors", model.state_dict(), {"kind": "stylegan2", "config": {}})
    with pytest.raises(WeightsError, match="expected 'deepjscc'"):
        DeepJSCC.from_weights(other)


def test_stylegan2_loader_takes_paths_and_the_edges_resolve_zoo_names():
    from genjscc.models.stylegan2 import load_stylegan2
    from genjscc.zoo import resolve_model

    with pytest.raises(FileNotFoundError):
        load_stylegan2("stylegan2-photos64")  # a zoo name is not a path
    G = load_stylegan2(resolve_model("stylegan2-photos64"))
    assert G.img_resolution == 64


# ----------------------------------------------------------------------------- GAN parts


def test_fused_ema_equals_the_per_tensor_formula():
    from genjscc.train.ema import EMA, ema_beta

    torch.manual_seed(0)
    live, ema = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    expected = [p_e + 0.9 * 0 + (1 - 0.9) * (p - p_e) for p, p_e in zip(live.parameters(), ema.parameters())]
    EMA(live, ema).update(0.9)
    for got, want in zip(ema.parameters(), expected):
        assert torch.allclose(got, want.detach(), atol=1e-7)
    assert ema_beta(32, 10**9, 10_000) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(32, 1000, 10_000, rampup=0.05) == pytest.approx(0.5 ** (32 / 50))  # ramped half-life


def test_gan_losses_match_their_formulas():
    from genjscc.train.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty

    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    assert torch.isclose(d_logistic_loss(real, fake), sp(fake).mean() + sp(-real).mean())
    assert torch.isclose(g_nonsaturating_loss(fake), sp(-fake).mean())
    x = torch.randn(3, 4, requires_grad=True)
    logits = (x**2).sum(dim=1)  # gradient 2x per image
    assert torch.isclose(r1_penalty(logits, [x]), (4 * x.detach() ** 2).sum(dim=1).mean())


def test_diff_augment_module_equals_the_function_and_checks_its_policy():
    from genjscc.train.augment import DiffAugment, diff_augment

    x = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(3)
    a = DiffAugment("color,translation,cutout")(x)
    torch.manual_seed(3)
    b = diff_augment(x, "color,translation,cutout")
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(DiffAugment("")(x), x)
    with pytest.raises(ValueError, match="rotate"):
        DiffAugment("color,rotate")


# ----------------------------------------------------------------------------- options declared once


def test_training_flags_come_from_the_dataclasses():
    from genjscc.train.args import DeepJSCCTrainArgs, StyleGAN2TrainArgs, TrainerOptions

    for name, cls in (("deepjscc", DeepJSCCTrainArgs), ("stylegan2", StyleGAN2TrainArgs)):
        result = runner.invoke(app, ["train", name, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
        assert result.exit_code == 0
        for f in (*fields(cls), *fields(TrainerOptions)):
            assert "--" + f.name.replace("_", "-") in result.output, (name, f.name)
    result = runner.invoke(app, ["train", "deepjscc", "--steps", "0", "--out", "unused"])
    assert result.exit_code == 2 and "--steps must be >= 1" in result.output
    result = runner.invoke(app, ["train", "deepjscc", "--snr", "5,abc", "--out", "unused"])
    assert result.exit_code == 2 and "cannot read the SNR" in result.output


def test_run_lifecycle_counts_iterations_and_sessions(tmp_path):
    from genjscc.train.args import DeepJSCCTrainArgs, TrainerOptions
    from genjscc.train.deepjscc import train_deepjscc

    args = DeepJSCCTrainArgs(size=16, batch_size=4, filters="4,4,4,4", bcr="1/12", snr="0,10", snr_adaptive=True)
    options = TrainerOptions(steps=3, accelerator="cpu", devices="1", checkpoint_every=2, progress=False)
    path = train_deepjscc(args, tmp_path / "run", options)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["training"]["steps"] == 3 and meta["training"]["images_seen"] == 12
    options = TrainerOptions(steps=5, accelerator="cpu", devices="1", checkpoint_every=2, progress=False)
    train_deepjscc(args, tmp_path / "run", options, resume=True)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["iterations"] for s in record["sessions"]] == [3, 2]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["callbacks"]["RunControl"]["iterations"] == 5 and ckpt["global_step"] == 5
    assert not list((tmp_path / "run" / "checkpoints").glob("*.part"))


# ----------------------------------------------------------------------------- evaluate says what it leaves out


def test_evaluate_notes_a_metric_it_cannot_compute(tmp_path):
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4)))
    path = save_weights(tmp_path / "m.safetensors", model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})
    result = runner.invoke(app, ["evaluate", str(path), "--size", "8", "--limit", "2", "--snr", "0",
                                 "--metrics", "psnr,ms-ssim", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "note: ms-ssim left out: 8x8 images are too small" in result.output
    records = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    assert [r["metric"] for r in records] == ["psnr"]


# ----------------------------------------------------------------------------- the repository's own references

ROOT = Path(__file__).resolve().parents[1]
# a file name in prose: "facts.md", "``benchmarks/compile_speed.py``", "(see scheme.py)"
FILE_REFERENCE = re.compile(r"(?<![\w/.-])([\w./-]*\w\.(?:md|py|sh|toml|yaml|yml|cfg|txt))\b")
PLACEHOLDER = re.compile(r"(^|/)(?!README\.)[A-Z][A-Z0-9_]*(/|\.)")  # RUN/run.json, NAME.md, FILE.yaml: placeholders
WRITTEN_BY_GENJSCC = {"model.md"}  # the card an exported training run writes next to its weights


def repository_files() -> list[str]:
    """Paths of the repository's files, relative to its root (no virtual environments, runs or caches)."""
    top = [p.name for p in ROOT.iterdir() if p.is_file()]
    nested = [str(p.relative_to(ROOT)) for d in ("genjscc", "tests", "benchmarks", "examples", "results", ".ci")
              if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return top + nested


def docstrings_and_comments(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every comment and every module, class and function docstring."""
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                found.append((node.body[0].lineno, doc))
    return found


def dangling_references(source: str, files: list[str]) -> list[tuple[int, str]]:
    """File names a docstring or comment of ``source`` mentions that are no file of the repository.

    A bare name ("lpips_speed.py") counts when some file has it; a path ("benchmarks/README.md")
    when some file's path ends with it."""
    missing = []
    for line, text in docstrings_and_comments(source):
        for name in FILE_REFERENCE.findall(text):
            if PLACEHOLDER.search(name) or name in WRITTEN_BY_GENJSCC:
                continue
            if not any(f == name or f.endswith("/" + name) for f in files):
                missing.append((line, name))
    return missing


def test_reference_finder_catches_a_file_that_is_not_there():
    source = ('"""Conventions (facts.md §2); the fallback is the mean image (see ``scheme.py``)."""\n'
              "x = 1  # figures: benchmarks/README.md, compile_speed.py; weights in RUN/model.safetensors\n")
    files = ["benchmarks/README.md", "benchmarks/compile_speed.py", "genjscc/schemes/separation.py"]
    assert sorted(dangling_references(source, files)) == [(1, "facts.md"), (1, "scheme.py")]
    assert dangling_references("# see benchmarks/README.md\n", ["README.md"]) == [(1, "benchmarks/README.md")]


def test_library_docstrings_and_comments_name_only_files_of_the_repository():
    files = repository_files()
    missing = {f"{path.relative_to(ROOT)}:{line}: {name}" for path in sorted((ROOT / "genjscc").rglob("*.py"))
               for line, name in dangling_references(path.read_text(), files)}
    assert not missing, "docstrings/comments name files that are not in the repository: " + ", ".join(sorted(missing))


def test_every_benchmark_script_is_indexed_and_every_named_script_exists():
    index = (ROOT / "benchmarks" / "README.md").read_text()
    scripts = sorted(p.name for pattern in ("*.py", "*.sh") for p in (ROOT / "benchmarks").glob(pattern))
    assert len(scripts) > 30
    assert [s for s in scripts if f"`{s}" not in index] == [], "add these to benchmarks/README.md"
    named = set(re.findall(r"`([\w-]+\.(?:py|sh))[` ]", index))
    named |= set(re.findall(r"benchmarks/([\w-]+\.(?:py|sh))", (ROOT / "README.md").read_text()))
    assert sorted(n for n in named if not (ROOT / "benchmarks" / n).is_file()) == [], "scripts named but not there"
