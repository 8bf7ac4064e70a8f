"""A CheckedSNR is checked once, where it is made: a channel takes it without reading its values back."""

from __future__ import annotations

import math

import pytest
import torch

from genjscc.channel import AWGN, BlockRayleigh, CheckedSNR, check_snr, snr_tensor


def test_check_snr_checks_then_marks():
    checked = check_snr(2.0, 3)
    assert isinstance(checked, CheckedSNR) and torch.equal(checked.db, torch.full((3,), 2.0))
    assert torch.equal(check_snr(torch.tensor([1.0, -1.0]), 2).db, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="out of range"):
        check_snr(1000.0, 2)
    with pytest.raises(ValueError, match="finite"):
        check_snr(torch.tensor([0.0, math.inf]), 2)
    with pytest.raises(ValueError, match=r"tensor \[B=3\]"):
        snr_tensor(check_snr(0.0, 2), 3)  # its length is still compared with the batch


@pytest.mark.parametrize("channel", [AWGN(), BlockRayleigh(csi="mmse")], ids=["awgn", "rayleigh"])
def test_a_checked_snr_is_not_read_back(channel):
    # 'meta' tensors have no values: any check of them (a read-back) raises, so the channel must not check again
    z = torch.zeros(2, 8, dtype=torch.complex64, device="meta")
    checked = check_snr(torch.tensor([0.0, 5.0]), 2, "meta")  # checked on the host, then moved
    assert checked.db.device.type == "meta"
    y = channel(z, checked)
    assert y.shape == (2, 8) and y.device.type == "meta"
    with pytest.raises(RuntimeError, match="meta"):
        channel(z, checked.db)  # the same values unmarked: the channel checks them, which needs a read-back
