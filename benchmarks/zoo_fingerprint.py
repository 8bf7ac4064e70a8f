"""Fingerprints of what every shipped model outputs: the check that a refactor changed no number.

Question it answers: *are the shipped models' outputs bit-identical before and after a change?*
Each zoo scheme (and the separation and inverse schemes on top of them, and the prior's samples)
transmits the first 8 held-out photo crops at 64x64 over AWGN and block Rayleigh (MMSE) at 0 dB
with seeded noise; the script prints the SHA-256 of each output tensor's bytes, one line per case,
as JSON. Run it on two checkouts and compare:

    PYTHONPATH=OLD python benchmarks/zoo_fingerprint.py > old.json
    PYTHONPATH=NEW python benchmarks/zoo_fingerprint.py > new.json && diff old.json new.json

Weight files given as arguments are fingerprinted too (models that are not shipped).

Uses only the public entry points (``build_scheme``, ``Scheme.transmit``, the data specs), and reads
a transmit result either as a tensor or as an object with ``.images``, so both sides of a change run it.
"""

from __future__ import annotations

import hashlib
import json
import sys

import torch


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def _give_training_mean(scheme) -> None:
    """Where the code still hands the separation fallback over from outside (as evaluate does), do so."""
    try:
        from genjscc.evaluation.evaluate import prepare_scheme
    except ImportError:
        try:
            from genjscc.evaluate import prepare_scheme
        except ImportError:
            return  # the scheme's builder gives it its fallback image
    prepare_scheme(scheme, "photos", 64, 64)


def main() -> None:
    torch.set_num_threads(1)  # thread count can change float reduction order; fix it
    from genjscc.channel import AWGN, BlockRayleigh
    from genjscc.data import load_dataset, stack
    from genjscc.schemes import build_scheme

    images = stack(load_dataset("photos", "test", 64, limit=8))
    cases = {name: (name, {}) for name in (
        "deepjscc-64-bcr1_12", "deepjscc-64-bcr1_48", "deepjscc-64-bcr1_192", "deepjscc-paper-64-bcr1_12",
        "deepjscc-paper-64-bcr1_48", "deepjscc-64-bcr1_12-ofdm", "generative-64-bcr1_48", "generative-64-bcr1_192")}
    for path in sys.argv[1:]:  # more weight files (e.g. a synthesis-decoder GenerativeJSCC under runs/)
        cases[path] = (path, {})
    cases["separation-webp-1_12"] = ("separation", {"codec": "webp", "bcr": "1/12"})
    cases["inverse-1_48-steps3"] = ("inverse", {"jscc": "deepjscc-64-bcr1_48", "steps": 3, "consistency": False})
    out = {}
    for label, (spec, options) in cases.items():
        scheme = build_scheme(spec, **options)
        _give_training_mean(scheme)
        for channel in (AWGN(), BlockRayleigh(csi="mmse")):
            g = torch.Generator().manual_seed(7)
            with torch.no_grad() if spec != "inverse" else torch.enable_grad():
                result = scheme.transmit(images, channel, 0.0, generator=g)
            out[f"{label} {channel.name}"] = _digest(getattr(result, "images", result))
    from genjscc.models.stylegan2 import load_stylegan2
    from genjscc.zoo import resolve_model

    G = load_stylegan2(resolve_model("stylegan2-photos64")).eval()
    with torch.no_grad():
        out["stylegan2-photos64 samples"] = _digest(G(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(3)),
                                                      truncation_psi=0.7, noise_mode="const"))
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
