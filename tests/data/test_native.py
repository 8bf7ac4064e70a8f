"""``--size native``: whole test images at their own size, read lazily; what has no size of its own is refused."""

from __future__ import annotations

import pytest
import torch

from genjscc.data import DataError, held_out_images, native_test_images, parse_size, photo_images, save_image


def _folder(tmp_path, sizes_hw, split_dirs: bool = True):
    """A folder with test images of the given (H, W) (and one training image); returns the root and the images."""
    root = tmp_path / "images"
    test = root / "test" if split_dirs else root
    test.mkdir(parents=True)
    images = []
    for i, (h, w) in enumerate(sizes_hw):
        image = (torch.rand(3, h, w) * 255).round() / 255
        save_image(image, test / f"im{i}.png")
        images.append(image)
    if split_dirs:
        (root / "train").mkdir()
        save_image(torch.rand(3, 40, 40), root / "train" / "t.png")
    return root, images


def test_photos_at_native_size_are_the_three_held_out_photographs_whole():
    native = native_test_images("photos")
    photos = photo_images("test")
    assert len(native) == 3 and native.sizes == tuple(tuple(p.shape[1:]) for p in photos)
    assert native.sizes[0] == (300, 451)  # chelsea, 451 wide and 300 high
    for i, photo in enumerate(photos):
        assert torch.equal(native[i], photo.float() / 255)
    assert native_test_images("photos+deadleaves@0.5").sizes == native.sizes  # a mix tests on its first part
    assert native_test_images("photos", limit=2).sizes == native.sizes[:2]


def test_folder_at_native_size_is_every_test_image_at_its_own_size_read_when_asked(tmp_path, monkeypatch):
    root, images = _folder(tmp_path, [(48, 40), (33, 71), (48, 40)])
    from genjscc.data.files import _LazyImage

    reads = []
    real = _LazyImage.load
    monkeypatch.setattr(_LazyImage, "load", lambda self: reads.append(self.path.name) or real(self))
    native = native_test_images(f"folder:{root}")
    assert native.sizes == ((48, 40), (33, 71), (48, 40)) and reads == []  # sizes from the headers alone
    for i, image in enumerate(images):
        assert torch.equal(native[i], image)
    assert reads == ["im0.png", "im1.png", "im2.png"]  # the training image is not a test image


def test_a_folder_of_square_images_at_native_size_equals_its_crops_at_that_size(tmp_path):
    root, _ = _folder(tmp_path, [(32, 32), (32, 32)])
    native = native_test_images(f"folder:{root}")
    assert torch.equal(torch.stack(list(native)), held_out_images(f"folder:{root}", 32))


@pytest.mark.parametrize("spec", ["deadleaves", "deadleaves+photos", "prior:stylegan2-photos64"])
def test_data_without_a_size_of_its_own_is_refused_naming_size_s(spec):
    with pytest.raises(DataError, match=r"no size of their own.*--size S"):
        native_test_images(spec)


def test_native_with_resize_small_is_refused():
    with pytest.raises(DataError, match="leave --resize-small out"):
        held_out_images("photos", "native", resize_small=True)


def test_parse_size():
    assert parse_size("native") == parse_size(" Native ") == "native"
    assert parse_size("64") == parse_size(64) == 64
    for bad in ("nat", "6.5", "-8", True, None, ""):
        with pytest.raises(ValueError, match="--size must be a side in pixels .* or native"):
            parse_size(bad)
