"""Classical image codecs behind one interface, with rate control to a byte budget.

A :class:`Codec` turns an image ``[3, H, W]`` float in [0, 1] into the *largest* file that
fits ``max_bytes`` (binary search over the codec's quality setting) and back. "Does not
fit" is a result (``None``), never an exception: header and container floors make tiny
images cost about a hundred to several hundred bytes in every codec (each codec's floor at
64x64: ``benchmarks/README.md``, "Measured without a script").

Conventions:

* The whole file counts, headers and container included; no metadata is written (no EXIF,
  XMP or ICC profile; JPEG 2000 as a bare codestream without the JP2 box and without the
  comment marker OpenJPEG adds, 39 bytes; HEIF without the NCLX colour box). What is left is
  what a decoder needs: JPEG's JFIF APP0 (18 bytes), AVIF's nclx ``colr`` box (19 bytes: the
  YUV matrix). Images are quantised to 8 bits before encoding.
* Any H x W: codecs whose encoder needs even sides (HEIF/HEVC 4:2:0) get the image padded by
  edge replication; :meth:`Codec.decode` crops back to the original ``size`` (H, W) when given
  it (the others decode at H x W; checked for every codec at odd sizes such as 451 x 300).
* File size is monotone in quality only approximately; the search returns the best quality
  it *verified* to fit, so the budget is never exceeded.
"""

from __future__ import annotations

import hashlib
import io
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ["Codec", "JPEG", "JPEG2000", "WebP", "AVIF", "HEIF", "CODECS", "build_codec", "to_uint8", "from_uint8",
           "strip_j2k_comments"]


