"""Training data mixes (photos + procedural dead leaves) and the extra embedded photo."""

from __future__ import annotations

import pytest
import torch

from genjscc.data import DataError, MixedDataset, PHOTO_SPLIT, load_dataset, photo_images, photo_palette, stack


def test_mix_is_deterministic_batched_and_near_its_fraction():
    mix = load_dataset("photos+deadleaves@0.25", "train", 32, length=2000, seed=3)
    assert isinstance(mix, MixedDataset) and len(mix) == 2000
    share = sum(mix._source(i) is mix.second for i in range(2000)) / 2000
    assert abs(share - 0.25) < 0.04  # binomial std at n=2000 is 0.0097
    indices = [5, 17, 40, 41, 1999]
    batched = mix.__getitems__(indices)
    for i, item in zip(indices, batched):
        assert torch.equal(item, mix[i]) and item.shape == (3, 32, 32)
    again = load_dataset("photos+deadleaves@0.25", "train", 32, length=2000, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(batched, again.__getitems__(indices)))


def test_mix_extremes_and_test_split():
    only_photos = load_dataset("photos+deadleaves@0", "train", 32, length=50)
    assert all(only_photos._source(i) is only_photos.first for i in range(50))
    only_leaves = load_dataset("photos+deadleaves@1", "train", 32, length=50)
    assert all(only_leaves._source(i) is only_leaves.second for i in range(50))
    test = stack(load_dataset("photos+deadleaves", "test", 64))
    assert torch.equal(test, stack(load_dataset("photos", "test", 64)))  # held-out photos stay the test set


def test_deadleaves_test_split_is_fixed_and_disjoint_from_training():
    test = stack(load_dataset("deadleaves", "test", 32, limit=4))
    assert torch.equal(test, stack(load_dataset("deadleaves", "test", 32, limit=4)))
    train = stack(load_dataset("deadleaves", "train", 32, length=4))
    assert not any(torch.equal(a, b) for a in test for b in train)


@pytest.mark.parametrize("spec", ["photos+", "+deadleaves", "photos+deadleaves@x", "photos+deadleaves@1.5",
                                  "photos+deadleaves+photos"])
def test_bad_mix_specs_are_clear_errors(spec):
    with pytest.raises(DataError, match="mix"):
        load_dataset(spec, "train", 32, length=10)


def test_palette_comes_from_the_training_photos():
    palette = photo_palette()
    assert palette.shape == (4096, 3) and 0 <= palette.min() and palette.max() <= 1
    assert "matplotlib:grace_hopper.jpg" in PHOTO_SPLIT["train"] and len(photo_images("train")) == 8
    assert not set(PHOTO_SPLIT["train"]) & set(PHOTO_SPLIT["test"])
