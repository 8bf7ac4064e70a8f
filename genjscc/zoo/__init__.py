"""Shipped weights: one typed table (:data:`ZOO`) is the single source of truth.

Each entry names a file ``genjscc/zoo/<file>.safetensors`` with its ``.json`` config and
``.md`` model card beside it. Every command that takes a model accepts a zoo name or a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ZooEntry", "ZOO", "ZOO_DIR", "resolve_model"]

ZOO_DIR = Path(__file__).parent


@dataclass(frozen=True)
class ZooEntry:
    name: str  # what users type
    kind: str  # scheme kind that loads it ("deepjscc", "stylegan2", ...)
    description: str

    @property
    def path(self) -> Path:
        return ZOO_DIR / f"{self.name}.safetensors"


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry("deepjscc-bcr1_12", "deepjscc",
                 "DeepJSCC for whole photographs at any size: deepjscc-64-bcr1_12 fine-tuned on 128x128 native-scale "
                 "crops of the embedded + fetched photographs, BCR 1/12, AWGN -2..14 dB"),
        ZooEntry("deepjscc-bcr1_48", "deepjscc",
                 "DeepJSCC for whole photographs at any size: deepjscc-64-bcr1_48 fine-tuned on 128x128 native-scale "
                 "crops of the embedded + fetched photographs, BCR 1/48, AWGN -2..14 dB"),
        ZooEntry("deepjscc-64-bcr1_12", "deepjscc",
                 "DeepJSCC, residual-GDN backbone (SNR-adaptive), photos + dead leaves 64x64, BCR 1/12, AWGN -5..10 dB"),
        ZooEntry("deepjscc-64-bcr1_48", "deepjscc",
                 "DeepJSCC, residual-GDN backbone (SNR-adaptive), photos + dead leaves 64x64, BCR 1/48, AWGN -5..10 dB"),
        ZooEntry("deepjscc-64-bcr1_192", "deepjscc",
                 "DeepJSCC, residual-GDN backbone (SNR-adaptive), photos + dead leaves 64x64, BCR 1/192, AWGN -5..10 dB"),
        ZooEntry("deepjscc-64-bcr1_12-ofdm", "deepjscc",
                 "deepjscc-64-bcr1_12 fine-tuned over OFDM on 3GPP TDL-C with LS channel estimates, -5..20 dB"),
        ZooEntry("deepjscc-paper-64-bcr1_12", "deepjscc",
                 "DeepJSCC, the paper's backbone (SNR-adaptive, 0.19 M parameters), photos 64x64, BCR 1/12 (faster)"),
        ZooEntry("deepjscc-paper-64-bcr1_48", "deepjscc",
                 "DeepJSCC, the paper's backbone (SNR-adaptive, 0.15 M parameters), photos 64x64, BCR 1/48 (faster)"),
        ZooEntry("generative-64-bcr1_48", "generative",
                 "GenerativeJSCC from deepjscc-64-bcr1_48 + the 64x64 block of stylegan2-photos64, BCR 1/48, AWGN -5..10 dB"),
        ZooEntry("generative-64-bcr1_192", "generative",
                 "GenerativeJSCC from deepjscc-64-bcr1_192 + the 64x64 block of stylegan2-photos64, BCR 1/192, AWGN -5..10 dB"),
        ZooEntry("stylegan2-photos64", "stylegan2", "StyleGAN2 prior, photos 64x64 (short GPU run; colours and textures, few objects)"),
    ]
}


def resolve_model(name_or_path: str | Path) -> Path:
    """A zoo name or a path to a ``.safetensors`` file -> an existing path."""
    key = str(name_or_path)
    if key in ZOO:
        path = ZOO[key].path
        if not path.exists():
            raise FileNotFoundError(f"zoo model {key!r} is listed but its weights {path} are missing; reinstall genjscc")
        return path
    path = Path(key).expanduser()
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        if len(candidates) == 1:
            return candidates[0]
    if path.exists():
        return path
    raise FileNotFoundError(f"no model {key!r}: give a zoo name ({', '.join(ZOO)}) or a path to a .safetensors file")
