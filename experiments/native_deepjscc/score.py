"""Mean PSNR of DeepJSCC weight files on whole held-out photographs at their own size (AWGN).

    python experiments/native_deepjscc/score.py RUN/model.safetensors ... --data folder:DIR --snr 1,4,10

The ablation's yardstick: the embedded held-out photos and the fetched test split, each sent whole,
one image at a time, channel seeded per (image, SNR) so every model meets the same noise.
"""

from __future__ import annotations

import argparse
import json

import torch

from genjscc.channel import AWGN
from genjscc.data.files import FolderImages
from genjscc.data.photos import photo_images
from genjscc.schemes import build_scheme


def held_out_images(folders: list[str]) -> list[tuple[str, torch.Tensor]]:
    images = [(f"photos:{i}", im.float()[None] / 255) for i, im in enumerate(photo_images("test"))]
    for spec in folders:
        root = spec.removeprefix("folder:")
        for im in FolderImages(root, 8).split("test"):
            images.append((str(im.path.name), im.load().float()[None] / 255))
    return images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", action="append", default=[], help="folder:DIR whose test/ split is added")
    parser.add_argument("--snr", default="1,4,10")
    args = parser.parse_args(argv)
    snrs = [float(s) for s in args.snr.split(",")]
    images = held_out_images(args.data)
    torch.set_grad_enabled(False)
    for model in args.models:
        scheme = build_scheme(model)
        row = {"model": model, "images": len(images)}
        for snr in snrs:
            psnrs = []
            for k, (_, image) in enumerate(images):
                g = torch.Generator().manual_seed(1000 * k + int(snr * 10))
                out = scheme.transmit(image, AWGN(), snr, generator=g).images
                psnrs.append(float(-10 * torch.log10(((out - image) ** 2).mean())))
            row[f"psnr@{snr:g}dB"] = round(sum(psnrs) / len(psnrs), 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
