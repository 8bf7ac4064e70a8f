import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)
    yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny SNR-adaptive DeepJSCC (BCR 1/48 at f = 8) saved as a weight file: a model for CLI tests."""
    from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
    from genjscc.weights import save_weights

    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4), snr_adaptive=True))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_weights(path, model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})
