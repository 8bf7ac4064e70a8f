"""The field's evaluation protocol at native size: per-image records for separation and DeepJSCC.

    python experiments/native_protocol/run.py --out results/native_protocol            # everything (long)
    python experiments/native_protocol/run.py --bcr 1/12,1/48 --snr 1,4,10 --links ldpc  # a part of it

Whole test images at their own H x W (``--data``: the embedded held-out photos and the fetched test
split by default; any ``folder:DIR`` works, e.g. a Kodak folder), one image at a time, AWGN. For each
image and SNR one channel seed (crc32 of image name and SNR), the same for every scheme and BCR.

* Separation: each codec (webp, heif, jpeg2000, avif; ``--codecs``) at each BCR over 5G NR LDPC + QAM
  (``mcs=best``, ``select=image``: the best MCS for the image on that seed) and over the ideal
  capacity code; the fallback for a file that does not fit or is lost is the training mean image
  of the data the image comes from.
* DeepJSCC (``--deepjscc``: zoo names or weight files; ``--deepjscc none`` for none): each model at
  its own BCR (reported as the effective k / (3 H W) and filed under the nearest protocol BCR).

Records go to ``OUT/records.jsonl``, one line per image, scheme, BCR and SNR, with PSNR, MS-SSIM,
MS-SSIM in dB (-10 log10(1 - MS-SSIM)), LPIPS-alex, the image size, k, the effective BCR, the chosen
MCS and file size. The run resumes: lines already there are skipped. ``table.py`` prints the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from fractions import Fraction
from pathlib import Path

import torch

from genjscc.channel import AWGN
from genjscc.metrics import PER_IMAGE_METRICS

PROTOCOL_BCRS = ("1/48", "1/24", "1/16", "1/12")
PROTOCOL_SNRS = "1,4,7,10,13"
CODECS = ("webp", "heif", "jpeg2000", "avif")
METRICS = ("psnr", "ms-ssim", "ms-ssim-db", "lpips-alex")
DEFAULT_DATA = ("photos", "folder:/work/data/debian-photos")
DEFAULT_DEEPJSCC = ("deepjscc-64-bcr1_12", "deepjscc-64-bcr1_48")


def native_images(spec: str) -> list[tuple[str, torch.Tensor]]:
    """``(name, [1, 3, H, W] float)`` for every test image of ``spec`` at its own size."""
    try:
        from genjscc.data import native_test_images
    except ImportError:  # before --size native landed: the same images, read here
        native_test_images = None
    if native_test_images is not None:
        found = native_test_images(spec)
        return [(Path(name).name if spec.startswith("folder:") else name, found[i].unsqueeze(0))
                for i, name in enumerate(found.names)]
    from genjscc.data.files import FolderImages
    from genjscc.data.photos import PHOTO_SPLIT, photo_images

    if spec == "photos":
        return [(f"photos:{n.split(':', 1)[1]}", im.float()[None] / 255)
                for n, im in zip(PHOTO_SPLIT["test"], photo_images("test"))]
    return [(im.path.name, im.load().float()[None] / 255)
            for im in FolderImages(spec.removeprefix("folder:"), 1).split("test")]


def seed_of(image: str, snr: float) -> int:
    return zlib.crc32(f"{image}|{snr:g}".encode())


def nearest_bcr(value: float) -> str:
    return min(PROTOCOL_BCRS, key=lambda b: abs(math.log(float(Fraction(b)) / value)))


def scores(recon: torch.Tensor, image: torch.Tensor, metrics) -> dict:
    with torch.inference_mode():
        return {m: round(float(PER_IMAGE_METRICS[m](recon.clamp(0, 1), image)[0]), 5) for m in metrics}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=",".join(DEFAULT_DATA), help="data specs, comma-separated")
    parser.add_argument("--snr", default=PROTOCOL_SNRS)
    parser.add_argument("--bcr", default=",".join(PROTOCOL_BCRS))
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--links", default="capacity,ldpc", help="capacity and/or ldpc ('' for no separation)")
    parser.add_argument("--deepjscc", default=",".join(DEFAULT_DEEPJSCC), help="zoo names or weight files; none")
    parser.add_argument("--metrics", default=",".join(METRICS))
    parser.add_argument("--limit", type=int, help="first N images of each data spec")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/native_protocol"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    snrs = [float(s) for s in args.snr.split(",")]
    bcrs = [b for b in args.bcr.split(",") if b]
    codecs = [c for c in args.codecs.split(",") if c]
    links = [link for link in args.links.split(",") if link]
    models = [] if args.deepjscc in ("", "none") else args.deepjscc.split(",")
    metrics = args.metrics.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "records.jsonl"
    done = set()
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["image"], r["scheme"], r["bcr"], r["snr_db"]))

    def write(record: dict) -> None:
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps({k: record[k] for k in ("image", "scheme", "bcr", "snr_db", "psnr", "choice", "seconds")
                          if k in record}), flush=True)

    from genjscc.schemes import build_scheme
    from genjscc.schemes.separation import SeparationScheme
    from genjscc.separation import build_codec, build_link

    networks = {m: build_scheme(m) for m in models}
    link_objects = {name: build_link(name, **({"mcs": "best"} if name == "ldpc" else {})) for name in links}
    for spec in args.data.split(","):
        images = native_images(spec)[: args.limit]
        for name, image in images:
            height, width = image.shape[-2:]
            common = {"data": spec, "image": name, "height": height, "width": width, "channel": "awgn"}
            for model, scheme in networks.items():
                effective = float(scheme.bcr(height, width))
                bcr = nearest_bcr(effective)
                for snr in snrs:
                    if (name, model, bcr, snr) in done:
                        continue
                    start = time.perf_counter()
                    g = torch.Generator().manual_seed(seed_of(name, snr))
                    recon = scheme.transmit(image, AWGN(), snr, generator=g).images
                    write({**common, "scheme": model, "kind": "deepjscc", "bcr": bcr, "bcr_effective": effective,
                           "snr_db": snr, "seed": seed_of(name, snr), **scores(recon, image, metrics),
                           "seconds": round(time.perf_counter() - start, 2)})
            for codec_name in codecs:
                codec = build_codec(codec_name)  # one per image and codec: its file cache serves every budget
                for bcr in bcrs:
                    for link_name, link in link_objects.items():
                        scheme = SeparationScheme(codec, link, bcr, training_data=spec, select="image")
                        label = f"{codec_name}+{link_name}"
                        k = scheme.channel_uses(height, width)
                        for snr in snrs:
                            if (name, label, bcr, snr) in done:
                                continue
                            start = time.perf_counter()
                            g = torch.Generator().manual_seed(seed_of(name, snr))
                            recon = scheme.transmit(image, AWGN(), snr, generator=g).images
                            choice = scheme.choices[("awgn", snr)]
                            write({**common, "scheme": label, "kind": "separation", "codec": codec_name,
                                   "link": link_name, "bcr": bcr, "bcr_effective": k / (3 * height * width), "k": k,
                                   "snr_db": snr, "seed": seed_of(name, snr), **scores(recon, image, metrics),
                                   "choice": choice.per_image[0] if choice.per_image else choice.option,
                                   "bytes": round(choice.mean_bytes), "delivered": bool(choice.delivered),
                                   "budget_bytes": choice.budget_bytes,
                                   "seconds": round(time.perf_counter() - start, 2)})


if __name__ == "__main__":
    main()
