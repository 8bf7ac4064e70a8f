"""Check genjscc's StyleGAN2 against NVlabs' stylegan2-ada-pytorch (a checkout you provide; nothing is copied).

    python benchmarks/stylegan2_equivalence.py --reference PATH/TO/stylegan2-ada-pytorch

Builds small random generators with the reference code at two resolutions (one with conv_clamp),
pickles them as its training loop does (``pickle.dump`` of ``{"G", "D", "G_ema", ...}``), loads the
pickle with :func:`genjscc.models.stylegan2.load_stylegan2` (restricted unpickler) and compares
``G(z, None, psi, noise_mode="const")`` with ours for several psi; the discriminators are compared
through their (identical) state-dict keys. Runs on CPU with the reference's plain-PyTorch ops.
Prints one JSON document; every max_abs should be <= 1e-4.
"""

import argparse
import copy
import json
import pickle
import tempfile
from pathlib import Path

import torch

from genjscc.models.stylegan2 import Discriminator, load_stylegan2

CONFIGS = [  # (resolution, channel_base, channel_max, conv_clamp, mapping layers)
    (16, 512, 64, None, 2),
    (32, 1024, 64, 256, 3),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True, help="path to an NVlabs stylegan2-ada-pytorch checkout")
    args = parser.parse_args()
    from nvlabs_reference import nvlabs_classes

    RefG, RefD = nvlabs_classes(args.reference)
    import dnnlib

    report = {"generator": [], "discriminator": []}
    with tempfile.TemporaryDirectory() as tmp:
        for res, cbase, cmax, clamp, nmap in CONFIGS:
            torch.manual_seed(res)
            G = RefG(z_dim=48, c_dim=0, w_dim=40, img_resolution=res, img_channels=3,
                     mapping_kwargs=dnnlib.EasyDict(num_layers=nmap),
                     synthesis_kwargs=dnnlib.EasyDict(channel_base=cbase, channel_max=cmax, num_fp16_res=0, conv_clamp=clamp))
            with torch.no_grad():  # move off the initialisation so that every parameter matters
                for p in G.parameters():
                    p.add_(0.3 * torch.randn_like(p))
                G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg))
            G_ema = copy.deepcopy(G).eval().requires_grad_(False).cpu()
            path = Path(tmp) / f"network-snapshot-{res}.pkl"
            with open(path, "wb") as fh:
                pickle.dump({"G": G_ema, "D": None, "G_ema": G_ema, "augment_pipe": None,
                             "training_set_kwargs": dnnlib.EasyDict(resolution=res)}, fh)
            ours = load_stylegan2(path)
            z = torch.randn(8, 48)
            for psi, noise in ((1.0, "const"), (0.7, "const"), (0.5, "const"), (1.0, "none")):
                with torch.no_grad():
                    ref = G_ema(z, None, truncation_psi=psi, noise_mode=noise)
                    out = ours(z, truncation_psi=psi, noise_mode=noise)
                report["generator"].append({"resolution": res, "conv_clamp": clamp, "psi": psi, "noise_mode": noise,
                                            "max_abs": (ref - out).abs().max().item(), "ref_max_abs_value": ref.abs().max().item()})
            D = RefD(c_dim=0, img_resolution=res, img_channels=3, channel_base=cbase, channel_max=cmax, conv_clamp=clamp,
                     epilogue_kwargs={"mbstd_group_size": 4}).eval()
            with torch.no_grad():
                for p in D.parameters():
                    p.add_(0.3 * torch.randn_like(p))
            mine = Discriminator(img_resolution=res, channel_base=cbase, channel_max=cmax, conv_clamp=clamp).eval()
            mine.load_state_dict(D.state_dict())
            x = torch.randn(8, 3, res, res)
            with torch.no_grad():
                report["discriminator"].append({"resolution": res, "max_abs": (D(x, None) - mine(x)).abs().max().item()})
    report["worst_max_abs"] = max(r["max_abs"] for part in ("generator", "discriminator") for r in report[part])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
