"""StyleGAN2 speed (generator forward, training iteration, R1 step) and the allocator A/B.

    python benchmarks/stylegan2_speed.py [--size 64] [--batch 32] [--channel-max 128] [--repeats 5]
                                         [--reference PATH] [--compile] [--mallopt-ab] [--no-networks]

Every comparison alternates A and B: one timed call of each workload for A, then for B, round
after round (the order within a round flips every round), and reports the median per call, so
a cold start, another process's load or the allocator's first page faults hit both sides alike.

* networks (default): genjscc's G and D; with ``--reference PATH`` also NVlabs'
  stylegan2-ada-pytorch (a checkout at PATH, imported from there, never part of this package)
  with the same configuration on its reference (CPU) ops, in the same process, with the
  ratio of times. ``--compile`` adds a side "genjscc compiled" (copies of the same G and D with
  ``torch.compile`` of G's synthesis and of D; generator forward and training iteration only,
  as compile cannot do R1's double backward); its first calls, which compile, are timed apart
  and not counted. A training iteration is: G forward without grad + D on reals and fakes +
  backward (D step), then G forward + D + backward (G step), no R1 (timed as ``r1 step``).
* ``--mallopt-ab``: the glibc allocator settings of :mod:`genjscc.utils.allocator` on vs off. They
  cannot be undone in a process, so two worker processes (one started with
  ``GENJSCC_NO_MALLOPT=1``) take turns, one round each at a time; workloads: the shipped
  prior's generator forward (``stylegan2-photos64``, batch ``--batch``) and the transmit
  (encode, AWGN at 0 dB, decode) of the shipped ``deepjscc-64-bcr1_12`` at batch 256, 64x64.

Prints markdown tables (median ms per call, img/s, ratio B/A of times; minor page faults per
call for the allocator A/B).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from timing import alternate as alternate_rounds


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def alternate(sides: dict[str, dict], repeats: int) -> dict[str, dict[str, list[float]]]:
    """``sides``: side -> workload -> callable, timed by :func:`timing.alternate` (every side and
    workload one call a round, the order reversed every other round)."""
    flat = alternate_rounds({(s, w): fn for s, work in sides.items() for w, fn in work.items()}, repeats)
    return {s: {w: flat[(s, w)] for w in work} for s, work in sides.items()}


def network_workloads(G, D, g_call, d_call, z_dim: int, size: int, batch: int) -> dict:
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
    return {"generator forward": forward, "training iteration": iteration, "r1 step": r1_step}


def table(times: dict[str, dict[str, list[float]]], batches: dict[str, int], extra: dict | None = None,
          ref: str | None = None) -> str:
    """Markdown: one row per workload, median ms and img/s per side, ratio of times: side ``ref`` (default:
    the last of two sides) over each other side; a side without a workload shows "-"."""
    sides = list(times)
    first = sides[0]
    ref = ref or (sides[-1] if len(sides) == 2 else None)
    others = [s for s in sides if s != ref] if ref else []
    head = " | ".join(f"{s} ms | {s} img/s" for s in sides)
    extra_head = "".join(f" | {h}" for h in (extra or {}).get("head", []))
    ratio_head = "".join(f" | time {ref} / {s}" for s in others)
    lines = [f"| workload | {head}{ratio_head}{extra_head} |",
             "|---|" + "---|---|" * len(sides) + "---|" * len(others) + "---|" * len((extra or {}).get("head", []))]
    for work in times[first]:
        med = {s: statistics.median(times[s][work]) for s in sides if times[s].get(work)}
        cells = " | ".join(f"{med[s] * 1e3:,.0f} | {batches[work] / med[s]:,.1f}" if s in med else "- | -" for s in sides)
        extra_cells = "".join(f" | {c}" for c in (extra or {}).get("rows", {}).get(work, []))
        ratio = "".join(f" | {med[ref] / med[s]:.2f}" if s in med and ref in med else " | -" for s in others)
        lines.append(f"| {work} | {cells}{ratio}{extra_cells} |")
    return "\n".join(lines)


# -- allocator A/B: worker processes ------------------------------------------------------------


def allocator_workloads(batch: int) -> tuple[dict, dict[str, int]]:
    from genjscc.channel import AWGN
    from genjscc.models.deepjscc import DeepJSCC
    from genjscc.models.stylegan2.loaders import load_stylegan2
    from genjscc.zoo import resolve_model

    G = load_stylegan2(resolve_model("stylegan2-photos64")).eval()
    jscc = DeepJSCC.from_weights(resolve_model("deepjscc-64-bcr1_12")).eval()
    z, x, channel = torch.randn(batch, G.z_dim), torch.rand(256, 3, 64, 64), AWGN()

    def generator():
        with torch.inference_mode():
            G(z)

    def transmit():
        with torch.inference_mode():
            jscc(x, channel, 0.0)

    return ({"prior generator forward": generator, "deepjscc-64-bcr1_12 transmit": transmit},
            {"prior generator forward": batch, "deepjscc-64-bcr1_12 transmit": 256})


def worker(batch: int) -> None:
    """Answer each line on stdin with one timed call per workload (JSON: name -> [s, faults])."""
    from genjscc.utils.allocator import tune_allocator

    work, _ = allocator_workloads(batch)
    for fn in work.values():
        fn()  # warm-up
    print(json.dumps({"applied": tune_allocator()}), flush=True)
    for _ in sys.stdin:
        out = {}
        for name, fn in work.items():
            f0, start = _faults(), time.perf_counter()
            fn()
            out[name] = [time.perf_counter() - start, _faults() - f0]
        print(json.dumps(out), flush=True)


def mallopt_ab(batch: int, threads: int, repeats: int) -> None:
    procs = {}
    for side, opt_out in (("mallopt off", "1"), ("mallopt on", "")):
        env = {**os.environ, "GENJSCC_NO_MALLOPT": opt_out}
        procs[side] = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--batch", str(batch), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    applied = {side: json.loads(p.stdout.readline())["applied"] for side, p in procs.items()}
    times = {s: {} for s in procs}
    faults = {s: {} for s in procs}
    order = list(procs)
    for r in range(repeats):
        for side in order if r % 2 == 0 else order[::-1]:
            p = procs[side]
            p.stdin.write("go\n")
            p.stdin.flush()
            for name, (seconds, nfaults) in json.loads(p.stdout.readline()).items():
                times[side].setdefault(name, []).append(seconds)
                faults[side].setdefault(name, []).append(nfaults)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    batches = {"prior generator forward": batch, "deepjscc-64-bcr1_12 transmit": 256}
    rows = {w: [f"{statistics.median(faults[s][w]):,.0f}" for s in procs] for w in times["mallopt off"]}
    print(f"\n### glibc allocator settings (genjscc.utils.allocator), {threads} threads, median of {repeats} "
          f"alternating rounds, two worker processes\n\nmallopt on applied: {applied['mallopt on']}; "
          f"off applied: {applied['mallopt off']}\n")
    print(table(times, batches, {"head": [f"page faults/call {s}" for s in procs], "rows": rows}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--channel-base", type=int, default=8192)
    p.add_argument("--channel-max", type=int, default=128)
    p.add_argument("--z-dim", type=int, default=256)
    p.add_argument("--mapping-layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference", help="path to an NVlabs stylegan2-ada-pytorch checkout")
    p.add_argument("--compile", action="store_true",
                   help="add a side with torch.compile of G's synthesis and of D (compile time reported apart)")
    p.add_argument("--mallopt-ab", action="store_true", help="also time genjscc.utils.allocator's settings on vs off")
    p.add_argument("--no-networks", action="store_true", help="skip the genjscc (vs NVlabs) network table")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.worker:
        worker(a.batch)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.size}x{a.size}, batch {a.batch}, "
          f"channel_max {a.channel_max}")
    if not a.no_networks:
        from genjscc.models.stylegan2 import Discriminator, Generator

        G = Generator(img_resolution=a.size, z_dim=a.z_dim, w_dim=a.z_dim, mapping_layers=a.mapping_layers,
                      channel_base=a.channel_base, channel_max=a.channel_max)
        D = Discriminator(img_resolution=a.size, channel_base=a.channel_base, channel_max=a.channel_max)
        sides = {"genjscc": network_workloads(G, D, lambda g, z: g(z, noise_mode="random"), lambda d, x: d(x),
                                              a.z_dim, a.size, a.batch)}
        if a.reference:
            from nvlabs_reference import nvlabs_networks

            RG, RD = nvlabs_networks(a.reference, a.size, a.z_dim, a.z_dim, a.mapping_layers, a.channel_base,
                                     a.channel_max)
            sides["NVlabs"] = network_workloads(RG, RD, lambda g, z: g(z, None, noise_mode="random"),
                                                lambda d, x: d(x, None), a.z_dim, a.size, a.batch)
        compile_s = {}
        if a.compile:
            import copy

            from genjscc.utils.compile import compile_forward

            CG, CD = copy.deepcopy(G), copy.deepcopy(D)  # same weights; compiled in place below
            compile_forward(CG.synthesis, "G.synthesis")
            compile_forward(CD, "D")
            work = network_workloads(CG, CD, lambda g, z: g(z, noise_mode="random"), lambda d, x: d(x),
                                     a.z_dim, a.size, a.batch)
            del work["r1 step"]  # compile cannot do the double backward
            for name, fn in work.items():  # the first call compiles (no-grad and grad graphs); not timed below
                start = time.perf_counter()
                fn()
                compile_s[name] = time.perf_counter() - start
            sides["genjscc compiled"] = work
        times = alternate(sides, a.repeats)
        print(f"\n### StyleGAN2 networks, median of {a.repeats} alternating rounds in one process\n")
        print(table(times, {w: a.batch for w in next(iter(sides.values()))}, ref="NVlabs" if a.reference else None))
        if compile_s:
            print("\ngenjscc compiled, first call (compiling, not counted above): "
                  + ", ".join(f"{name} {sec:.1f} s" for name, sec in compile_s.items()))
    if a.mallopt_ab:
        mallopt_ab(a.batch, a.threads, a.repeats)


if __name__ == "__main__":
    main()
