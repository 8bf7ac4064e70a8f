"""Training GenerativeJSCC end to end through the channel, on the shared run lifecycle.

Loss per batch: ``MSE + λ·LPIPS-net`` (:class:`genjscc.train.losses.PerceptualDistortion`), plus, when
``adversarial_weight > 0``, ``weight · softplus(-D(x̂))`` from a StyleGAN2 discriminator trained
alongside (logistic loss, lazy R1 every 16 steps). The SNR is drawn per image uniformly from
``[low, high]`` dB. The synthesis blocks are frozen for ``freeze_synthesis`` iterations (their
learning rate is 0, so the new head learns to feed them first), then fine-tuned at
``synthesis_lr``; the encoder and the head trunk (DeepJSCC's layers, usually initialised from a
trained DeepJSCC) train at ``lr`` and the new layers that feed the prior (features, w codes,
noise, detail gain) at ``head_lr``; every learning rate follows a cosine to 1/20 of its value over the run
(a function of the iteration, so resume is exact).

Synthesis decoder on ``prior:NAME`` data: each training image comes with the latent ``w`` that made
it, and ``latent_weight`` adds ``|ŵ - w|² / |w - w_avg|²`` (batch means; 1 = predicting the average
style) so the head learns the prior's address space directly. The first ``latent_steps``
iterations train on that term alone: the synthesis does not run, so they cost the encoder and
the head only.

One iteration = one step of every optimiser on one batch; ``--steps`` counts iterations.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from genjscc.channel import sample_snr_db
from genjscc.channel.registry import build_channel
from genjscc.utils.compile import compile_forward
from genjscc.data import load_dataset, stack
from genjscc.utils.images import image_grid, save_image
from genjscc.train.losses import PerceptualDistortion, StyleGAN2Loss
from genjscc.metrics import psnr
from genjscc.models.deepjscc import DeepJSCC
from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
from genjscc.models.configs import matching_discriminator
from genjscc.models.stylegan2 import Discriminator, load_stylegan2
from genjscc.train.args import GenerativeJSCCTrainArgs, TrainerOptions, parse_snr_spec
from genjscc.train.common import IntervalLogging, IterationCounter, TrainingJob, cosine_lr, run_training, training_stream
from genjscc.utils.weights import save_weights

__all__ = ["GenerativeJSCCModule", "train_generative", "generative_card"]

R1_EVERY = 16


class GenerativeJSCCModule(IterationCounter, IntervalLogging, L.LightningModule):
    """LightningModule around :class:`GenerativeJSCC` (manual optimisation: model, and D when adversarial).

    The adversarial term is the generator phase of :class:`genjscc.train.losses.StyleGAN2Loss` on the
    reconstructions, and D trains with its discriminator phase (no augmentation, lazy R1 every 16 steps)."""

    def __init__(self, config: dict, channel: str = "awgn", snr_low: float = -5.0, snr_high: float = 10.0,
                 lr: float = 2e-4, synthesis_lr: float = 1e-4, freeze_synthesis: int = 0, lpips_weight: float = 0.1,
                 head_lr: float = 1e-3,
                 lpips_net: str = "vgg", adversarial_weight: float = 0.0, r1_gamma: float = 0.05,
                 max_steps: int = 1000, latent_weight: float = 0.0, latent_steps: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.model = GenerativeJSCC(GenerativeJSCCConfig(**config))
        self.channel = build_channel(channel)
        self.loss = PerceptualDistortion(mse=1.0, lpips=lpips_weight, net=lpips_net)
        self.D, self.gan_loss = None, None
        if adversarial_weight > 0:
            self.D = Discriminator(matching_discriminator(self.model.config.generator))
            self.gan_loss = StyleGAN2Loss(self.D, r1_gamma=r1_gamma, r1_every=R1_EVERY)
        self.run_dir: Path | None = None
        self.sample_every = 0
        self.sample_images: Tensor | None = None

    def _set_learning_rates(self, optimiser, step: int) -> None:
        hp = self.hparams
        jscc, new, synthesis = optimiser.param_groups
        jscc["lr"] = cosine_lr(hp.lr, step, hp.max_steps)
        new["lr"] = cosine_lr(hp.head_lr, step, hp.max_steps)
        synthesis["lr"] = 0.0 if step < hp.freeze_synthesis else cosine_lr(hp.synthesis_lr, step, hp.max_steps)

    def training_step(self, batch, batch_idx):
        hp = self.hparams
        step = self.iteration
        optimisers = self.optimizers()
        opt = optimisers[0] if isinstance(optimisers, list) else optimisers
        self._set_learning_rates(opt, step)
        images, target_w = batch if isinstance(batch, (list, tuple)) else (batch, None)
        snr = sample_snr_db(images.shape[0], hp.snr_low, hp.snr_high)  # on the host: see DeepJSCCModule
        latent_only = step < hp.latent_steps
        recon, predicted_ws = self._transmit(images, snr, synthesize=not latent_only)
        logs = {}
        loss = images.new_zeros(())
        if not latent_only:
            loss = self.loss(recon, images)
            logs.update({f"train/{k}": v for k, v in self.loss.last.items()})
        if hp.latent_weight > 0 and target_w is not None:
            latent = latent_error(predicted_ws, target_w, self.model.w_avg)
            loss = loss + hp.latent_weight * latent
            logs["train/latent"] = latent
        if self.D is not None and not latent_only:
            adversarial = self.gan_loss.generator_main(recon * 2 - 1)
            loss = loss + hp.adversarial_weight * adversarial
            logs["train/adversarial"] = adversarial
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        if self.D is not None and not latent_only:
            self._discriminator_step(optimisers[1], images, recon.detach(), step, logs)
        self.count_iteration()
        logs["train/loss"] = loss
        with torch.no_grad():
            if recon is not None:
                logs["train/psnr"] = psnr(recon.detach().clamp(0, 1), images).mean()
            self.log_interval(logs)

    def _transmit(self, images: Tensor, snr: Tensor, *, synthesize: bool) -> tuple[Tensor | None, Tensor | None]:
        """Images through encoder, channel and decoder -> (reconstructions or None, predicted ws or None).

        The synthesis decoder's halves are run separately, so the latent-only iterations skip the synthesis.
        """
        model = self.model
        if model.config.decoder != "synthesis":
            return model(images, self.channel, snr), None
        features, ws = model.receive_styles(images, self.channel, snr)
        return (model.synthesize(features, ws) if synthesize else None), ws

    def compile_networks(self) -> None:
        """``--compile``: the model's real-valued networks (the channel stays eager), and D."""
        self.model.compile_networks()
        if self.D is not None:
            compile_forward(self.D, "D")

    def _discriminator_step(self, opt_d, real: Tensor, fake: Tensor, step: int, logs: dict) -> None:
        """One D step on images ``real`` and reconstructions ``fake`` in [0, 1] (D sees them in [-1, 1])."""
        d = self.gan_loss.discriminator_main(real * 2 - 1, fake * 2 - 1, regularise=self.gan_loss.r1_due(step))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d.total)
        opt_d.step()
        logs["train/loss_d"] = d.total

    def configure_optimizers(self):
        """Three groups: DeepJSCC's parts (encoder, head trunk: ``lr``), the layers that feed the prior
        (``head_lr``) and the synthesis blocks (``synthesis_lr`` after the warm-up)."""
        m = self.model
        jscc = [*m.encoder.parameters(), *m.head.parameters()]
        synthesis = [p for p in m.synthesis.parameters() if p.requires_grad]
        taken = {id(p) for p in jscc + synthesis}
        new = [p for p in m.parameters() if p.requires_grad and id(p) not in taken]
        opt = torch.optim.Adam([{"params": jscc}, {"params": new}, {"params": synthesis}], lr=self.hparams.lr)
        if self.D is None:
            return opt
        return [opt, torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.0, 0.99))]

    def on_train_batch_end(self, outputs, batch, batch_idx):
        it = self.iteration
        if self.trainer.global_rank == 0 and self.run_dir is not None and self.sample_every and it % self.sample_every == 0:
            self.save_samples(self.run_dir / "samples" / f"iter{it:07d}.png")

    @torch.no_grad()
    def save_samples(self, path: Path) -> None:
        """Held-out images (top row) and their reconstructions at the low and high training SNRs."""
        if self.sample_images is None:
            return
        x = self.sample_images.to(self.device)
        was_training = self.model.training
        self.model.eval()
        rows = [x]
        for snr in (self.hparams.snr_low, self.hparams.snr_high):
            g = torch.Generator(device=x.device).manual_seed(0)
            rows.append(self.model(x, self.channel, snr, generator=g))
        self.model.train(was_training)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(image_grid(torch.cat(rows).cpu(), cols=x.shape[0]), path)


