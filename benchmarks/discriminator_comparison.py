"""Plain StyleGAN2 discriminator vs the projected (frozen AlexNet features) one at equal wall time.

    nice -n 10 python benchmarks/discriminator_comparison.py --minutes 8 [--size 32] [--out runs/dcompare]

Trains the same generator config with the same seed once per discriminator with the existing
trainer (``train_stylegan2``, ``max_time`` = the budget, batches from a fixed pool of training
crops built before the clock starts), one after the other, each on ``--threads`` CPU threads.
Then computes KID (exact fp32 Inception, :mod:`genjscc.metrics.fid`) of each EMA generator's
samples against fresh training crops and against the held-out crops, and prints a markdown
table (images seen, images/s, KID train, KID held-out) plus the floor KID(train, held-out).
Sample grids: ``OUT/<variant>/samples/final.png`` and ``OUT/side_by_side.png``; the numbers
also go to ``OUT/results.json``. ``--runs`` and ``--variants`` pick what runs; existing runs
in OUT are evaluated again without training (``--eval-only``).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from genjscc.data import load_dataset, save_image, stack
from genjscc.metrics.fid import inception_features, kernel_inception_distance
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.utils.images import image_grid
from genjscc.train.args import StyleGAN2TrainArgs, TrainerOptions
from genjscc.train.common import hardware_summary
from genjscc.train.stylegan2 import train_stylegan2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-clock budget per variant")
    parser.add_argument("--variants", default="plain,projected-alex")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pool", type=int, default=4096, help="training crops drawn before the clock starts")
    parser.add_argument("--ema-kimg", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kid-n", type=int, default=400, help="generated images and training crops for KID")
    parser.add_argument("--out", type=Path, default=Path("runs/dcompare"))
    parser.add_argument("--eval-only", action="store_true", help="evaluate the runs already in --out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = [v for v in args.variants.split(",") if v]
    results = {}
    for variant in variants:
        run = args.out / variant
        if not args.eval_only:
            train_args = StyleGAN2TrainArgs(size=args.size, batch_size=args.batch_size, pool=args.pool, seed=args.seed,
                                            ema_kimg=args.ema_kimg, sample_every=0, discriminator=variant)
            options = TrainerOptions(steps=10**7, accelerator="cpu", devices="1", checkpoint_every=10**6, log_every=50,
                                     max_time=str(int(args.minutes * 60)), progress=False)
            print(f"[{time.strftime('%H:%M:%S')}] training {variant} for {args.minutes} min -> {run}", flush=True)
            train_stylegan2(train_args, run, options, command=f"benchmarks/discriminator_comparison.py ({variant})")
        meta = json.loads((run / "model.json").read_text())["training"]
        results[variant] = {"images_seen": meta["images_seen"], "iterations": meta["iterations"],
                            "wall_s": meta["wall_time_s_last_session"], "images_per_s": meta["images_per_s_last_session"]}

    print(f"[{time.strftime('%H:%M:%S')}] KID ({args.kid_n} samples per model)", flush=True)
    train = stack(load_dataset("photos", "train", args.size, seed=777, length=args.kid_n))
    test = stack(load_dataset("photos", "test", args.size))
    f_train, f_test = inception_features(train).numpy(), inception_features(test).numpy()

    def kid(a, b):
        mean, std = kernel_inception_distance(a, b, subsets=50, subset_size=min(len(a), len(b), 1000) // 2)
        return round(mean, 4), round(std, 4)

    floor = kid(f_train, f_test)
    grids = []
    for variant in variants:
        G = load_stylegan2(args.out / variant / "model.safetensors")
        z = torch.randn(args.kid_n, G.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            fake = torch.cat([((G(z[i : i + 100]) + 1) / 2).clamp(0, 1) for i in range(0, args.kid_n, 100)])
        f_fake = inception_features(fake).numpy()
        results[variant]["kid_train"], results[variant]["kid_train_std"] = kid(f_fake, f_train)
        results[variant]["kid_test"], results[variant]["kid_test_std"] = kid(f_fake, f_test)
        grids.append(image_grid(fake[:64]))
    grids.append(image_grid(train[:64]))
    gap = torch.ones(3, grids[0].shape[1], 8)
    save_image(torch.cat([x for g in grids for x in (g, gap)][:-1], dim=2), args.out / "side_by_side.png")

    report = {"minutes_per_variant": args.minutes, "size": args.size, "batch_size": args.batch_size, "seed": args.seed,
              "threads": args.threads, "kid_n": args.kid_n, "n_test": len(test), "hardware": hardware_summary(),
              "torch": torch.__version__, "kid_floor_train_vs_test": floor, "results": results}
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    print(f"\n{args.size}x{args.size}, {args.minutes} min per variant, batch {args.batch_size}, {args.threads} thread(s), "
          f"KID over {args.kid_n} samples (held-out: {len(test)} crops)\n")
    print("| discriminator | iterations | images seen | images/s | KID train | KID held-out |")
    print("|---|---|---|---|---|---|")
    for variant, r in results.items():
        print(f"| {variant} | {r['iterations']} | {r['images_seen']} | {r['images_per_s']} | "
              f"{r['kid_train']} ± {r['kid_train_std']} | {r['kid_test']} ± {r['kid_test_std']} |")
    print(f"| (floor: train vs held-out crops) | | | | {floor[0]} ± {floor[1]} | |")
    print(f"\nsamples (left to right: {', '.join(variants)}, training crops): {args.out / 'side_by_side.png'}")


if __name__ == "__main__":
    main()
