"""Loaders: an official-layout NVlabs pickle built here, rosinality layout, our safetensors, malicious pickles."""

import collections
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from genjscc.models.stylegan2 import Generator
from genjscc.models.stylegan2.loaders import StyleGAN2FormatError, UnsafePickleError, load_stylegan2
from genjscc.utils.weights import save_weights

CONFIG = dict(img_resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
              mapping_lr_multiplier=0.01, conv_clamp=256.0)
NVLABS_NAMES = {  # our class -> the NVlabs class it stands for
    "Generator": "Generator", "MappingNetwork": "MappingNetwork", "SynthesisNetwork": "SynthesisNetwork",
    "SynthesisBlock": "SynthesisBlock", "SynthesisLayer": "SynthesisLayer", "ToRGBLayer": "ToRGBLayer",
    "FullyConnectedLayer": "FullyConnectedLayer",
}


def random_generator() -> Generator:
    G = Generator(**CONFIG).eval()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.2 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G


@pytest.fixture
def fake_nvlabs_modules(monkeypatch, tmp_path):
    """Importable ``torch_utils.persistence`` and ``dnnlib.util`` so the test can write official-layout pickles.

    Their reconstructor does what NVlabs' does in spirit: it runs the pickled source, here a
    payload that leaves a marker file, so the test can tell whether anything was executed.
    """
    marker = tmp_path / "EXECUTED"
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        exec(meta["module_src"], {})
        return meta

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util", "__qualname__": "EasyDict"})
    util.EasyDict = EasyDict
    for name, mod in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                      "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict, marker=marker)


class _Persistent:
    """Pickles like an NVlabs ``@persistent_class`` instance: reconstructor(meta with source + state)."""

    def __init__(self, module: torch.nn.Module, fake, init_kwargs=None):
        self.module, self.fake, self.init_kwargs = module, fake, init_kwargs or {}

    def __reduce__(self):
        m = self.module
        state = {
            "training": False,
            "_parameters": collections.OrderedDict((k, v) for k, v in m._parameters.items()),
            "_buffers": collections.OrderedDict(m._buffers),
            "_non_persistent_buffers_set": set(),
            "_modules": collections.OrderedDict((k, _Persistent(v, self.fake)) for k, v in m._modules.items()),
            "_init_args": (),
            "_init_kwargs": self.init_kwargs,
            "weight_gain": np.float64(0.5),  # NVlabs layers keep numpy gains in their state
            "some_array": np.arange(3, dtype=np.float32),
        }
        meta = {"type": "class", "version": 4, "class_name": NVLABS_NAMES.get(type(m).__name__, type(m).__name__),
                "module_src": f"open({str(self.fake.marker)!r}, 'w').write('pwned')", "state": state}
        return (self.fake.reconstruct, (meta,))


def write_official_pickle(path, G: Generator, fake):
    c = G.config
    kwargs = {"z_dim": c.z_dim, "c_dim": 0, "w_dim": c.w_dim, "img_resolution": c.img_resolution, "img_channels": 3,
              "mapping_kwargs": fake.EasyDict(num_layers=c.mapping_layers),
              "synthesis_kwargs": fake.EasyDict(channel_base=c.channel_base, channel_max=c.channel_max,
                                                num_fp16_res=0, conv_clamp=256, architecture="skip")}
    data = {"G": _Persistent(G, fake, kwargs), "D": None, "G_ema": _Persistent(G, fake, kwargs),
            "augment_pipe": None, "training_set_kwargs": fake.EasyDict(resolution=16)}
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=3)


def test_official_layout_pickle_loads_without_running_its_code(tmp_path, fake_nvlabs_modules):
    G = random_generator()
    path = tmp_path / "network-snapshot.pkl"
    write_official_pickle(path, G, fake_nvlabs_modules)
    loaded = load_stylegan2(path)
    assert not fake_nvlabs_modules.marker.exists()
    assert loaded.config.conv_clamp == 256 and loaded.config.mapping_layers == 2
    z = torch.randn(3, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, truncation_psi=0.7), G(z, truncation_psi=0.7), atol=0, rtol=0)
    # the check above is meaningful: plain pickle.load of the same file runs the payload
    with open(path, "rb") as fh:
        pickle.load(fh)
    assert fake_nvlabs_modules.marker.exists()


class _SystemCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


@pytest.mark.parametrize("payload", [_SystemCall, _Eval])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload(marker)}))
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        load_stylegan2(path)
    assert not marker.exists()