def latent_error(predicted_ws: Tensor, target_w: Tensor, w_avg: Tensor) -> Tensor:
    """``mean |ŵ - w|² / mean |w - w_avg|²`` over a batch: predicted ``ws [B, num_ws, w_dim]`` against the
    latent ``w [B, w_dim]`` that made each image (every row); 1 is what predicting ``w_avg`` scores."""
    target = target_w.to(predicted_ws.dtype).unsqueeze(1)
    spread = (target - w_avg).square().mean().clamp_min(1e-8)
    return (predicted_ws - target).square().mean() / spread


SESSION_FIELDS = ("workers", "sample_every")


def _build_module(args: GenerativeJSCCTrainArgs, options: TrainerOptions) -> GenerativeJSCCModule:
    prior = load_stylegan2(args.prior)
    config = args.model_config(prior.config.to_dict())
    snr_low, snr_high = parse_snr_spec(args.snr)
    module = GenerativeJSCCModule(config.to_dict(), args.channel, snr_low, snr_high, args.lr, args.synthesis_lr,
                                  args.freeze_synthesis, args.lpips_weight, args.head_lr, args.lpips_net,
                                  args.adversarial_weight, args.r1_gamma, options.steps, args.latent_weight,
                                  args.latent_steps)
    if args.prior_init:
        module.model.load_prior(prior)  # a resumed run then loads its checkpoint over these
    if args.init_jscc:
        module.model.load_deepjscc(DeepJSCC.from_weights(args.init_jscc))
    if args.init:
        initial = GenerativeJSCC.from_weights(args.init)
        if initial.config != module.model.config:
            theirs, mine = initial.config.to_dict(), module.model.config.to_dict()
            diff = ", ".join(f"{k} {theirs[k]} (this command: {mine[k]})" for k in mine if theirs[k] != mine[k])
            raise ValueError(f"--init {args.init} is another model: {diff}; give the flags it was trained with")
        module.model.load_state_dict(initial.state_dict())
    return module


