"""StyleGAN2Loss: each phase equals the inline computation the trainers did before it existed, bit for bit.

The references below are written out with plain ``F.softplus`` and ``torch.autograd.grad``, in the
order the StyleGAN2 trainer and GenerativeJSCC's adversarial term ran them (reals augmented
before fakes, one D pass on the reals shared by the main loss and R1), so a phase that changes
a value, a random draw or the gradient D receives fails here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genjscc.models.stylegan2 import Discriminator, DiscriminatorConfig
from genjscc.train.augment import DiffAugment
from genjscc.train.losses import StyleGAN2Loss

GAMMA, EVERY = 0.3, 4


@pytest.fixture()
def D():
    torch.manual_seed(0)
    return Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=64, channel_max=16))


def _images(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(4, 3, 16, 16, generator=g) * 2 - 1, torch.rand(4, 3, 16, 16, generator=g) * 2 - 1


def _grads(module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("regularise", [True, False])
def test_discriminator_phase_equals_the_inline_reference(D, regularise):
    real, fake = _images(1)
    augment = DiffAugment("color,translation,cutout")
    loss = StyleGAN2Loss(D, r1_gamma=GAMMA, r1_every=EVERY, augment=augment)

    torch.manual_seed(7)
    real_in = real.detach().requires_grad_(regularise)
    real_logits = D(augment(real_in))
    fake_logits = D(augment(fake))
    expected = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    if regularise:
        (grad,) = torch.autograd.grad(real_logits.sum(), [real_in], create_graph=True)
        r1 = grad.square().flatten(1).sum(dim=1).mean()
        expected = expected + r1 * (GAMMA / 2) * EVERY
    D.zero_grad(set_to_none=True)
    expected.backward()
    expected_grads = _grads(D)

    torch.manual_seed(7)
    d = loss.discriminator_main(real, fake, regularise=regularise)
    D.zero_grad(set_to_none=True)
    d.total.backward()
    assert torch.equal(d.total, expected.detach()) and torch.equal(d.real_logits, real_logits)
    assert torch.equal(d.fake_logits, fake_logits)
    assert all(torch.equal(a, b) for a, b in zip(_grads(D), expected_grads))
    assert (d.r1 is not None) == regularise
    if regularise:
        assert torch.equal(d.r1, r1) and d.r1 > 0


def test_generator_phase_reaches_the_images_only(D):
    _, fake = _images(2)
    fake = fake.requires_grad_(True)
    augment = DiffAugment("translation")
    torch.manual_seed(3)
    expected = F.softplus(-D(augment(fake))).mean()
    (expected_grad,) = torch.autograd.grad(expected, [fake])

    torch.manual_seed(3)
    value = StyleGAN2Loss(D, r1_gamma=GAMMA, r1_every=EVERY, augment=augment).generator_main(fake)
    value.backward()
    assert torch.equal(value, expected.detach()) and torch.equal(fake.grad, expected_grad)
    assert all(p.grad is None for p in D.parameters())  # D was frozen for the forward pass
    assert all(p.requires_grad for p in D.parameters())  # and trainable again afterwards


def test_frozen_features_regularise_the_heads_inputs():
    from genjscc.models.projected_discriminator import ProjectedDiscriminator, ProjectedDiscriminatorConfig

    torch.manual_seed(0)
    D = ProjectedDiscriminator(ProjectedDiscriminatorConfig(img_resolution=16, input_size=64))
    real, fake = _images(4)
    with torch.no_grad():
        features = D.features(torch.cat([real, fake]))
    real_in = [f[:4].requires_grad_(True) for f in features]
    real_logits = D.logits(real_in)
    grads = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
    r1 = sum(g.square().flatten(1).sum(dim=1) for g in grads).mean()
    expected = F.softplus(D.logits([f[4:] for f in features])).mean() + F.softplus(-real_logits).mean()
    expected = expected + r1 * (GAMMA / 2) * EVERY

    d = StyleGAN2Loss(D, r1_gamma=GAMMA, r1_every=EVERY, frozen_features=True).discriminator_main(real, fake,
                                                                                                  regularise=True)
    assert torch.equal(d.total, expected) and torch.equal(d.r1, r1)


def test_lazy_r1_schedule():
    D = torch.nn.Linear(1, 1)
    due = StyleGAN2Loss(D, r1_gamma=0.1, r1_every=4).r1_due
    assert [i for i in range(10) if due(i)] == [0, 4, 8]
    assert not any(StyleGAN2Loss(D, r1_gamma=0.0, r1_every=4).r1_due(i) for i in range(10))
    assert not any(StyleGAN2Loss(D, r1_gamma=0.1, r1_every=0).r1_due(i) for i in range(10))
    with pytest.raises(ValueError, match="r1_gamma and r1_every must be >= 0"):
        StyleGAN2Loss(D, r1_gamma=-1.0, r1_every=4)