def to_uint8(image: Tensor) -> np.ndarray:
    """``[3, H, W]`` float in [0, 1] -> ``[H, W, 3]`` uint8 (rounded)."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"codecs take images [3, H, W], got {tuple(image.shape)}")
    return (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """``[H, W, 3]`` uint8 -> ``[3, H, W]`` float in [0, 1]."""
    return torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0


class Codec(ABC):
    """An image codec with rate control: ``encode(image, max_bytes) -> bytes | None``.

    Subclasses give :attr:`qualities` (settings in order of increasing file size) and
    :meth:`encode_at`; the base class does the search, padding and caching.
    """

    name: str = "codec"
    pad_to: int = 1  # pad sides to a multiple of this before encoding
    cache_size: int = 20_000  # (image, quality) -> file; a sweep revisits each image at many budgets

    def __init__(self):
        self._cache: OrderedDict[tuple[bytes, int], bytes] = OrderedDict()

    @property
    @abstractmethod
    def qualities(self) -> Sequence:
        """Quality settings, ordered so that file size grows (approximately) along the list."""

    @abstractmethod
    def encode_at(self, array: np.ndarray, quality) -> bytes:
        """Encode ``[H, W, 3]`` uint8 (already padded) at one quality setting."""

    @abstractmethod
    def library_version(self) -> str:
        """Version string of the encoder library."""

    @property
    def description(self) -> str:
        return f"{self.name} ({self.library_version()})"

    # ------------------------------------------------------------------ public API

    def encode(self, image: Tensor, max_bytes: int) -> bytes | None:
        """Largest file (best quality found) of ``image [3, H, W]`` within ``max_bytes``; None if none fits."""
        if max_bytes <= 0:
            return None
        array = self._pad(to_uint8(image))
        key = hashlib.blake2b(array.tobytes() + bytes(str(array.shape), "ascii"), digest_size=16).digest()
        qualities = self.qualities
        lo, hi, best = 0, len(qualities) - 1, None
        smallest = self._encode_cached(key, array, 0, qualities)
        if len(smallest) > max_bytes:
            return None
        best, lo = smallest, 1
        while lo <= hi:  # invariant: quality index lo-1 fits
            mid = (lo + hi) // 2
            data = self._encode_cached(key, array, mid, qualities)
            if len(data) <= max_bytes:
                best, lo = data, mid + 1
            else:
                hi = mid - 1
        return best

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> Tensor:
        """File -> ``[3, H, W]`` float in [0, 1]; crops padding to ``size = (H, W)`` when given."""
        with Image.open(io.BytesIO(data)) as im:
            array = np.asarray(im.convert("RGB"))
        if size is not None:
            array = array[: size[0], : size[1]]
        return from_uint8(array)

    def round_trip(self, image: Tensor, max_bytes: int) -> tuple[Tensor | None, int]:
        """Decoded image (None if it does not fit) and the file size in bytes (0 if none)."""
        data = self.encode(image, max_bytes)
        if data is None:
            return None, 0
        return self.decode(data, tuple(image.shape[-2:])), len(data)

    # ------------------------------------------------------------------ helpers

    def _pad(self, array: np.ndarray) -> np.ndarray:
        h, w = array.shape[:2]
        ph, pw = (-h) % self.pad_to, (-w) % self.pad_to
        if ph or pw:
            array = np.pad(array, ((0, ph), (0, pw), (0, 0)), mode="edge")
        return array

    def _encode_cached(self, key: bytes, array: np.ndarray, index: int, qualities: Sequence) -> bytes:
        k = (key, index)
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        data = self.encode_at(array, qualities[index])
        self._cache[k] = data
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return data

    @staticmethod
    def _save(array: np.ndarray, fmt: str, **params) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array, mode="RGB").save(buffer, format=fmt, **params)
        return buffer.getvalue()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _pillow_version(feature: str | None = None) -> str:
    import PIL
    from PIL import features

    lib = f", {feature} {features.version(feature)}" if feature else ""
    return f"Pillow {PIL.__version__}{lib}"


class JPEG(Codec):
    """Baseline JPEG (libjpeg via Pillow), optimised Huffman tables, 4:2:0; quality 1..95."""

    name = "jpeg"
    qualities = tuple(range(1, 96))

    def encode_at(self, array, quality):
        return self._save(array, "JPEG", quality=int(quality), optimize=True)

    def library_version(self):
        return _pillow_version("jpg")


class JPEG2000(Codec):
    """JPEG 2000 (OpenJPEG via Pillow), irreversible 9/7 wavelet, bare codestream (.j2k).

    The setting is OpenJPEG's target compression ratio (raw RGB bytes / file bytes), on a
    geometric grid from 2000:1 down to 2:1.
    """

    name = "jpeg2000"
    qualities = tuple(2000.0 * (1 / 1000) ** (i / 127) for i in range(128))

    def encode_at(self, array, quality):
        levels = max(1, min(6, int(math.log2(max(1, min(array.shape[:2])))) - 1))
        return strip_j2k_comments(self._save(
            array, "JPEG2000", quality_mode="rates", quality_layers=[float(quality)], irreversible=True,
            no_jp2=True, num_resolutions=levels,
        ))

    def library_version(self):
        return _pillow_version("jpg_2000")


def strip_j2k_comments(data: bytes) -> bytes:
    """A JPEG 2000 codestream without its main header's COM marker segments (OpenJPEG writes
    "Created by OpenJPEG version ..." there, 39 bytes, whatever Pillow asks). The header is SOC
    followed by marker segments (2-byte marker, 2-byte length that counts itself) up to the first
    SOT; anything else is returned unchanged."""
    if data[:2] != b"\xff\x4f":
        return data
    out, i = [data[:2]], 2
    while i + 4 <= len(data):
        marker = data[i:i + 2]
        if marker == b"\xff\x90":  # SOT: the tile-parts follow, keep the rest as it is
            out.append(data[i:])
            return b"".join(out)
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker[0] != 0xFF or length < 2:
            return data  # not the header layout expected: leave the file alone
        if marker != b"\xff\x64":  # COM
            out.append(data[i:i + 2 + length])
        i += 2 + length
    return data


class WebP(Codec):
    """Lossy WebP (libwebp via Pillow), method 6 (slowest, smallest); quality 0..100."""

    name = "webp"
    qualities = tuple(range(0, 101))

    def encode_at(self, array, quality):
        return self._save(array, "WEBP", quality=int(quality), method=6)

    def library_version(self):
        return _pillow_version("webp")


class AVIF(Codec):
    """AVIF (AV1 intra, libavif via Pillow), 4:2:0, speed 6; quality 0..100."""

    name = "avif"
    qualities = tuple(range(0, 101))

    def encode_at(self, array, quality):
        return self._save(array, "AVIF", quality=int(quality), speed=6, subsampling="4:2:0")

    def library_version(self):
        return _pillow_version("avif")


class HEIF(Codec):
    """HEIF with HEVC intra (x265 via pillow-heif): the BPG equivalent; quality 0..100.

    HEVC 4:2:0 needs even sides: odd images are padded by edge replication.
    """

    name = "heif"
    pad_to = 2
    qualities = tuple(range(0, 101))

    def __init__(self):
        super().__init__()
        import pillow_heif

        pillow_heif.register_heif_opener()
        self._pillow_heif = pillow_heif

    def encode_at(self, array, quality):
        return self._save(array, "HEIF", quality=int(quality), save_nclx_profile=False)

    def library_version(self):
        info = self._pillow_heif.libheif_info()
        return f"pillow-heif {self._pillow_heif.__version__}, libheif {info.get('libheif')}, {info.get('HEIF')}"


CODECS: dict[str, type[Codec]] = {c.name: c for c in (JPEG, JPEG2000, WebP, AVIF, HEIF)}
_ALIASES = {"jpg": "jpeg", "j2k": "jpeg2000", "jp2": "jpeg2000", "jpeg-2000": "jpeg2000", "heic": "heif"}


def build_codec(name: str) -> Codec:
    """A codec by name: jpeg, jpeg2000, webp, avif, heif (aliases: jpg, j2k, heic)."""
    key = _ALIASES.get(name.lower().strip(), name.lower().strip())
    if key not in CODECS:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}")
    return CODECS[key]()
