"""DeepJSCC backbones: parameters, MACs and CPU inference speed at 64x64.

Compares the paper's DeepJSCC stacks (``DeepJSCCConfig(channels=C, downsample=8,
snr_adaptive=True)``, C = 384 rho: 32 for BCR 1/12, 8 for 1/48) with the residual GDN backbone
(:mod:`genjscc.models.jscc_backbones`) at several widths. Speed is encoder + decoder only
(power normalisation and channel cost the same for all), batch 256, ``--threads`` threads,
inference mode; the models are timed in turn, round after round, and the median is reported
so that load from other processes hits all of them alike.

MACs are counted with forward hooks: Conv2d ``H_out W_out C_in k^2 C_out / groups``,
ConvTranspose2d ``H_in W_in C_in k^2 C_out / groups``, Linear ``in * out``, and GDN/IGDN's 1x1
convolution ``H W C^2``; elementwise work (activations, GDN's square and root, AF pooling) is
not counted.

    python benchmarks/backbone_cost.py [--channels 32] [--widths 64 96 128] [--threads 2] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import Tensor, nn

from genjscc.layers.gdn import GDN
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.models.jscc_backbones import ResidualGDNDecoder, ResidualGDNEncoder


class EncoderDecoder(nn.Module):
    """``x [B, 3, H, W]`` in [-1, 1], ``snr_db [B]`` -> decoder(encoder(x)) (no channel)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        return self.decoder(self.encoder(x, snr_db), snr_db)


def count_macs(model: nn.Module, x: Tensor, snr_db: Tensor) -> int:
    """Multiply-accumulates per image of one forward pass (see the module docstring)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * k
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0][0].numel() * module.out_channels // module.groups * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
        elif isinstance(module, GDN):
            total += output[0].numel() * module.channels

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.inference_mode():
            model(x[:1], snr_db[:1])
    finally:
        for h in handles:
            h.remove()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=32, help="latent channels C (32: BCR 1/12, 8: 1/48)")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--blocks", type=int, default=2, help="residual blocks at the latent resolution")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    paper = DeepJSCC(DeepJSCCConfig(channels=args.channels, downsample=8, snr_adaptive=True))
    models = {"paper DeepJSCC (16,32,32,32)": EncoderDecoder(paper.encoder, paper.decoder)}
    for w in args.widths:
        enc = ResidualGDNEncoder(args.channels, 8, width=w, blocks=args.blocks)
        dec = ResidualGDNDecoder(args.channels, 8, width=w, blocks=args.blocks)
        models[f"residual GDN, width {w}"] = EncoderDecoder(enc, dec)

    x = torch.rand(args.batch, 3, 64, 64) * 2 - 1
    snr = torch.empty(args.batch).uniform_(-5, 10)
    rates: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            model.eval()(x, snr)  # warm-up
        for _ in range(args.rounds):
            for name, model in models.items():
                t0 = time.perf_counter()
                model(x, snr)
                rates[name].append(args.batch / (time.perf_counter() - t0))

    threads = torch.get_num_threads()
    print(f"64x64, C={args.channels}, f=8, batch {args.batch}, {threads} threads, torch {torch.__version__}")
    print(f"{'model':32s} {'params':>10s} {'MMAC/img':>9s} {'img/s (median)':>15s}  runs")
    for name, model in models.items():
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model, x, snr) / 1e6
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"{name:32s} {params:10,d} {macs:9.1f} {statistics.median(rates[name]):15.0f}  {runs}")


if __name__ == "__main__":
    main()
