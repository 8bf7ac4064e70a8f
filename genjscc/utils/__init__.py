"""Base utilities every layer may use; they import nothing else of genjscc.

- :mod:`.atomic`: files written whole or not at all;
- :mod:`.images`: reading and writing [0, 1] image tensors, clear data errors;
- :mod:`.weights`: safetensors + JSON config files, content hashes;
- :mod:`.assets`: offline pretrained weights read from installed packages, the user cache;
- :mod:`.cache`: the disk cache directory; :mod:`.safe_pickle`: unpicklers that run no code;
- :mod:`.compile`: ``torch.compile`` with an eager fallback; :mod:`.allocator`: opt-in glibc tuning.
"""
