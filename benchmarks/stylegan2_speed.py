"""StyleGAN2 speed: generator forward and a full training iteration (D step + G step), images/s.

    python benchmarks/stylegan2_speed.py [--size 64] [--batch 32] [--channel-max 128] [--reference PATH]

``--reference PATH`` also times NVlabs' stylegan2-ada-pytorch (a checkout at PATH, imported from
there, never part of this package) with the same configuration, on its reference (CPU) ops, and
prints the ratio. A training iteration here is: G forward without grad + D on reals and fakes +
backward (D step), then G forward + D + backward (G step), no R1 (timed separately: ``r1_step``).
Prints one JSON document.
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench(G, D, g_call, d_call, z_dim: int, size: int, batch: int, repeats: int) -> dict:
    z = torch.randn(batch, z_dim)
    real = torch.randn(batch, 3, size, size)

    def forward():
        with torch.no_grad():
            g_call(G, z)

    def iteration():
        with torch.no_grad():
            fake = g_call(G, z)
        loss = F.softplus(d_call(D, fake)).mean() + F.softplus(-d_call(D, real)).mean()
        loss.backward()
        fake = g_call(G, z)
        F.softplus(-d_call(D, fake)).mean().backward()

    def r1_step():
        x = real.detach().requires_grad_(True)
        logits = d_call(D, x)
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        (grad.square().sum(dim=[1, 2, 3]).mean() + F.softplus(-logits).mean()).backward()

    G.train(), D.train()
    return {
        "generator_forward_img_per_s": round(batch / timed(forward, repeats), 1),
        "train_iteration_img_per_s": round(batch / timed(iteration, repeats), 1),
        "r1_step_img_per_s": round(batch / timed(r1_step, max(1, repeats // 2)), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--channel-base", type=int, default=8192)
    p.add_argument("--channel-max", type=int, default=128)
    p.add_argument("--z-dim", type=int, default=256)
    p.add_argument("--mapping-layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference", help="path to an NVlabs stylegan2-ada-pytorch checkout")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from genjscc.models.stylegan2 import Discriminator, Generator

    G = Generator(img_resolution=a.size, z_dim=a.z_dim, w_dim=a.z_dim, mapping_layers=a.mapping_layers,
                  channel_base=a.channel_base, channel_max=a.channel_max)
    D = Discriminator(img_resolution=a.size, channel_base=a.channel_base, channel_max=a.channel_max)
    report = {"config": vars(a), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "genjscc": bench(G, D, lambda g, z: g(z, noise_mode="random"), lambda d, x: d(x), a.z_dim, a.size, a.batch, a.repeats)}
    if a.reference:
        sys.path.insert(0, a.reference)
        from training.networks import Discriminator as RefD, Generator as RefG

        kw = dict(channel_base=a.channel_base, channel_max=a.channel_max, num_fp16_res=0, conv_clamp=None)
        RG = RefG(z_dim=a.z_dim, c_dim=0, w_dim=a.z_dim, img_resolution=a.size, img_channels=3,
                  mapping_kwargs={"num_layers": a.mapping_layers}, synthesis_kwargs=kw)
        RD = RefD(c_dim=0, img_resolution=a.size, img_channels=3, **kw)
        report["reference"] = bench(RG, RD, lambda g, z: g(z, None, noise_mode="random"), lambda d, x: d(x, None),
                                    a.z_dim, a.size, a.batch, a.repeats)
        report["ratio_genjscc_over_reference"] = {k: round(report["genjscc"][k] / report["reference"][k], 2) for k in report["genjscc"]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
