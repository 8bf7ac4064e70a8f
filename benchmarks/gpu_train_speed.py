"""Training speed where it is spent: the bare StyleGAN2 / GenerativeJSCC step against the trainer end to end.

    python benchmarks/gpu_train_speed.py [--device cuda] [--batch 64,256] [--iters 40] [--warmup 10]
                                         [--compile] [--reference PATH] [--generative] [--profile]
                                         [--out results/speed/gpu_train_speed.json]

Rows (images per second, median over ``--rounds`` timed windows of ``--iters`` iterations after
``--warmup`` iterations; the clock is read after ``torch.cuda.synchronize()`` on a GPU):

* **bare**: genjscc's G and D of the shipped prior's configuration (64², z/w 256, mapping 4,
  channels min(8192 / r, 128)), one D step (logistic loss) and one G step (non-saturating), lazy
  R1 every 16 D steps, Adam (0, 0.99); no Lightning, no DiffAugment, no EMA, no style mixing
  (issue 13's definition);
* **bare + recipe**: the same plus DiffAugment (color, translation, cutout), style mixing 0.9
  and the fused EMA update: what the trainer computes, without Lightning;
* **trainer**: ``genjscc train stylegan2`` end to end (``train_stylegan2``: Lightning, CSV logs
  every 100 iterations, an in-memory pool of training crops, no samples, no KID), timed by a
  callback between iterations, so start-up, pool building and export are excluded;
* with ``--compile`` each of them again with ``torch.compile`` (``--compile`` of the trainer;
  compile time reported apart);
* with ``--reference PATH`` NVlabs' stylegan2-ada-pytorch networks (a checkout at PATH, never part
  of this package) in the bare step, on whatever ops they build here;
* with ``--generative`` the GenerativeJSCC step (MSE + 0.05 LPIPS-VGG, AWGN, from the shipped
  DeepJSCC and prior) bare and through ``genjscc train generative``.

``--profile`` adds, for the bare step and the trainer, the number of kernels (GPU) or operators
(CPU) per iteration, the ten most expensive ones, and on a GPU the number of host-device
synchronisations per trainer iteration (``torch.cuda.set_sync_debug_mode``). Prints markdown and
writes the JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genjscc.train.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty  # noqa: E402
from genjscc.models.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig  # noqa: E402
from genjscc.train.augment import DiffAugment  # noqa: E402
from genjscc.train.ema import EMA, ema_beta  # noqa: E402
from genjscc.train.stylegan2 import style_mixed_ws  # noqa: E402

PRIOR = dict(img_resolution=64, z_dim=256, w_dim=256, mapping_layers=4, channel_base=8192, channel_max=128)
R1_EVERY, R1_GAMMA = 16, 0.02


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- bare StyleGAN2 step


class BareStep:
    """One D step + one G step of a StyleGAN2 (optionally with the trainer's recipe), no Lightning."""

    def __init__(self, G, D, device, batch: int, recipe: bool, g_call=None, d_call=None, r1_call=None,
                 z_dim: int = 256, size: int = 64):
        from genjscc.utils.compile import eager_forward

        self.G, self.D, self.device, self.batch, self.recipe = G, D, device, batch, recipe
        self.g_call = g_call or (lambda z: G(z, noise_mode="random"))
        self.d_call = d_call or D
        self.r1_call = r1_call or eager_forward(D)  # compile cannot do R1's double backward
        self.z_dim = z_dim
        self.opt_g = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
        c = R1_EVERY / (R1_EVERY + 1)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=0.0025 * c, betas=(0.0, 0.99 ** c), eps=1e-8)
        self.augment = DiffAugment("color,translation,cutout") if recipe else (lambda x: x)
        self.G_ema = None
        if recipe:
            import copy

            self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)
            self.ema = EMA(G, self.G_ema)
        self.real = torch.rand(batch, 3, size, size, device=device) * 2 - 1
        self.iteration, self.images = 0, 0

    def _fake(self) -> torch.Tensor:
        z = torch.randn(self.batch, self.z_dim, device=self.device)
        if not self.recipe:
            return self.g_call(z)
        return self.G.synthesis(style_mixed_ws(self.G, z, 0.9), noise_mode="random")  # as the trainer does

    def __call__(self) -> None:
        do_r1 = self.iteration % R1_EVERY == 0
        with torch.no_grad():
            fake = self._fake()
        real = self.real.detach().requires_grad_(do_r1)
        real_logits = (self.r1_call if do_r1 else self.d_call)(self.augment(real))
        loss = d_logistic_loss(real_logits, self.d_call(self.augment(fake)))
        if do_r1:
            loss = loss + r1_penalty(real_logits, [real]) * (R1_GAMMA / 2) * R1_EVERY
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.D.requires_grad_(False)
        loss_g = g_nonsaturating_loss(self.d_call(self.augment(self._fake())))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.ema.update(ema_beta(self.batch, self.images, 10_000, 0.05))
        self.iteration += 1
        self.images += self.batch


