"""GPU check of a StyleGAN2 generator: fp32 GPU vs fp32 CPU, mixed precision vs fp32, forward img/s.

    python benchmarks/stylegan2_gpu_check.py MODEL.safetensors
Prints one JSON document.
"""

import json
import sys
import time

import torch

from genjscc.models.stylegan2 import load_stylegan2
from genjscc.zoo import resolve_model


def timed(fn, repeats: int = 20) -> float:
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main(path: str) -> None:
    G = load_stylegan2(resolve_model(path))
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = G(z, truncation_psi=0.7)
    report = {"model": path, "cuda": torch.cuda.is_available(), "torch": torch.__version__}
    if torch.cuda.is_available():
        report["device"] = torch.cuda.get_device_name(0)
        Gc, zc = G.cuda(), z.cuda()
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        with torch.no_grad():
            out32 = Gc(zc, truncation_psi=0.7)
            report["max_abs_gpu_fp32_vs_cpu"] = (out32.cpu() - ref).abs().max().item()
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            report["max_abs_gpu_tf32_vs_cpu"] = (Gc(zc, truncation_psi=0.7).cpu() - ref).abs().max().item()
            for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
                with torch.autocast("cuda", dtype=dtype):
                    out = Gc(zc, truncation_psi=0.7).float()
                report[f"max_abs_{name}_autocast_vs_fp32"] = (out - out32).abs().max().item()
                report[f"mean_abs_{name}_autocast_vs_fp32"] = (out - out32).abs().mean().item()
            zb = torch.randn(256, G.z_dim, device="cuda")
            report["forward_img_per_s_fp32_b256"] = round(256 / timed(lambda: Gc(zb)), 1)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                report["forward_img_per_s_bf16_b256"] = round(256 / timed(lambda: Gc(zb)), 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
