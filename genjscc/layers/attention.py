"""ADJSCC attention-feature (AF) module (Xu et al. 2021): SNR-conditioned channel scaling.

``s = sigmoid(FC(ReLU(FC([mean_hw(x), snr_db]))))`` rescales the channels of ``x [B, C, H, W]``
given the SNR in dB ``[B]``, so one JSCC model serves a range of SNRs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AttentionFeature"]


class AttentionFeature(nn.Module):
    """ADJSCC AF module: channel-wise scaling from pooled features and the SNR (dB)."""

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or max(channels // 2, 8)
        self.net = nn.Sequential(
            nn.Linear(channels + 1, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        context = torch.cat([x.mean(dim=(2, 3)), snr_db.unsqueeze(1).to(x.dtype)], dim=1)  # [B, C+1]
        return x * self.net(context)[:, :, None, None]
