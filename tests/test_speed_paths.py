"""Speed paths that must not change results: the glibc allocator settings that the command line
applies (:mod:`genjscc.utils.allocator`; a library import leaves the process alone) and the
channels_last path of the paper DeepJSCC."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig



def _is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


IS_GLIBC = _is_glibc()

# Run in a fresh interpreter: import genjscc and its command line, apply the settings the way the
# console script does (or not: MODE), report what was applied, then time the page faults of the
# second of two 48 MiB malloc/memset/free cycles. Above glibc's largest dynamic mmap threshold
# (32 MiB) an untuned glibc maps fresh pages on every cycle (~12 k faults); tuned, the second cycle
# reuses the first one's pages.
_PROBE = """
import ctypes, json, resource, sys
import genjscc, genjscc.cli, genjscc.models.deepjscc, genjscc.schemes
from genjscc.utils.allocator import tune_allocator
applied = {}
if sys.argv[1] == "cli":
    genjscc.cli.app = lambda: None  # main() without a command: only its start-up
    genjscc.cli.main()
    applied = tune_allocator()  # what main() applied (re-applying the same values is harmless)
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
n = 48 << 20
def cycle():
    p = libc.malloc(n); ctypes.memset(p, 1, n); libc.free(p)
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
cycle()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "pages": n // resource.getpagesize()}))
"""


def _probe(opt_out: str | None, mode: str = "cli") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GENJSCC_NO_MALLOPT"}
    if opt_out is not None:
        env["GENJSCC_NO_MALLOPT"] = opt_out
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not IS_GLIBC, reason="mallopt is glibc only")
def test_allocator_settings_applied_by_the_command_line_and_reuse_pages():
    from genjscc.utils.allocator import MALLOPT_SETTINGS

    result = _probe(None, "cli")
    assert result["applied"] == {name: value for name, (_, value) in MALLOPT_SETTINGS.items()}
    assert result["faults"] < 0.1 * result["pages"]  # the freed 48 MiB block was kept and reused


@pytest.mark.skipif(not IS_GLIBC, reason="mallopt is glibc only")
@pytest.mark.parametrize("value", ["1", "yes"])
def test_allocator_opt_out(value):
    result = _probe(value)
    assert result["applied"] == {}
    assert result["faults"] > 0.9 * result["pages"]  # glibc's default: a fresh mmap every time


@pytest.mark.skipif(not IS_GLIBC, reason="mallopt is glibc only")
def test_importing_the_library_leaves_the_allocator_alone():
    result = _probe(None, "library")
    assert result["faults"] > 0.9 * result["pages"]  # glibc's default: the import changed nothing


def test_tune_allocator_reports_nothing_when_opted_out(monkeypatch):
    from genjscc.utils.allocator import tune_allocator

    monkeypatch.setenv("GENJSCC_NO_MALLOPT", "1")
    assert tune_allocator() == {}


@pytest.mark.parametrize("snr_adaptive", [False, True])
def test_paper_deepjscc_channels_last_matches_nchw(snr_adaptive):
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(8, 16, 16, 16), snr_adaptive=snr_adaptive)).eval()
    assert model.encoder.channels_last and model.decoder.channels_last  # the default path
    for p in model.parameters():  # a random model, not the PReLU/AF initialisation only
        p.data.normal_(0, 0.2)
    x, snr = torch.rand(4, 3, 32, 32), torch.tensor([-5.0, 0.0, 5.0, 10.0])
    seen = []  # memory format reaching the first convolution on each path
    model.encoder.layers[0].register_forward_pre_hook(
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    outputs = {}
    for channels_last in (False, True):
        model.encoder.channels_last = model.decoder.channels_last = channels_last
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            symbols, shape = model.encode(x, snr)
            received = AWGN()(symbols, snr, generator=gen)
            outputs[channels_last] = (symbols, model.decode(received, shape, snr))
    assert outputs[True][1].is_contiguous()  # NCHW handed back to the caller
    torch.testing.assert_close(outputs[True][0], outputs[False][0], atol=1e-4, rtol=0)
    torch.testing.assert_close(outputs[True][1], outputs[False][1], atol=1e-4, rtol=0)
    assert seen == [False, True]


# -- the separation fallback image, cached on disk -------------------------------------------------


@pytest.fixture
def mean_cache(tmp_path, monkeypatch):
    import genjscc.data.mean_image as data

    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path / "cache"))
    data._mean_square.cache_clear()
    yield data
    data._mean_square.cache_clear()


def _fail(*_args, **_kwargs):
    raise AssertionError("the mean image was rebuilt instead of read from the cache")


def test_mean_image_cached_on_disk_equals_uncached(mean_cache, monkeypatch):
    data = mean_cache
    first = data.training_mean_image("photos", 16, 16)
    uncached = data.stack(data.load_dataset("photos", "train", 16, length=data.MEAN_IMAGE_CROPS)).mean(dim=0)
    torch.testing.assert_close(first, uncached, atol=0, rtol=0)
    files = list((data._cache_dir()).glob("mean-image-16-*.npy"))
    assert len(files) == 1
    # a new process: nothing in memory, the builder must not run
    data._mean_square.cache_clear()
    monkeypatch.setattr(data, "_build_mean_square", _fail)
    second = data.training_mean_image("photos", 16, 16)
    torch.testing.assert_close(second, uncached, atol=0, rtol=0)
    # another size is another key: it would have to be built
    data._mean_square.cache_clear()
    with pytest.raises(AssertionError, match="rebuilt"):
        data.training_mean_image("photos", 24, 24)


@pytest.mark.parametrize("damage", [b"", b"not an npy file", "truncate", "wrong shape"])
def test_corrupt_mean_image_cache_is_rebuilt(mean_cache, damage):
    import numpy as np

    data = mean_cache
    expected = data.training_mean_image("photos", 16, 16)
    (path,) = data._cache_dir().glob("mean-image-16-*.npy")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "wrong shape":
        np.save(path, np.zeros((3, 8, 8), np.float32))
    else:
        path.write_bytes(damage)
    data._mean_square.cache_clear()
    torch.testing.assert_close(data.training_mean_image("photos", 16, 16), expected, atol=0, rtol=0)
    data._mean_square.cache_clear()
    assert data._read_mean_cache(path, 16) is not None  # rewritten whole
    torch.testing.assert_close(data._read_mean_cache(path, 16), expected, atol=0, rtol=0)


def test_mean_image_key_follows_folder_contents(mean_cache, tmp_path):
    from PIL import Image

    data = mean_cache
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(folder / "a.png")
    before = data._mean_cache_file(f"folder:{folder}", 16)
    Image.new("RGB", (40, 32), (0, 255, 0)).save(folder / "a.png")
    assert data._mean_cache_file(f"folder:{folder}", 16) != before


def test_mean_image_builder_restores_threads(mean_cache):
    threads = torch.get_num_threads()
    mean_cache.training_mean_image("photos", 8, 8)
    assert torch.get_num_threads() == threads