def time_loop(step, device, iters: int, warmup: int, rounds: int) -> list[float]:
    """Seconds per iteration, one value per round of ``iters`` iterations after ``warmup``."""
    for _ in range(warmup):
        step()
    out = []
    for _ in range(rounds):
        sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            step()
        sync(device)
        out.append((time.perf_counter() - start) / iters)
    return out


def genjscc_networks(device):
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(**PRIOR)).to(device).train()
    D = Discriminator(DiscriminatorConfig(img_resolution=64, channel_base=8192, channel_max=128)).to(device).train()
    return G, D


def compiled_step(G, D, device, batch, recipe):
    from genjscc.utils.compile import compile_forward

    compile_forward(G.synthesis, "G.synthesis")
    compile_forward(D, "D")
    return BareStep(G, D, device, batch, recipe)


# ----------------------------------------------------------------------------- trainer end to end


class IterationClock:
    """A Lightning callback: perf-counter times at the end of every training batch (GPU synchronised
    only at the two ends of each timed window)."""

    def __init__(self, device, warmup: int, iters: int, rounds: int):
        import lightning as L

        class _Clock(L.Callback):
            def on_train_batch_end(cb, trainer, *args):
                self.batches += 1
                if self.batches >= warmup and (self.batches - warmup) % iters == 0:
                    sync(device)
                    self.marks.append(time.perf_counter())

        self.callback = _Clock()
        self.batches, self.marks, self.iters = 0, [], iters
        self.total = warmup + iters * rounds

    def per_iteration(self) -> list[float]:
        return [(b - a) / self.iters for a, b in zip(self.marks, self.marks[1:])]


def with_callback(callback):
    """Make genjscc's trainers add ``callback`` (the benchmark's clock) to their Lightning Trainer."""
    import genjscc.train.common as common

    make = common.make_trainer

    def make_trainer(run_dir, options, callbacks=None, val_every=None):
        return make(run_dir, options, callbacks=[*(callbacks or []), callback], val_every=val_every)

    common.make_trainer = make_trainer
    return lambda: setattr(common, "make_trainer", make)


def timed_training(train, args, device, warmup: int, iters: int, rounds: int, compile: bool) -> list[float]:
    """Run ``train(args, out, options)`` (a genjscc trainer) long enough for ``rounds`` timed windows."""
    from genjscc.train.args import TrainerOptions

    clock = IterationClock(device, warmup, iters, rounds)
    restore = with_callback(clock.callback)
    options = TrainerOptions(steps=clock.total, accelerator="gpu" if device.type == "cuda" else "cpu", devices="1",
                             checkpoint_every=10**9, log_every=100, progress=False, compile=compile)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            train(args, Path(tmp) / "run", options)
    finally:
        restore()
    return clock.per_iteration()


def trainer_stylegan2(device, batch: int, warmup: int, iters: int, rounds: int, compile: bool) -> list[float]:
    from genjscc.train.args import StyleGAN2TrainArgs
    from genjscc.train.stylegan2 import train_stylegan2

    args = StyleGAN2TrainArgs(data="photos", size=64, batch_size=batch, lr=0.0025, r1_gamma=R1_GAMMA, r1_every=R1_EVERY,
                              ema_kimg=10, pool=max(2_000, 4 * batch), sample_every=0, kid_every=0, kid_images=0)
    return timed_training(train_stylegan2, args, device, warmup, iters, rounds, compile)


