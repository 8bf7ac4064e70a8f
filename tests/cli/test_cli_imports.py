"""``genjscc --help`` and the help of its commands stay fast: no torch (nor Lightning, NumPy, PIL,
matplotlib) is imported until a command runs.

Each check runs in a fresh interpreter (this test process has torch loaded already) and
reports back the help text and which heavy modules ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "numpy", "PIL", "matplotlib", "scipy", "torchmetrics")

COMMANDS = [
    "transmit", "evaluate", "zoo", "demo", "fid", "plot", "grid", "sweep", "sample", "convert-stylegan2", "train", "app", "fetch-photos",
]
TRAINING_COMMANDS = ["deepjscc", "stylegan2", "generative"]

# Runs ARGS through the Typer app (CliRunner) and prints exit code, output and the heavy modules loaded.
PROBE = """
import json, sys
from typer.testing import CliRunner
from genjscc.cli import app
result = CliRunner().invoke(app, ARGS)
loaded = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({"exit": result.exit_code, "output": result.output, "loaded": loaded}))
"""

# The console script's own entry point (genjscc.cli:main), as `genjscc ARGS` runs it.
MAIN_PROBE = """
import json, sys
sys.argv = ["genjscc"] + ARGS
from genjscc.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted(m for m in HEAVY if m in sys.modules)
print("\\n" + json.dumps({"exit": code, "loaded": loaded}))
"""


def probe(args: list[str], script: str = PROBE) -> dict:
    code = f"ARGS = {args!r}\nHEAVY = {HEAVY!r}\n" + script
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["stdout"] = proc.stdout
    return report


def test_top_level_help_lists_commands_without_torch():
    report = probe(["--help"])
    assert report["exit"] == 0, report["output"]
    for name in COMMANDS:
        assert name in report["output"], f"{name} missing from genjscc --help"
    assert report["loaded"] == [], f"genjscc --help imported {report['loaded']}"


def test_console_script_help_without_torch():
    report = probe(["--help"], MAIN_PROBE)
    assert report["exit"] == 0
    assert "transmit" in report["stdout"] and "train" in report["stdout"]
    assert report["loaded"] == [], f"genjscc --help imported {report['loaded']}"


def test_train_help_lists_trainers_without_torch():
    report = probe(["train", "--help"])
    assert report["exit"] == 0, report["output"]
    for name in TRAINING_COMMANDS:
        assert name in report["output"]
    assert "Train a StyleGAN2" in report["output"]
    assert report["loaded"] == [], f"genjscc train --help imported {report['loaded']}"


@pytest.mark.parametrize(
    "args",
    [["zoo", "--help"], ["zoo", "list", "--help"]]
    + [[name, "--help"] for name in COMMANDS if name not in ("zoo", "train")],
    ids=lambda args: " ".join(args),
)
def test_command_help_without_torch(args):
    report = probe(args)
    assert report["exit"] == 0, report["output"]
    assert "Usage:" in report["output"] and "--help" in report["output"]
    assert report["loaded"] == [], f"genjscc {' '.join(args)} imported {report['loaded']}"


def test_mistyped_training_command_is_suggested_without_torch():
    report = probe(["train", "deepjsc"])
    assert report["exit"] == 2
    assert "No such command 'deepjsc'. Did you mean 'deepjscc'?" in report["output"]
    assert report["loaded"] == []


@pytest.mark.parametrize("name", TRAINING_COMMANDS)
def test_training_command_help_shows_its_options(name):
    """The options of a training command come from its argument dataclass (genjscc.train.args, which
    imports the models only when arguments are checked): its help needs no torch either."""
    report = probe(["train", name, "--help"])
    assert report["exit"] == 0, report["output"]
    for flag in ("--steps", "--batch-size", "--out", "--resume", "--data", "--compile"):
        assert flag in report["output"]
    assert report["loaded"] == []


# A one-image transmit through the console script: report which genjscc modules (and torchmetrics)
# it imported. Sending with a DeepJSCC needs the channel, the DeepJSCC network, its scheme and PSNR.
TRANSMIT_PROBE = """
import json, sys
sys.argv = ["genjscc"] + ARGS
from genjscc.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
mods = sorted(m for m in sys.modules if m.startswith("genjscc") or m == "torchmetrics")
print("\\n" + json.dumps({"exit": 0, "loaded": mods}))
"""

# What sending with DeepJSCC must not import: the prior and the ILO solver (inverse, generative
# schemes), the codecs (separation), dataset specs, training code, and torchmetrics (SSIM/MS-SSIM).
NOT_RUN_BY_DEEPJSCC = ("genjscc.models.stylegan2", "genjscc.models.generative_jscc", "genjscc.inversion",
                       "genjscc.schemes.consistency", "genjscc.separation", "genjscc.data", "genjscc.train.common",
                       "genjscc.train.losses", "torchmetrics")


def test_one_image_transmit_imports_only_what_it_runs(tmp_path):
    from genjscc.data import load_dataset, save_image

    image = tmp_path / "one.png"
    save_image(load_dataset("photos", "test", 64, limit=1)[0], image)
    report = probe(["transmit", "deepjscc-64-bcr1_48", str(image), "-o", str(tmp_path / "out.png"), "--snr", "0"],
                   TRANSMIT_PROBE)
    assert (tmp_path / "out.png").is_file()
    loaded = report["loaded"]
    assert "genjscc.models.deepjscc" in loaded and "genjscc.schemes.network" in loaded
    unexpected = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in NOT_RUN_BY_DEEPJSCC)]
    assert unexpected == [], f"a DeepJSCC transmit imported {unexpected}"
