"""Time the separation scheme over 5G LDPC + QAM on one native-size image (768x512).

    python experiments/native_protocol/timing.py --select batch --out results/native_protocol/timing-batch.json
    python experiments/native_protocol/timing.py --select image --out results/native_protocol/timing-image.json

One photograph of the fetched test split (Picture_0B_by_freespace, 768x520, centre-cropped to
768x512), WebP, BCR 1/12 and 1/48, AWGN 1/4/7/10/13 dB, ``mcs=best``. ``--select batch`` gives no
``select`` option (the scheme's default, also what code without the option runs); ``--select image``
gives ``select=image``. Reported per point: wall and CPU seconds of ``transmit``, the seconds inside
LDPC decoding (``LDPCLink._decode``), the codewords that entered it and codewords x BP iterations run
(the work, which a loaded machine does not change), the winning MCS and PSNR. ``--whole-images``
decodes every codeword of an image (no first-failure stop). Codec encodings are warmed
first (one transmit per BCR at 30 dB, not timed), so the times are the link's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genjscc.channel import AWGN
from genjscc.metrics import psnr
from genjscc.schemes import build_scheme
from genjscc.utils.images import open_image, uint8_chw

IMAGE = "/work/data/debian-photos/test/Picture_0B_by_freespace.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", choices=("batch", "image"), default="batch")
    parser.add_argument("--codec", default="webp")
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--bcr", default="1/12,1/48")
    parser.add_argument("--snr", default="1,4,7,10,13")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--whole-images", action="store_true",
                        help="decode every codeword of an image (LDPCLink.first_failure_stops off)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open_image(args.image) as im:
        image = uint8_chw(im).float() / 255
    h, w = image.shape[-2:]
    top = (h - 512) // 2
    image = image[:, top:top + 512, :768].unsqueeze(0).contiguous() if h >= 512 and w >= 768 else image.unsqueeze(0)

    from genjscc.separation import ldpc

    stats = {"seconds": 0.0, "cpu": 0.0, "codewords": 0, "iterations": 0}
    original = ldpc.LDPCLink._decode

    def timed(self, decoder, llr, sent):
        def counting(x, num_iter, msg_v2c):
            stats["iterations"] += x.shape[0] * num_iter
            return decoder(x, num_iter=num_iter, msg_v2c=msg_v2c)

        start, cpu = time.perf_counter(), time.process_time()
        out = original(self, counting, llr, sent)
        stats["seconds"] += time.perf_counter() - start
        stats["cpu"] += time.process_time() - cpu
        stats["codewords"] += llr.shape[0]
        return out

    ldpc.LDPCLink._decode = timed
    rows = []
    for bcr in args.bcr.split(","):
        options = {"codec": args.codec, "code": "ldpc", "bcr": bcr, "mcs": "best"}
        if args.select == "image":
            options["select"] = "image"
        scheme = build_scheme("separation", **options)
        if args.whole_images:  # decode every codeword of an image (the code before the first-failure stop)
            scheme.link.first_failure_stops = False
        scheme.mean_image, scheme.training_data = torch.full((3, *image.shape[-2:]), 0.5), None
        scheme.transmit(image, AWGN(), 30.0, generator=torch.Generator().manual_seed(0))  # warm the codec cache
        for snr in (float(s) for s in args.snr.split(",")):
            stats.update(seconds=0.0, cpu=0.0, codewords=0, iterations=0)
            start, cpu = time.perf_counter(), time.process_time()
            out = scheme.transmit(image, AWGN(), snr, generator=torch.Generator().manual_seed(1)).images
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            choice = scheme.choices[("awgn", snr)]
            row = {"bcr": bcr, "snr_db": snr, "select": args.select, "seconds": round(wall, 2),
                   "cpu_seconds": round(cpu, 2), "decode_seconds": round(stats["seconds"], 2),
                   "decode_cpu_seconds": round(stats["cpu"], 2), "codewords_decoded": stats["codewords"],
                   "codeword_iterations": stats["iterations"],
                   "k": scheme.channel_uses(*image.shape[-2:]), "choice": choice.option,
                   "psnr": round(psnr(out, image).item(), 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"image": args.image, "size": list(image.shape[-2:]), "codec": args.codec,
                                        "threads": args.threads, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
