"""Scheme options declared as a dataclass: the registry, ``--set`` and ``--config`` take names, types,
defaults and help from it; nested settings (InverseJSCC's ILOSettings) are options under their own names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.cli.options import parse_set_options
from genjscc.schemes import SCHEMES, Scheme, Transmission, build_scheme, register_scheme, scheme_option_fields
from genjscc.schemes.options import scheme_option

runner = CliRunner()


@dataclass(frozen=True)
class Inner:
    rounds: tuple[int, ...] = (10,)
    weight: float = 1.0


@dataclass(frozen=True)
class ToyOptions:
    level: float = scheme_option(0.5, help="grey level of every output pixel")
    repeats: int = scheme_option(1, help="how often to send")
    loud: bool = scheme_option(False, help="say so")
    name: str | None = scheme_option(None, help="a label")
    inner: Inner = scheme_option(default_factory=Inner, help="nested settings")


class Toy(Scheme):
    kind = "toy"

    def __init__(self, options: ToyOptions):
        super().__init__(f"toy-{options.level}")
        self.chosen = options

    def transmit(self, images, channel, snr_db, *, generator=None):
        return Transmission(torch.full_like(images, self.chosen.level))


@pytest.fixture
def toy():
    @register_scheme("toy", ToyOptions)
    def build_toy(model, options: ToyOptions) -> Scheme:
        return Toy(options)

    yield
    SCHEMES.pop("toy", None)


def test_set_text_is_read_as_each_fields_type(toy):
    given = parse_set_options(["level=0.25", "repeats=3", "loud=yes", "name=x", "rounds=50,25", "weight=2"], None)
    scheme = build_scheme("toy", **given)
    assert scheme.chosen == ToyOptions(level=0.25, repeats=3, loud=True, name="x", inner=Inner((50, 25), 2.0))
    assert build_scheme("toy", level="0.75", rounds="7", repeats=2.0).chosen == \
        ToyOptions(level=0.75, repeats=2, inner=Inner((7,)))
    assert build_scheme("toy", rounds=[3, 2]).chosen.inner.rounds == (3, 2)  # a YAML list
    assert build_scheme("toy").chosen == ToyOptions()  # defaults from the dataclass
    # a record keeps the options as given, text read as a scalar option's type
    assert scheme.options == {"level": 0.25, "repeats": 3, "loud": True, "name": "x", "rounds": "50,25", "weight": 2.0}


@pytest.mark.parametrize("given, message", [
    ({"level": "abc"}, "scheme option level takes a number, got 'abc'"),
    ({"repeats": "many"}, "scheme option repeats takes a whole number, got 'many'"),
    ({"repeats": 2.5}, "scheme option repeats takes a whole number, got 2.5"),
    ({"loud": "maybe"}, "scheme option loud takes true or false, got 'maybe'"),
    ({"rounds": "5,x"}, "rounds must be whole numbers such as 50,50"),
    ({"colour": "red"}, "scheme 'toy' has no option colour; its options: level, loud, name, repeats, rounds, weight"),
])
def test_bad_values_and_names_are_errors_that_name_the_option(toy, given, message):
    with pytest.raises(ValueError) as error:
        build_scheme("toy", **given)
    assert message in str(error.value)


def test_cli_set_and_config_reach_the_dataclass(toy, tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("level: 0.25\nrounds: [4, 4]\n")
    result = runner.invoke(app, ["evaluate", "toy", "--config", str(config), "--set", "repeats=2", "--limit", "1",
                                 "--snr", "0", "--metrics", "psnr", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"model": "toy-0.25"' in result.stdout
    result = runner.invoke(app, ["evaluate", "toy", "--set", "weight=heavy", "--limit", "1"])
    assert result.exit_code == 2 and "scheme option weight takes a number, got 'heavy'" in result.output


def test_option_fields_give_type_default_and_help(toy):
    fields = scheme_option_fields("toy")
    assert list(fields) == ["level", "repeats", "loud", "name", "rounds", "weight"]
    assert (fields["level"].type, fields["level"].default, fields["level"].help) == (float, 0.5, "grey level of every output pixel")
    assert fields["rounds"].path == ("inner", "rounds") and fields["rounds"].default == (10,)
    separation = scheme_option_fields("separation")
    assert separation["training_data"].default == "photos" and separation["training_data"].follows_data
    assert all(f.help for f in separation.values())


def test_inverse_takes_every_ilo_setting_by_its_own_name(tiny_model, tiny_prior):
    from dataclasses import fields

    from genjscc.inversion import ILOSettings

    names = set(scheme_option_fields("inverse"))
    assert {f.name for f in fields(ILOSettings)} <= names
    scheme = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), steps="5,3", lr="0.2",
                          rampup=0.1, optimize_noise="true", radii="10,20")
    assert scheme.settings == ILOSettings(steps=(5, 3), lr=0.2, rampup=0.1, optimize_noise=True, radii=(10.0, 20.0))
    assert type(scheme.settings) is ILOSettings  # the solver's own class: the calibration key is unchanged


def test_a_keyword_builder_still_registers(tmp_path):
    """A third-party builder without a dataclass: its keyword-only arguments are its options."""
    def build_grey(model, *, level: float = 0.5, name: str = "g"):
        return Toy(ToyOptions(level=level))

    register_scheme("keywordgrey")(build_grey)
    try:
        assert list(scheme_option_fields("keywordgrey")) == ["level", "name"]
        assert build_scheme("keywordgrey", level="0.125").chosen.level == 0.125
        with pytest.raises(ValueError, match="has no option shade; its options: level, name"):
            build_scheme("keywordgrey", shade=1)
    finally:
        SCHEMES.pop("keywordgrey", None)
