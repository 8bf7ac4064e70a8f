"""LPIPS throughput (image pairs/s) on CPU, and agreement with the official ``lpips`` package.

    python benchmarks/lpips_speed.py                        # genjscc LPIPS only
    PYTHONPATH=. /path/to/side/python benchmarks/lpips_speed.py --reference
    python benchmarks/lpips_speed.py --nchw --nets alex     # what the channels-last layout gains

``--reference`` needs an interpreter where the official ``lpips`` (and so torchvision) imports,
e.g. a side venv: ``python -m venv /tmp/side && /tmp/side/bin/pip install torch torchvision
lpips torchmetrics safetensors scikit-image scikit-learn``. The official network is built
with a random backbone (no download) and then given the same backbone weights as ours;
its heads are the ones shipped inside the lpips package. Both run in the same process,
interleaved, so the ratio compares like with like; ``ratio`` uses the best wall time and
``ratio_cpu`` the best process CPU time (steadier on a shared machine, exact with
``--threads 1``). ``--nchw`` adds genjscc's LPIPS with its channels-last layout switched off
(``channels_last = False``), interleaved the same way; ``channels_last_speedup`` is its time over
the default's. Prints one JSON document to stdout, progress rows to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genjscc.metrics.lpips import LPIPS, lpips_state_dict  # noqa: E402


def official_lpips(net: str):
    """Official lpips.LPIPS with our backbone weights loaded (it would download them otherwise)."""
    import lpips

    model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    ours = lpips_state_dict(net)
    slices = model.net.state_dict()
    loaded = {}
    for key in slices:  # "slice2.3.weight" holds torchvision "features.3.weight"
        _, index, kind = key.split(".")
        loaded[key] = ours[f"features.{index}.{kind}"]
    model.net.load_state_dict(loaded)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def step_fn(model, x, y, official: bool, backward: bool):
    """One LPIPS call on the batch: forward under no_grad, or forward+backward to x (a loss)."""

    def call(a):
        return model(a, y, normalize=True).flatten() if official else model(a, y)

    def step():
        if backward:
            call(x.clone().requires_grad_(True)).sum().backward()
        else:
            with torch.no_grad():
                call(x)

    return step


def best_times(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall and best process-CPU time of each function, interleaved so load changes hit all alike.

    On a shared machine the CPU time of one thread is the steadier measure of work.
    """
    for fn in fns.values():
        fn()  # warm-up
    wall = {name: float("inf") for name in fns}
    cpu = dict(wall)
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def agreement(net: str, sizes: list[int]) -> dict:
    """Max |ours - official| on random and real images, scalar and spatial, and via torchvision files."""
    import tempfile

    import lpips
    import torchvision

    from genjscc.data import load_dataset, stack

    ref = official_lpips(net)
    ref_spatial = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, spatial=True, verbose=False).eval()
    ref_spatial.net.load_state_dict(ref.net.state_dict())
    ours, ours_spatial = LPIPS(net), LPIPS(net, spatial=True)
    # the same weights as torchvision + official head files, through LPIPS(backbone=..., heads=...)
    tv = torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16()
    state = tv.state_dict()
    state.update({k: v for k, v in lpips_state_dict(net).items() if k.startswith("features.")})
    heads = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / "backbone.pth")
        ours_files = LPIPS(net, backbone=Path(tmp) / "backbone.pth", heads=heads)
    out = {}
    g = torch.Generator().manual_seed(0)
    for size in sizes:
        real = stack(load_dataset("photos", "test", size))[: 8 if size <= 64 else 3]
        noisy = (real + 0.1 * torch.randn(real.shape, generator=g)).clamp(0, 1)
        shifted = torch.roll(real, 1, dims=0)
        pairs = {
            "random": (torch.rand(4, 3, size, size, generator=g), torch.rand(4, 3, size, size, generator=g)),
            "real+noise": (noisy, real),
            "real-vs-other": (shifted, real),
        }
        for name, (x, y) in pairs.items():
            with torch.no_grad():
                a, b = ours(x, y), ref(x, y, normalize=True).flatten()
                c = ours_files(x, y)
                sa, sb = ours_spatial(x, y), ref_spatial(x, y, normalize=True)
            out[f"{size}/{name}"] = {
                "max_abs_diff": (a - b).abs().max().item(),
                "max_abs_diff_torchvision_files": (c - b).abs().max().item(),
                "max_abs_diff_spatial": (sa - sb).abs().max().item(),
                "mean_value": b.mean().item(),
            }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--batches", default="64:16,256:2", help="image pairs per call, per size (SIZE:PAIRS,...)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per setting (best is kept)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--nets", default="alex,vgg")
    parser.add_argument("--reference", action="store_true", help="also time and compare the official lpips package")
    parser.add_argument("--nchw", action="store_true", help="also time genjscc's LPIPS with channels_last off")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = {int(k): int(v) for k, v in (item.split(":") for item in args.batches.split(","))}
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batches": batches, "runs": []}
    for net in args.nets.split(","):
        ours = LPIPS(net)
        ref = official_lpips(net) if args.reference else None
        nchw = LPIPS(net) if args.nchw else None
        if nchw is not None:
            nchw.channels_last = False
        for size in sizes:
            g = torch.Generator().manual_seed(0)
            x = torch.rand(batches.get(size, 4), 3, size, size, generator=g)
            y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
            for backward in (False, True):
                mode = "forward+backward" if backward else "forward"
                row = {"net": net, "size": size, "batch": x.shape[0], "mode": mode}
                fns = {"genjscc": step_fn(ours, x, y, False, backward)}
                if ref is not None:
                    fns["official"] = step_fn(ref, x, y, True, backward)
                if nchw is not None:
                    fns["genjscc_nchw"] = step_fn(nchw, x, y, False, backward)
                wall, cpu = best_times(fns, args.repeats)
                row.update({f"{name}_img_s": x.shape[0] / t for name, t in wall.items()})
                row.update({f"{name}_img_per_cpu_s": x.shape[0] / t for name, t in cpu.items()})
                if ref is not None:
                    row["ratio"] = row["genjscc_img_s"] / row["official_img_s"]
                    row["ratio_cpu"] = row["genjscc_img_per_cpu_s"] / row["official_img_per_cpu_s"]
                if nchw is not None:
                    row["channels_last_speedup"] = row["genjscc_img_s"] / row["genjscc_nchw_img_s"]
                print(json.dumps(row), file=sys.stderr)
                result["runs"].append(row)
        if args.reference:
            result.setdefault("agreement", {})[net] = agreement(net, sizes)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
