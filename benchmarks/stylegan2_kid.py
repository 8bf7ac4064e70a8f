"""KID of a StyleGAN2 generator against training crops and held-out crops (exact fp32 Inception).

    python benchmarks/stylegan2_kid.py MODEL [--n 500] [--truncation 1.0]
Prints one JSON document: KID(samples, train crops), KID(samples, held-out crops) and the floor
KID(train crops, held-out crops), each mean ± std over 50 random subsets.
"""

import argparse
import json

import torch

from genjscc.data import load_dataset, stack
from genjscc.metrics.fid import inception_features, kernel_inception_distance
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.zoo import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--n", type=int, default=500, help="generated images and training crops")
    parser.add_argument("--truncation", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    G = load_stylegan2(resolve_model(args.model))
    size = G.img_resolution
    z = torch.randn(args.n, G.z_dim, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        fake = torch.cat([((G(z[i : i + 100], args.truncation) + 1) / 2).clamp(0, 1) for i in range(0, args.n, 100)])
    train = stack(load_dataset("photos", "train", size, seed=777, length=args.n))
    test = stack(load_dataset("photos", "test", size))
    f_fake, f_train, f_test = (inception_features(x).numpy() for x in (fake, train, test))
    report = {"model": args.model, "n_fake": args.n, "n_train": args.n, "n_test": len(test), "truncation": args.truncation}
    for name, (a, b) in {"kid_train": (f_fake, f_train), "kid_test": (f_fake, f_test), "kid_floor_train_vs_test": (f_train, f_test)}.items():
        mean, std = kernel_inception_distance(a, b, subsets=50, subset_size=min(len(a), len(b), 1000) // 2)
        report[name], report[name + "_std"] = round(mean, 4), round(std, 4)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
