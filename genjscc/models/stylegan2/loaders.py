"""Load StyleGAN2 generators from the project's safetensors, rosinality ``.pt`` and NVlabs ``.pkl`` files.

NVlabs pickles (stylegan2-ada-pytorch, and the StyleGAN2 networks of stylegan3) store each network as
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` carries the class's
*source code* and the object's state. Unpickling them normally imports and runs that code. Here a
restricted unpickler resolves only an allow-list of globals: the persistent-object constructor is
replaced by a stub that keeps the state (the source is never executed), tensors are rebuilt from
their storages with ``torch.load(weights_only=True)``, and any other global (``os.system``,
``builtins.eval``, ...) raises :class:`UnsafePickleError` naming the file.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genjscc.models.stylegan2.networks import Generator, GeneratorConfig, fir_filter

__all__ = [
    "load_stylegan2",
    "read_nvlabs_pickle",
    "nvlabs_generator_state",
    "rosinality_to_nvlabs",
    "UnsafePickleError",
    "StyleGAN2FormatError",
]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something other than tensors and plain state: refused, nothing run."""


class StyleGAN2FormatError(ValueError):
    """The file is readable but is not a StyleGAN2 generator we can load."""


# ----------------------------------------------------------------------------- NVlabs pickles


class PersistentStub:
    """Stands in for an NVlabs persistent class instance; ``state`` is its ``__dict__`` (its code is never run)."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
            raise UnsafePickleError("persistent object without a state dictionary")
        self.class_name = str(meta.get("class_name", "?"))
        self.state = meta["state"]

    def __repr__(self) -> str:
        return f"PersistentStub({self.class_name})"


class _PlainDict(dict):
    """Stands in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""


def _storage_from_bytes(data: bytes):
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's weights-only unpickler refused the storage bytes
        raise UnsafePickleError(f"tensor storage refused by torch.load(weights_only=True): {exc}") from None


def _rebuild_parameter(data, requires_grad, backward_hooks, *state):
    return torch.nn.Parameter(data, requires_grad=False)


def _reconstructor(cls, base, state):
    if cls is not _PlainDict or base is not dict:
        raise UnsafePickleError(f"copyreg._reconstructor for {cls!r}")
    return _PlainDict(state or {})


_NUMERIC_KINDS = "biufc?"


def _numpy_dtype(spec, align=False, copy=False):
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS:
        raise UnsafePickleError(f"numpy dtype {spec!r} is not numeric")
    return np.dtype(spec, align, copy)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise UnsafePickleError("numpy scalar of a non-numeric dtype")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_reconstruct(subtype, shape, dtype_code):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"numpy array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


_SAFE_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentStub,
    ("dnnlib.util", "EasyDict"): _PlainDict,
    ("dnnlib", "EasyDict"): _PlainDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    # NVlabs layers keep gains as numpy scalars in their state (read, then ignored)
    **{(mod, "scalar"): _numpy_scalar for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "_reconstruct"): _numpy_reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.path}: refused: the pickle asks for {module}.{name}, which could run code; "
                "only StyleGAN2 tensors and plain state are read from NVlabs pickles"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.path}: refused: unexpected persistent id {pid!r}")


