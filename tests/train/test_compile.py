"""``--compile`` / ``compile=true``: compiled and eager agree, and compile falls back to eager cleanly.

These compile real (tiny) networks with Inductor on the CPU, which needs the C++ compiler
that the CI machine has; each compile takes seconds.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from genjscc.channel import AWGN
from genjscc.utils.compile import compile_forward, eager_forward, is_compiled
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.schemes.base import parse_flag
from genjscc.train.args import DeepJSCCTrainArgs, StyleGAN2TrainArgs, TrainerOptions
from genjscc.train.deepjscc import train_deepjscc
from genjscc.train.stylegan2 import train_stylegan2


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        if x.shape[1] != 3:
            raise ValueError(f"_Net takes 3 channels, got {x.shape[1]}")
        return torch.nn.functional.leaky_relu(self.conv(x), 0.2).mean(dim=1)


def _tiny_deepjscc() -> DeepJSCC:
    torch.manual_seed(0)
    return DeepJSCC(DeepJSCCConfig(channels=8, downsample=4, width=16, blocks=1, arch="resgdn", snr_adaptive=True)).eval()


def test_compiled_forward_equals_eager_and_keeps_the_module():
    net = _Net()
    keys = list(net.state_dict())
    x = torch.rand(2, 3, 8, 8)
    expected = net(x)
    assert compile_forward(net, "net") is net and is_compiled(net)
    assert torch.allclose(net(x), expected, atol=1e-5)
    assert list(net.state_dict()) == keys  # no '_orig_mod.' prefixes: weights save and load as before
    assert torch.allclose(eager_forward(net)(x), expected)
    with pytest.raises(ValueError, match="3 channels"):  # the module's own error, as eager raises it
        net(torch.rand(2, 5, 8, 8))


def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch):
    def broken_compile(fn, **options):
        def run(*args, **kwargs):
            raise RuntimeError("InductorError: C++ compile error: cannot find gcc")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    net = _Net()
    x = torch.rand(2, 3, 8, 8)
    expected = net(x)
    compile_forward(net, "tiny net")
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed for tiny net .*cannot find gcc.*running it eagerly"):
        out = net(x)
    assert torch.equal(out, expected) and not is_compiled(net)
    assert torch.equal(net(x), expected)  # later calls stay eager, without another warning


def test_deepjscc_compiled_transmit_equals_eager():
    model = _tiny_deepjscc()
    x = torch.rand(3, 3, 16, 16)
    with torch.inference_mode():
        expected = model(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(1))
        model.compile_networks()
        got = model(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(1))
    assert is_compiled(model.encoder) and is_compiled(model.decoder)
    assert (got - expected).abs().max() < 1e-4


def test_scheme_compile_flag():
    assert parse_flag("true", "compile") is True and parse_flag(False, "compile") is False
    with pytest.raises(ValueError, match="compile takes true or false"):
        parse_flag("maybe", "compile")


def _options(steps: int, compile: bool) -> TrainerOptions:
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=100, log_every=100,
                          progress=False, compile=compile)


def test_deepjscc_training_with_compile_matches_eager(tmp_path):
    args = DeepJSCCTrainArgs(data="photos", size=16, bcr="1/12", filters="4,4,4,4", batch_size=4, snr="-5,10",
                             snr_adaptive=True)
    eager = load_file(train_deepjscc(args, tmp_path / "eager", _options(2, False)))
    compiled = load_file(train_deepjscc(args, tmp_path / "compiled", _options(2, True)))
    assert eager.keys() == compiled.keys()
    assert max((eager[k] - compiled[k]).abs().max().item() for k in eager) < 1e-4


def test_stylegan2_training_with_compile_matches_eager(tmp_path, monkeypatch):
    # Inductor draws its own random numbers unless told to use eager's: with them, the runs can agree
    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)
    args = StyleGAN2TrainArgs(size=16, batch_size=4, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64,
                              channel_max=16, sample_every=0, r1_every=2, pool=16)  # iteration 0 and 2 run R1 eagerly
    eager = load_file(train_stylegan2(args, tmp_path / "eager", _options(3, False)))
    compiled = load_file(train_stylegan2(args, tmp_path / "compiled", _options(3, True)))
    assert max((eager[k] - compiled[k]).abs().max().item() for k in eager) < 1e-4