def _train_loader(args: GenerativeJSCCTrainArgs, options: TrainerOptions, start: int = 0):
    """The training stream; with the latent term, prior samples come with the latents that made them."""
    dataset = None
    if args.latent_weight > 0:
        from genjscc.data.prior import prior_dataset

        length = max(50_000, options.steps * args.batch_size)
        dataset = prior_dataset(args.data.partition(":")[2], "train", args.size, seed=args.seed, length=length,
                                with_latents=True)
    return training_stream(args, options, start, dataset=dataset)


def _prepare(module: GenerativeJSCCModule, args: GenerativeJSCCTrainArgs, run_dir: Path) -> None:
    module.run_dir, module.sample_every = run_dir, args.sample_every
    if args.sample_every:
        module.sample_images = stack(load_dataset(args.data, "test", args.size, limit=8, **args.data_options()))


def _export(module: GenerativeJSCCModule, trainer, args: GenerativeJSCCTrainArgs, info: dict) -> Path:
    out = Path(trainer.default_root_dir)
    module.save_samples(out / "samples" / "final.png")
    meta = {
        "kind": "generative",
        "config": module.model.config.to_dict(),
        "training": {**asdict(args), "bcr": str(module.model.bcr(args.size, args.size)), "steps": info["iterations"],
                     "images_seen": info["iterations"] * args.batch_size * info["world_size"], **info},
    }
    return save_weights(out / "model.safetensors", module.model.state_dict(), meta, card=generative_card(meta))


