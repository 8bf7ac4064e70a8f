import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)
    yield


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Disk caches (the separation fallback's mean image) go to a folder of the test session, not ~/.cache."""
    monkeypatch.setenv("GENJSCC_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny SNR-adaptive DeepJSCC (BCR 1/48 at f = 8) saved as a weight file: a model for CLI tests."""
    from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
    from genjscc.utils.weights import save_weights

    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4), snr_adaptive=True))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_weights(path, model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})


from support import TINY_PRIOR_CONFIG  # noqa: E402


@pytest.fixture(scope="session")
def tiny_prior(tmp_path_factory):
    """A tiny random StyleGAN2 generator (16x16, w 32) saved as a project weight file: a prior for tests."""
    from genjscc.models.stylegan2 import Generator, GeneratorConfig
    from genjscc.utils.weights import save_weights

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(**TINY_PRIOR_CONFIG))
    with torch.no_grad():  # a w_avg as training would track it
        G.mapping.w_avg.copy_(G.mapping(torch.randn(256, G.z_dim))[:, 0].mean(0))
    path = tmp_path_factory.mktemp("prior") / "tiny-prior.safetensors"
    return save_weights(path, G.state_dict(), {"kind": "stylegan2", "config": G.config.to_dict()})
