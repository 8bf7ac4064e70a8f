"""Image data: the embedded photo set, procedural dead leaves, mixes, image folders and CIFAR-10 batches.

Every dataset yields float images ``[3, S, S]`` in [0, 1]. A dataset is named by a spec:

* ``photos`` — real photographs that ship inside the scikit-image and scikit-learn wheels,
  split by **whole image** (:data:`PHOTO_SPLIT`). Training crops are random squares whose
  side is drawn log-uniformly between 1/4 and all of the image's short side, resized to
  S x S, randomly flipped. Test crops are fixed: each test image is resized so its short side
  is 1, 2 and 4 times S and cut into a grid of S x S tiles (centred).
* ``folder:PATH`` — every image Pillow reads below PATH (recursive). If PATH has ``train``
  and ``test`` sub-folders they are the split; otherwise a file goes to ``test`` when a hash
  of its relative path falls in the last 10 %. Training: random square crop of 80–100 % of
  the short side, resized, flipped; test: the centred square, resized.
* ``cifar10:PATH`` — the CIFAR-10 python batches (``data_batch_1..5``, ``test_batch``).

* ``deadleaves`` — procedural images (:mod:`.deadleaves`); ``A+B@f`` — mixes.
* ``prior:NAME`` or ``prior:NAME@PSI`` — in-range images sampled from a StyleGAN2 prior (a zoo
  name or a weight path) with fixed seeds, train and test from disjoint seed ranges
  (:mod:`.prior`; truncation 0.7 unless given).

Training datasets are map-style and deterministic: item ``i`` is drawn from a generator
seeded by ``(seed, i)``, so a resumed run sees the same crops. Modules: :mod:`.photos`,
:mod:`.files` (folders, CIFAR-10), :mod:`.datasets` (crops, fixed lists, mixes),
:mod:`.sampling` (the resumable stream), :mod:`.transforms`, :mod:`.specs` (datasets by spec),
:mod:`.mean_image` (the cached mean training image), :mod:`.native` (whole test images at their own size,
``--size native``); this package re-exports their public names.
"""

from genjscc.data.datasets import CROP_SCALES, CropDataset, FixedDataset, MixedDataset, TensorPool, pass_batch
from genjscc.data.files import FolderImages, load_cifar10
from genjscc.data.mean_image import training_mean_image
from genjscc.data.native import NATIVE, NativeImages, held_out_images, native_test_images, parse_size
from genjscc.data.photos import PHOTO_SPLIT, grid_crops, photo_images, photo_palette
from genjscc.data.sampling import StreamSampler
from genjscc.data.specs import crop_pool, load_dataset, stack, test_spec
from genjscc.utils.images import DataError, load_image, save_image

__all__ = [
    "PHOTO_SPLIT", "load_dataset", "load_image", "save_image", "photo_images", "photo_palette", "grid_crops",
    "CropDataset", "CROP_SCALES", "FixedDataset", "MixedDataset", "FolderImages", "load_cifar10", "DataError", "stack",
    "training_mean_image", "crop_pool", "StreamSampler", "TensorPool", "pass_batch", "test_spec",
    "NATIVE", "NativeImages", "held_out_images", "native_test_images", "parse_size",
]