def train_generative(args: GenerativeJSCCTrainArgs, out: Path, options: TrainerOptions, resume: bool = False,
                     command: str = "") -> Path:
    """Train (or resume) a GenerativeJSCC and export ``out/model.safetensors``; returns its path."""
    job = TrainingJob(args=args, build_module=_build_module, train_loader=_train_loader, export=_export,
                      session_fields=SESSION_FIELDS, prepare=_prepare)
    return run_training(job, out, options, resume=resume, command=command)


def _decoder_line(c: dict, g: dict) -> str:
    prior = f"{g['img_resolution']}x{g['img_resolution']} prior, w {g['w_dim']}, channels <= {g['channel_max']}"
    if c.get("decoder", "residual") == "synthesis":
        return (f"- Decoder: synthesis: the whole StyleGAN2 synthesis network ({prior}) draws the image from "
                f"{c['w_codes']} predicted w code(s); DeepJSCC's residual-GDN decoder trunk gives the codes and "
                f"features added to every block's output from {c['inject_resolution']}x{c['inject_resolution']} on; "
                "no base image")
    return (f"- Decoder: DeepJSCC's residual-GDN decoder gives the base image; its features feed the StyleGAN2 "
            f"synthesis from block {c['inject_resolution']}x{c['inject_resolution']} ({prior}; {c['w_codes']} w code(s), "
            f"noise predicted: {c['predict_noise']}), whose output is added with a learnt gain")


def generative_card(meta: dict, metrics_table: str = "") -> str:
    t, c = meta["training"], meta["config"]
    g = c["generator"]
    lines = [
        "# GenerativeJSCC model card",
        "",
        f"- Encoder: residual GDN (width {c['width']}, {c['blocks']} residual blocks, SNR-adaptive), f = {c['downsample']}, "
        f"C = {c['channels']}; BCR {t['bcr']}",
        _decoder_line(c, g),
        f"- Prior: `{Path(t['prior']).name}` (synthesis initialised from it: {t['prior_init']})"
        + (f"; encoder and head trunk from `{Path(t['init_jscc']).name}`" if t.get("init_jscc") else "")
        + (f"; the whole model then from `{Path(t['init']).name}`" if t.get("init") else ""),
        f"- Data: `{t['data']}` at {t['size']}x{t['size']}; channel {t['channel']}, training SNR {t['snr']} dB",
        f"- Loss: MSE + {t['lpips_weight']} LPIPS-{t['lpips_net']}"
        + (f" + {t['adversarial_weight']} GAN" if t.get("adversarial_weight") else "")
        + (f" + {t['latent_weight']} latent term (the first {t.get('latent_steps', 0)} iterations on it alone)"
           if t.get("latent_weight") else ""),
        f"- Steps: {t['steps']} (batch {t['batch_size']}, {t['images_seen']} images), seed {t['seed']}; synthesis frozen "
        f"for {t['freeze_synthesis']} iterations, lr {t['lr']} (DeepJSCC parts) / {t['head_lr']} (prior feed) / "
        f"{t['synthesis_lr']} (synthesis)",
        f"- Wall time: {t['wall_time_s_last_session']} s last session, {t.get('wall_time_s_total')} s in all, on "
        f"{t['hardware']}, torch {t['torch']}",
        f"- Command: `{t['command']}`",
        *[f"- Resumed with: `{cmd}`" for cmd in t.get("commands", [])[1:]],
    ]
    if c.get("decoder", "residual") == "residual" and "photos" in str(t["data"]):
        lines.append("- Why this design ships for photos: the synthesis decoder (the prior draws the whole image) wins "
                     "in range by 0.6-1.4 dB and 0.10-0.33 LPIPS, but the shipped prior cannot draw photos (a synthesis "
                     "decoder trained in range scores 14.5-15.6 dB on the held-out crops); the residual decoder keeps "
                     "DeepJSCC's base image and adds only what the prior can draw (README, 'GenerativeJSCC vs DeepJSCC')")
    if metrics_table:
        lines += ["", "## Measured", "", metrics_table]
    return "\n".join(lines) + "\n"