def test_malicious_payload_inside_tensor_storage_is_refused(tmp_path):
    # the storage bytes are themselves a pickle: they go through torch.load(weights_only=True)
    marker = tmp_path / "PWNED"
    inner = pickle.dumps(_SystemCall(marker), protocol=2)
    # hand-written: torch.storage._load_from_bytes(inner)
    evil = b"\x80\x03ctorch.storage\n_load_from_bytes\nq\x00C" + bytes([len(inner)]) + inner + b"\x85R."
    path = tmp_path / "evil_storage.pkl"
    path.write_bytes(evil)
    with pytest.raises(UnsafePickleError, match="evil_storage.pkl"):
        load_stylegan2(path)
    assert not marker.exists()


def nvlabs_to_rosinality(G: Generator) -> dict:
    sd = G.state_dict()
    out = {}
    for i in range(G.config.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]
    names = [("conv1", "synthesis.b4.conv1", 0)]
    rgbs = [("to_rgb1", "synthesis.b4.torgb")]
    for i, res in enumerate([8, 16]):
        names += [(f"convs.{2 * i}", f"synthesis.b{res}.conv0", 2 * i + 1), (f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", 2 * i + 2)]
        rgbs.append((f"to_rgbs.{i}", f"synthesis.b{res}.torgb"))
    for src, dst, n in names:
        out[f"{src}.conv.weight"] = sd[f"{dst}.weight"][None]
        out[f"{src}.conv.modulation.weight"] = sd[f"{dst}.affine.weight"]
        out[f"{src}.conv.modulation.bias"] = sd[f"{dst}.affine.bias"]
        out[f"{src}.noise.weight"] = sd[f"{dst}.noise_strength"].reshape(1)
        out[f"{src}.activate.bias"] = sd[f"{dst}.bias"]
        out[f"noises.noise_{n}"] = sd[f"{dst}.noise_const"][None, None]
    for src, dst in rgbs:
        out[f"{src}.conv.weight"] = sd[f"{dst}.weight"][None]
        out[f"{src}.conv.modulation.weight"] = sd[f"{dst}.affine.weight"]
        out[f"{src}.conv.modulation.bias"] = sd[f"{dst}.affine.bias"]
        out[f"{src}.bias"] = sd[f"{dst}.bias"].reshape(1, 3, 1, 1)
    return out


def test_rosinality_checkpoint(tmp_path):
    G = Generator(**{**CONFIG, "conv_clamp": None, "z_dim": 32}).eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": nvlabs_to_rosinality(G), "latent_avg": G.w_avg.clone(), "args": {"size": 16}}, path)
    loaded = load_stylegan2(path)
    assert loaded.config.channel_base == 256 and loaded.config.channel_max == 32
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, truncation_psi=0.5), G(z, truncation_psi=0.5))


def test_safetensors_round_trip(tmp_path):
    G = random_generator()
    path = save_weights(tmp_path / "g.safetensors", G.state_dict(), {"kind": "stylegan2", "config": G.config.to_dict()})
    loaded = load_stylegan2(path)
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), G(z), atol=0, rtol=0)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_wrong_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_stylegan2(tmp_path / "missing.pkl")
    not_gan = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, not_gan)
    with pytest.raises(StyleGAN2FormatError, match="rosinality"):
        load_stylegan2(not_gan)
    plain = tmp_path / "list.pkl"
    plain.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(StyleGAN2FormatError):
        load_stylegan2(plain)


def test_convert_command_and_sample_from_official_layout(tmp_path, fake_nvlabs_modules):
    from typer.testing import CliRunner

    from genjscc.cli import app

    G = random_generator()
    pkl = tmp_path / "official.pkl"
    write_official_pickle(pkl, G, fake_nvlabs_modules)
    out = tmp_path / "converted.safetensors"
    result = CliRunner().invoke(app, ["convert-stylegan2", str(pkl), str(out)])
    assert result.exit_code == 0, result.output
    assert not fake_nvlabs_modules.marker.exists()
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_stylegan2(out)(z), G(z), atol=0, rtol=0)
    grid = tmp_path / "grid.png"
    result = CliRunner().invoke(app, ["sample", str(pkl), "-n", "4", "-o", str(grid)])
    assert result.exit_code == 0 and grid.exists()
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_SystemCall(tmp_path / "PWNED")))
    result = CliRunner().invoke(app, ["convert-stylegan2", str(evil), str(tmp_path / "x.safetensors")])
    assert result.exit_code == 2 and "refused" in result.output and not (tmp_path / "PWNED").exists()