def read_nvlabs_pickle(path: str | Path) -> dict:
    """Unpickle an NVlabs network pickle safely: ``{"G_ema": PersistentStub, ...}``."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            data = _RestrictedUnpickler(fh, path).load()
        except UnsafePickleError as exc:
            if str(path) in str(exc):
                raise
            raise UnsafePickleError(f"{path}: refused: {exc}") from None
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
            raise StyleGAN2FormatError(f"{path} is not a readable NVlabs network pickle: {exc}") from None
    if not isinstance(data, dict):
        raise StyleGAN2FormatError(f"{path}: expected a dict of networks, found {type(data).__name__}")
    return data


def _collect_state(stub: PersistentStub, prefix: str, out: dict[str, Tensor]) -> None:
    state = stub.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is not None and name not in non_persistent:
                out[prefix + name] = tensor.detach() if isinstance(tensor, Tensor) else tensor
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentStub):
            _collect_state(child, f"{prefix}{name}.", out)
        elif child is not None:
            raise StyleGAN2FormatError(f"unexpected sub-module {prefix}{name} of type {type(child).__name__}")


def nvlabs_generator_state(data: dict, path: Path | str = "?", key: str = "G_ema") -> tuple[GeneratorConfig, dict]:
    """(config, state_dict in our names) of the generator ``key`` in an unpickled NVlabs file."""
    stub = data.get(key) or data.get("G")
    if not isinstance(stub, PersistentStub):
        raise StyleGAN2FormatError(f"{path}: no generator ({key!r}) in the pickle; keys: {sorted(data)}")
    kwargs = dict(stub.state.get("_init_kwargs") or {})
    args = tuple(stub.state.get("_init_args") or ())
    for name, value in zip(("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"), args):
        kwargs.setdefault(name, value)
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    synthesis = dict(kwargs.get("synthesis_kwargs") or {})
    if kwargs.get("c_dim", 0):
        raise StyleGAN2FormatError(f"{path}: class-conditional generators (c_dim={kwargs['c_dim']}) are not supported")
    if synthesis.get("architecture", "skip") != "skip":
        raise StyleGAN2FormatError(f"{path}: synthesis architecture {synthesis['architecture']!r}; only 'skip' (StyleGAN2 default) is supported")
    state: dict[str, Tensor] = {}
    _collect_state(stub, "", state)
    if any(k.startswith("synthesis.input.") for k in state) or "synthesis.L0_36_512.weight" in state:
        raise StyleGAN2FormatError(f"{path}: this is a StyleGAN3 generator; only StyleGAN2 is supported")
    if mapping.get("embed_features") not in (None, 0) or mapping.get("layer_features") not in (None, kwargs.get("w_dim")):
        raise StyleGAN2FormatError(f"{path}: mapping network with embed/layer features other than w_dim is not supported")
    num_layers = mapping.get("num_layers", 8)
    config = GeneratorConfig(
        img_resolution=int(kwargs["img_resolution"]),
        z_dim=int(kwargs["z_dim"]),
        w_dim=int(kwargs["w_dim"]),
        img_channels=int(kwargs.get("img_channels", 3)),
        mapping_layers=int(num_layers),
        mapping_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
        channel_base=int(synthesis.get("channel_base", 32768)),
        channel_max=int(synthesis.get("channel_max", 512)),
        conv_clamp=None if synthesis.get("conv_clamp") is None else float(synthesis["conv_clamp"]),
        w_avg_beta=float(mapping.get("w_avg_beta", 0.995) or 0.995),
    )
    return config, state


# ----------------------------------------------------------------------------- rosinality


def rosinality_to_nvlabs(sd: dict[str, Tensor], latent_avg: Tensor | None = None) -> tuple[GeneratorConfig, dict]:
    """Map a rosinality/stylegan2-pytorch ``g_ema`` state dict to (config, our state dict)."""
    n_up = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
    resolution = 2 ** (n_up + 2)
    n_mlp = len({k.split(".")[1] for k in sd if k.startswith("style.") and k.endswith(".weight")})
    w_dim = sd["style.1.weight"].shape[0]
    out: dict[str, Tensor] = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"]
    out["mapping.w_avg"] = latent_avg.reshape(-1) if latent_avg is not None else torch.zeros(w_dim)

    def conv(src: str, dst: str, noise_key: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"].squeeze(0)
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape([])
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = sd[noise_key].reshape(sd[noise_key].shape[-2:])

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"].squeeze(0)
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)

    out["synthesis.b4.const"] = sd["input.input"].squeeze(0)
    conv("conv1", "synthesis.b4.conv1", "noises.noise_0")
    torgb("to_rgb1", "synthesis.b4.torgb")
    channels = {4: sd["input.input"].shape[1]}
    for i in range(n_up):
        res = 2 ** (i + 3)
        conv(f"convs.{2 * i}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * i + 1}")
        conv(f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * i + 2}")
        torgb(f"to_rgbs.{i}", f"synthesis.b{res}.torgb")
        channels[res] = sd[f"convs.{2 * i}.conv.weight"].shape[1]
    channel_max = max(channels.values())
    channel_base = channels[resolution] * resolution
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise StyleGAN2FormatError(f"channel widths {channels} do not follow min(base // res, max)")
    config = GeneratorConfig(img_resolution=resolution, z_dim=w_dim, w_dim=w_dim, mapping_layers=n_mlp,
                             mapping_lr_multiplier=0.01, channel_base=channel_base, channel_max=channel_max)
    return config, out


# ----------------------------------------------------------------------------- entry point


def _build(config: GeneratorConfig, state: dict[str, Tensor], path: Path, estimate_w_avg: bool = False) -> Generator:
    G = Generator(config)
    expected = G.state_dict()
    for key, value in list(state.items()):
        if key.endswith("resample_filter"):
            if not torch.allclose(value.float(), fir_filter(), atol=1e-6):
                raise StyleGAN2FormatError(f"{path}: {key} is not the [1, 3, 3, 1] filter this implementation uses")
            state[key] = expected[key]
    for key in expected:  # fixed filters are not stored by every format
        if key.endswith("resample_filter"):
            state.setdefault(key, expected[key])
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise StyleGAN2FormatError(f"{path}: parameters do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise StyleGAN2FormatError(f"{path}: {key} has shape {list(value.shape)}, expected {list(expected[key].shape)}")
    G.load_state_dict({k: v.float() for k, v in state.items()})
    if estimate_w_avg:
        with torch.no_grad():
            G.mapping.w_avg.copy_(G.mapping(torch.randn(10_000, config.z_dim, generator=torch.Generator().manual_seed(0)))[:, 0].mean(0))
    return G.eval().requires_grad_(False)


def _is_pickle_not_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
    return not head.startswith(b"PK")


def load_generator_state(path: str | Path) -> tuple[GeneratorConfig, dict[str, Tensor], dict]:
    """(config, state dict in our names, metadata) from any supported file; nothing is executed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no StyleGAN2 file at {path}")
    if path.suffix == ".safetensors":
        from genjscc.utils.weights import load_weights

        state, meta = load_weights(path, kind="stylegan2")
        try:
            return GeneratorConfig(**meta["config"]), state, meta
        except (KeyError, TypeError, ValueError) as exc:
            raise StyleGAN2FormatError(f"{path}: bad StyleGAN2 config in its metadata ({type(exc).__name__}: {exc})") from None
    if path.suffix == ".pkl" or _is_pickle_not_zip(path):
        config, state = nvlabs_generator_state(read_nvlabs_pickle(path), path)
        return config, state, {"source": "nvlabs-pkl"}
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafePickleError(f"{path}: refused by torch.load(weights_only=True): {exc}") from None
    sd = ckpt.get("g_ema", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or "style.1.weight" not in sd:
        raise StyleGAN2FormatError(f"{path}: not a rosinality StyleGAN2 checkpoint (no g_ema / style.1.weight)")
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt, dict) else None
    config, state = rosinality_to_nvlabs(sd, latent_avg)
    return config, state, {"source": "rosinality-pt", "w_avg_estimated": latent_avg is None}


def load_stylegan2(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """A generator (eval mode, fp32, no grad) from ``.safetensors``, rosinality ``.pt`` or NVlabs ``.pkl``.

    ``path`` is a file path; zoo names (``stylegan2-photos64``) are resolved by the caller
    with :func:`genjscc.zoo.resolve_model`.
    """
    path = Path(path)
    config, state, meta = load_generator_state(path)
    G = _build(config, state, path, estimate_w_avg=bool(meta.get("w_avg_estimated")))
    return G.to(device)
