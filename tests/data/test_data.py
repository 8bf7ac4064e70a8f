import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from genjscc.data import (
    PHOTO_SPLIT,
    DataError,
    grid_crops,
    load_dataset,
    load_image,
    photo_images,
    save_image,
    stack,
)


def test_photo_split_is_by_whole_image():
    assert not set(PHOTO_SPLIT["train"]) & set(PHOTO_SPLIT["test"])
    assert len(photo_images("test")) == len(PHOTO_SPLIT["test"])


def test_photo_test_crops_are_fixed_and_in_range():
    a = stack(load_dataset("photos", "test", 32))
    b = stack(load_dataset("photos", "test", 32))
    assert a.shape[1:] == (3, 32, 32) and a.shape[0] >= 60
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert a.std() > 0.05  # real pictures, not constants


def test_photo_training_crops_are_deterministic_per_seed():
    d0, d0b, d1 = (load_dataset("photos", "train", 64, seed=s) for s in (0, 0, 1))
    assert torch.equal(d0[7], d0b[7])
    assert not torch.equal(d0[7], d1[7])
    assert not torch.equal(d0[7], d0[8])
    assert d0[3].shape == (3, 64, 64)


def test_grid_crops_count():
    image = torch.zeros(3, 100, 150, dtype=torch.uint8)
    crops = grid_crops(image, 16, scales=(1, 2))
    # scale 1: 16 x 24 -> 1 x 1 tile; scale 2: 32 x 48 -> 2 x 3 tiles
    assert len(crops) == 1 + 6


def _write(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)


def test_folder_dataset_modes_and_split(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train" / "sub").mkdir(parents=True)
    (tmp_path / "test").mkdir()
    _write(tmp_path / "train" / "rgb.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    _write(tmp_path / "train" / "sub" / "gray.jpg", rng.integers(0, 255, (48, 48), dtype=np.uint8))
    _write(tmp_path / "test" / "alpha.png", rng.integers(0, 255, (64, 40, 4), dtype=np.uint8))
    train = load_dataset(f"folder:{tmp_path}", "train", 32, length=10)
    test = load_dataset(f"folder:{tmp_path}", "test", 32)
    assert len(train) == 10 and train[0].shape == (3, 32, 32)
    assert len(test) == 1 and test[0].shape == (3, 32, 32)


def test_folder_unreadable_files_listed_or_skipped(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(12):
        _write(tmp_path / f"ok{i}.png", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"(?s)broken\.png.*--skip-bad"):
        load_dataset(f"folder:{tmp_path}", "train", 32)
    ds = load_dataset(f"folder:{tmp_path}", "train", 32, skip_bad=True, length=5)
    assert ds[0].shape == (3, 32, 32)


def test_folder_small_images_rejected_or_resized(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    _write(tmp_path / "train" / "small.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    _write(tmp_path / "test" / "small.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"(?s)smaller than 32x32.*--resize-small"):
        load_dataset(f"folder:{tmp_path}", "train", 32)
    ds = load_dataset(f"folder:{tmp_path}", "test", 32, resize_small=True)
    assert ds[0].shape == (3, 32, 32)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(f"folder:{tmp_path / 'nope'}", "train", 32)
    with pytest.raises(DataError, match="no images"):
        load_dataset(f"folder:{tmp_path}", "train", 32)
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("imagenet", "train", 32)
    with pytest.raises(DataError, match="multiple of 8"):
        load_dataset("photos", "test", 30)


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
    with open(path, "wb") as fh:
        pickle.dump(batch, fh)


def test_cifar10_batches(tmp_path):
    for i in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{i}", 4, i)
    _cifar_batch(tmp_path / "test_batch", 3, 9)
    train = load_dataset(f"cifar10:{tmp_path}", "train", 32)
    test = load_dataset(f"cifar10:{tmp_path}", "test", 32)
    assert len(train) == 20 and len(test) == 3
    raw = pickle.load(open(tmp_path / "test_batch", "rb"))[b"data"][0].reshape(3, 32, 32)
    assert torch.allclose(test[0], torch.from_numpy(raw).float() / 255, atol=1e-6)


def test_cifar10_refuses_code_in_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil()}, fh)
    with pytest.raises(DataError, match="refusing"):
        load_dataset(f"cifar10:{tmp_path}", "test", 32)


def test_load_save_image_round_trip(tmp_path):
    x = torch.rand(3, 24, 40)
    save_image(x, tmp_path / "a.png")
    y = load_image(tmp_path / "a.png")
    assert y.shape == x.shape and (y - x).abs().max() <= 1 / 255 + 1e-6
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(DataError, match="cannot read"):
        (tmp_path / "bad.png").write_text("x")
        load_image(tmp_path / "bad.png")


def test_native_crops_are_pixels_of_the_image_at_its_own_scale():
    from genjscc.data.datasets import CropDataset

    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    native = CropDataset([image], 16, length=20, scale="native")
    windows = image.float().div(255).unfold(1, 16, 1).unfold(2, 16, 1)  # [3, 35, 55, 16, 16]: every 16 x 16 window
    windows = windows.permute(1, 2, 0, 3, 4).reshape(-1, 3, 16, 16)
    for i in range(20):
        crop = native[i]
        found = (windows - crop).abs().amax(dim=(1, 2, 3)).min() < 1e-6
        found_flipped = (windows - crop.flip(-1)).abs().amax(dim=(1, 2, 3)).min() < 1e-6
        assert found or found_flipped  # an exact window, no resampling
    downscaled = CropDataset([image], 16, length=20, scale="downscaled")
    assert any(not torch.equal(downscaled[i], native[i]) for i in range(20))
    with pytest.raises(ValueError, match="crop scale"):
        CropDataset([image], 16, scale="huge")


def test_folder_crops_decode_each_file_once(tmp_path, monkeypatch):
    from genjscc.data import files

    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for k in range(2):
            Image.fromarray(np.full((40, 60, 3), 40 * k + 10, np.uint8)).save(tmp_path / split / f"{k}.png")
    loads = []
    original = files._LazyImage.load
    monkeypatch.setattr(files._LazyImage, "load", lambda self: loads.append(self.path) or original(self))
    data = load_dataset(f"folder:{tmp_path}", "train", 16, length=50, crop_scale="native")
    crops = [data[i] for i in range(50)]
    assert len(loads) == 2 and len(set(loads)) == 2  # two files, each decoded once for 50 crops
    assert {round(float(c.mean()) * 255) for c in crops} == {10, 50}  # crops of both files, unscaled values
