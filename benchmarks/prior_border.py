"""Grey frames at the border of a prior's samples, measured ring by ring against training crops.

    python benchmarks/prior_border.py [--model stylegan2-photos64] [-n 256] [--truncation 1.0,0.7] [--rings 12]

For ring ``k`` (the pixels exactly ``k`` pixels from the nearest edge, ``k = 0`` is the outermost
row/column) of ``n`` samples and of ``n`` training crops of the same size (``photos``), prints
the mean of: brightness, distance from mid-grey ``|x - 0.5|`` and saturation (max - min over
RGB), each minus the same statistic over the interior (rings >= 12 by default). A grey frame is
a negative ``|x - 0.5|`` and saturation difference near the edge, where training crops show ~0.

DiffAugment's zero-filled translation (shifts uniform in [-S/8, S/8], mid-grey in [-1, 1])
leaves ring ``k`` grey in a fraction ``(S/8 - k) / (S/4 + 1)`` of the images it is applied to
(one edge of each axis) : the last column prints that profile for comparison.
"""

from __future__ import annotations

import argparse

import torch

from genjscc.data import load_dataset, stack
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.zoo import resolve_model


def ring_index(size: int) -> torch.Tensor:
    """``[size, size]``: distance of each pixel from the nearest edge."""
    i = torch.arange(size)
    d = torch.minimum(i, size - 1 - i)
    return torch.minimum(d.view(-1, 1), d.view(1, -1))


def ring_stats(images: torch.Tensor, rings: int) -> dict[str, torch.Tensor]:
    """images ``[N, 3, S, S]`` in [0, 1] -> per statistic ``[rings]``: ring mean minus interior mean."""
    ring = ring_index(images.shape[-1])
    stats = {
        "brightness": images.mean(dim=1),
        "|x-0.5|": (images - 0.5).abs().mean(dim=1),
        "saturation": images.amax(dim=1) - images.amin(dim=1),
    }
    out = {}
    for name, s in stats.items():  # s [N, S, S]
        interior = s[:, ring >= rings].mean()
        out[name] = torch.stack([s[:, ring == k].mean() - interior for k in range(rings)])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="stylegan2-photos64")
    p.add_argument("-n", type=int, default=256)
    p.add_argument("--truncation", default="1.0,0.7")
    p.add_argument("--rings", type=int, default=12)
    p.add_argument("--data", default="photos")
    a = p.parse_args()
    torch.set_num_threads(1)  # small ops; two threads only contend on a shared 2-core machine
    G = load_stylegan2(resolve_model(a.model)).eval()
    size = G.img_resolution
    sets = {}
    z = torch.randn(a.n, G.z_dim, generator=torch.Generator().manual_seed(0))
    for psi in (float(t) for t in a.truncation.split(",")):
        with torch.inference_mode():
            sets[f"{a.model} psi {psi}"] = torch.cat([((G(c, truncation_psi=psi) + 1) / 2).clamp(0, 1)
                                                     for c in z.split(64)])
    sets[f"{a.data} training crops"] = stack(load_dataset(a.data, "train", size, seed=123, length=a.n))
    shift = int(size * 0.125 + 0.5)
    zero_fill = [max(shift - k, 0) / (2 * shift + 1) for k in range(a.rings)]
    stats = {name: ring_stats(images, a.rings) for name, images in sets.items()}
    for stat in ("|x-0.5|", "saturation", "brightness"):
        print(f"\n### {stat}: ring mean minus interior mean (rings >= {a.rings}), {a.n} images each, {size}x{size}\n")
        print("| ring k | " + " | ".join(stats) + " | zero-fill fraction of ring k |")
        print("|---|" + "---|" * (len(stats) + 1))
        for k in range(a.rings):
            print(f"| {k} | " + " | ".join(f"{stats[n][stat][k]:+.4f}" for n in stats) + f" | {zero_fill[k]:.3f} |")
    print("\nmean over rings 0-3 minus interior (|x-0.5| / saturation / brightness):")
    for n, s in stats.items():
        print(f"  {n}: " + " / ".join(f"{s[k][:4].mean():+.4f}" for k in ("|x-0.5|", "saturation", "brightness")))


if __name__ == "__main__":
    main()
