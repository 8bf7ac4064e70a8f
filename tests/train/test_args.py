"""Training arguments: shared fields checked once, architecture flags taken from the model configs."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.models.stylegan2 import DiscriminatorConfig, GeneratorConfig
from genjscc.train.args import (
    STYLEGAN2_ARCHITECTURE,
    DeepJSCCTrainArgs,
    GenerativeJSCCTrainArgs,
    StyleGAN2TrainArgs,
    config_options,
)

TRAINERS = [DeepJSCCTrainArgs, StyleGAN2TrainArgs, GenerativeJSCCTrainArgs]


@pytest.mark.parametrize("cls", TRAINERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad, message", [({"batch_size": 0}, "--batch-size must be >= 1, got 0"),
                                          ({"lr": 0.0}, "--lr must be > 0, got 0.0"),
                                          ({"lr": -1e-3}, "--lr must be > 0, got -0.001")])
def test_every_trainer_checks_batch_and_learning_rate_alike(cls, bad, message):
    with pytest.raises(ValueError) as info:
        cls(**bad)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", [DeepJSCCTrainArgs, GenerativeJSCCTrainArgs], ids=lambda c: c.__name__)
def test_lpips_and_channel_arguments_are_checked_alike(cls):
    with pytest.raises(ValueError, match=r"^--lpips-net must be vgg or alex, got 'squeeze'$"):
        cls(lpips_net="squeeze")
    with pytest.raises(ValueError, match=r"^--lpips-weight must be >= 0, got -0.5$"):
        cls(lpips_weight=-0.5)
    with pytest.raises(ValueError, match="cannot read the SNR"):
        cls(snr="5,abc")
    with pytest.raises(ValueError, match="not reachable"):
        cls(bcr="1/50")


def test_stylegan2_architecture_flags_are_generator_config_fields():
    hints, config_hints = typing.get_type_hints(StyleGAN2TrainArgs), typing.get_type_hints(GeneratorConfig)
    by_name = {f.name: f for f in fields(StyleGAN2TrainArgs)}
    for name, (default, help) in STYLEGAN2_ARCHITECTURE.items():
        assert hints[name] == config_hints[name] and by_name[name].default == default
        assert by_name[name].metadata["help"] == help
    args = StyleGAN2TrainArgs(size=32, z_dim=24, w_dim=40, mapping_layers=2, mapping_lr_multiplier=0.1,
                              channel_base=512, channel_max=64)
    assert args.generator_config() == GeneratorConfig(img_resolution=32, z_dim=24, w_dim=40, mapping_layers=2,
                                                      mapping_lr_multiplier=0.1, channel_base=512, channel_max=64)
    assert args.discriminator_config() == DiscriminatorConfig(img_resolution=32, channel_base=512, channel_max=64)
    with pytest.raises(TypeError, match=r"GeneratorConfig has no fields \['z_size'\]"):
        config_options(GeneratorConfig, {"z_size": (8, "a field the config does not have")})


def test_model_configs_take_the_fields_they_share_with_the_arguments():
    from genjscc.models.deepjscc import DeepJSCCConfig
    from genjscc.models.generative_jscc import GenerativeJSCCConfig

    args = DeepJSCCTrainArgs(size=16, bcr="1/12", downsample=4, arch="resgdn", width=48, snr_adaptive=True,
                             filters="8,8,8,8")
    assert args.model_config() == DeepJSCCConfig(channels=8, downsample=4, filters=(8, 8, 8, 8), snr_adaptive=True,
                                                 arch="resgdn", width=48)
    prior = GeneratorConfig(img_resolution=16, z_dim=32, w_dim=32, channel_base=256, channel_max=32).to_dict()
    args = GenerativeJSCCTrainArgs(prior="p", size=16, bcr="1/12", downsample=4, width=32, blocks=1, w_codes=2,
                                   decoder="synthesis")
    assert args.model_config(prior) == GenerativeJSCCConfig(channels=8, generator=prior, downsample=4, width=32, blocks=1,
                                                            snr_adaptive=True, inject_resolution=8, w_codes=2,
                                                            decoder="synthesis")


def test_generated_flags_keep_their_help_and_defaults():
    result = CliRunner().invoke(app, ["train", "stylegan2", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0
    for name, (default, help) in STYLEGAN2_ARCHITECTURE.items():
        line = next(line for line in result.output.splitlines() if "--" + name.replace("_", "-") + " " in line)
        assert help.split(":")[0] in line and f"[default: {default}]" in line, line