def trainer_generative(device, batch, warmup, iters, rounds, compile) -> list[float]:
    from genjscc.train.args import GenerativeJSCCTrainArgs
    from genjscc.train.generative import train_generative
    from genjscc.zoo import resolve_model

    args = GenerativeJSCCTrainArgs(prior=str(resolve_model("stylegan2-photos64")),
                                   init_jscc=str(resolve_model("deepjscc-64-bcr1_48")), data="photos",
                                   batch_size=batch, lpips_weight=0.05, freeze_synthesis=0, sample_every=0)
    return timed_training(train_generative, args, device, warmup, iters, rounds, compile)


def bare_generative(device, batch: int, compile: bool):
    """GenerativeJSCC: forward through AWGN, MSE + 0.05 LPIPS-VGG, backward, one Adam step."""
    from genjscc.channel import AWGN, sample_snr_db
    from genjscc.train.losses import PerceptualDistortion
    from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
    from genjscc.models.stylegan2 import load_stylegan2
    from genjscc.zoo import resolve_model

    prior = load_stylegan2(resolve_model("stylegan2-photos64"))
    model = GenerativeJSCC(GenerativeJSCCConfig(channels=8, generator=prior.config.to_dict())).to(device).train()
    if compile:
        model.compile_networks()
    loss_fn = PerceptualDistortion(mse=1.0, lpips=0.05, net="vgg").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x = torch.rand(batch, 3, 64, 64, device=device)
    channel = AWGN()

    def step():
        recon = model(x, channel, sample_snr_db(batch, -5, 10))
        loss = loss_fn(recon, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


# ----------------------------------------------------------------------------- profile


def profile_summary(fn, device, iters: int = 3) -> dict:
    """Kernels (GPU) or operators (CPU) per iteration and the ten most expensive."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(iters):
            fn()
        sync(device)
    events = prof.key_averages()
    if device.type == "cuda":
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        count = sum(e.count for e in kernels) / iters
        top = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[:10]
        rows = [(e.key[:80], e.count // iters, e.self_device_time_total / iters / 1e3) for e in top]
        busy = sum(e.self_device_time_total for e in kernels) / iters / 1e3
    else:
        ops = [e for e in events if e.key.startswith("aten::")]
        count = sum(e.count for e in ops) / iters
        top = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
        rows = [(e.key[:80], e.count // iters, e.self_cpu_time_total / iters / 1e3) for e in top]
        busy = None
    return {"per_iteration": count, "busy_ms": busy, "top": rows}


def syncs_per_trainer_iteration(device, batch: int, iterations: int = 8) -> float:
    """Host-device synchronisations per ``genjscc train stylegan2`` iteration (CUDA's sync debug mode
    warns at each one), counted from a training batch's start to its end, after 4 warm-up iterations."""
    import lightning as L

    class _Window(L.Callback):
        def __init__(self):
            self.batches = 0

        def on_train_batch_start(self, *args):
            self.batches += 1
            if 4 < self.batches <= 4 + iterations:
                torch.cuda.set_sync_debug_mode("warn")

        def on_train_batch_end(self, *args):
            torch.cuda.set_sync_debug_mode("default")

    from genjscc.train.args import StyleGAN2TrainArgs, TrainerOptions
    from genjscc.train.stylegan2 import train_stylegan2

    restore = with_callback(_Window())
    args = StyleGAN2TrainArgs(data="photos", size=64, batch_size=batch, r1_gamma=R1_GAMMA, r1_every=R1_EVERY, ema_kimg=10,
                              pool=max(2_000, 4 * batch), sample_every=0)
    options = TrainerOptions(steps=4 + iterations, accelerator="gpu", devices="1", checkpoint_every=10**9,
                             log_every=100, progress=False)
    try:
        with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("always")
            train_stylegan2(args, Path(tmp) / "run", options)
    finally:
        restore()
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / iterations


# ----------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", default="64,256", help="comma-separated batch sizes")
    p.add_argument("--iters", type=int, default=40, help="iterations per timed window")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time torch.compile variants")
    p.add_argument("--reference", help="path to an NVlabs stylegan2-ada-pytorch checkout")
    p.add_argument("--generative", action="store_true", help="also time the GenerativeJSCC step")
    p.add_argument("--no-trainer", action="store_true", help="only the bare steps")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out", default="")
    a = p.parse_args()
    device = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    results: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                     "torch": torch.__version__, "rows": [], "profiles": {}}

    def record(name: str, batch: int, seconds: list[float], extra: dict | None = None):
        med = statistics.median(seconds)
        row = {"workload": name, "batch": batch, "ms_per_iteration": round(med * 1e3, 2),
               "images_per_s": round(batch / med, 1), **(extra or {})}
        results["rows"].append(row)
        print(f"| {name} | {batch} | {row['ms_per_iteration']:,.1f} | {row['images_per_s']:,.0f} |", flush=True)

    print(f"device: {results['device']}, torch {torch.__version__}\n")
    print("| workload | batch | ms / iteration | img/s |\n|---|---|---|---|")
    for batch in [int(b) for b in a.batch.split(",")]:
        for recipe in (False, True):
            G, D = genjscc_networks(device)
            step = BareStep(G, D, device, batch, recipe)
            name = "bare + recipe" if recipe else "bare"
            record(name, batch, time_loop(step, device, a.iters, a.warmup, a.rounds))
            if a.profile and not recipe:
                results["profiles"][f"bare b{batch}"] = profile_summary(step, device)
            if a.compile:
                G, D = genjscc_networks(device)
                start = time.perf_counter()
                step = compiled_step(G, D, device, batch, recipe)
                for _ in range(R1_EVERY + 1):  # compiles every variant (R1 and plain, D frozen and not)
                    step()
                sync(device)
                compile_s = time.perf_counter() - start
                record(f"{name}, compiled", batch, time_loop(step, device, a.iters, 0, a.rounds),
                       {"compile_s": round(compile_s, 1)})
        if a.reference:
            from nvlabs_reference import nvlabs_networks

            torch.manual_seed(0)
            config = {k: v for k, v in PRIOR.items() if k != "img_resolution"}
            G, D = (m.to(device) for m in nvlabs_networks(a.reference, PRIOR["img_resolution"], **config))
            nv_d = lambda x, D=D: D(x, None)  # noqa: E731 - NVlabs' D takes (images, labels)
            step = BareStep(G, D, device, batch, False, g_call=lambda z, G=G: G(z, None), d_call=nv_d, r1_call=nv_d)
            record("bare, NVlabs networks", batch, time_loop(step, device, a.iters, a.warmup, a.rounds))
        if not a.no_trainer:
            record("trainer end to end", batch, trainer_stylegan2(device, batch, a.warmup, a.iters, a.rounds, False))
            if a.compile:
                record("trainer end to end, --compile", batch,
                       trainer_stylegan2(device, batch, max(a.warmup, R1_EVERY + 1), a.iters, a.rounds, True))
        if a.generative:
            step = bare_generative(device, batch, False)
            record("GenerativeJSCC bare", batch, time_loop(step, device, a.iters, a.warmup, a.rounds))
            if not a.no_trainer:
                record("GenerativeJSCC trainer end to end", batch,
                       trainer_generative(device, batch, a.warmup, a.iters, a.rounds, False))
    if a.profile and not a.no_trainer and device.type == "cuda":
        batch = int(a.batch.split(",")[0])
        results["syncs_per_trainer_iteration"] = syncs_per_trainer_iteration(device, batch)
        print(f"\nhost-device synchronisations per trainer iteration: {results['syncs_per_trainer_iteration']}")
    for name, prof in results["profiles"].items():
        what = "kernels" if device.type == "cuda" else "aten operators"
        busy = f", {prof['busy_ms']:.1f} ms of kernels" if prof["busy_ms"] is not None else ""
        print(f"\n### profile: {name}: {prof['per_iteration']:,.0f} {what} per iteration{busy}\n")
        print("| op | calls / iteration | ms / iteration |\n|---|---|---|")
        for key, calls, ms in prof["top"]:
            print(f"| `{key}` | {calls} | {ms:.2f} |")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
