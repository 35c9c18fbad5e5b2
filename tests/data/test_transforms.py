"""train/val transforms: output format, scale range, class-mixing crops and reproducible seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from landseg.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClassMixCrop, train_transform, val_transform

IGNORE = 255


def random_image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def striped_mask(size: int) -> np.ndarray:
    return np.repeat((np.arange(size) % 6).astype(np.uint8)[None, :], size, axis=0)


def test_train_output_format_and_crop_size() -> None:
    image, mask = random_image(64), striped_mask(64)
    out_image, out_mask = train_transform(crop_size=32, seed=0)(image, mask)
    assert out_image.shape == (3, 32, 32) and out_image.dtype == torch.float32
    assert out_mask.shape == (32, 32) and out_mask.dtype == torch.int64
    assert set(out_mask.unique().tolist()) <= set(range(6))


def test_small_images_are_padded_with_zero_and_ignore() -> None:
    image = np.full((20, 20, 3), 200, np.uint8)
    out_image, out_mask = train_transform(crop_size=32, scale_range=(1.0, 1.0), seed=0)(image, striped_mask(20))
    assert out_image.shape == (3, 32, 32)
    padded = out_mask == IGNORE
    assert int(padded.sum()) == 32 * 32 - 20 * 20
    zero = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(3, 1)
    torch.testing.assert_close(out_image[:, padded], zero.expand(3, int(padded.sum())))


def test_scale_range_is_respected() -> None:
    # A 40x40 fully labelled tile scaled by s and padded to 64 keeps round(40 s)^2 labelled pixels.
    transform = train_transform(crop_size=64, scale_range=(0.75, 1.5), seed=1)
    image, mask = random_image(40), np.ones((40, 40), np.uint8)
    sides = [int((transform(image, mask)[1] != IGNORE).sum()) ** 0.5 for _ in range(60)]
    assert min(sides) >= 30 and max(sides) <= 60
    assert min(sides) < 36 and max(sides) > 54  # both ends of the range are reached


def is_mixed(mask: torch.Tensor) -> bool:
    """The acceptance rule of ClassMixCrop with its defaults (2+ classes, none over 75%)."""
    counts = torch.bincount(mask[mask != IGNORE].flatten())
    counts = counts[counts > 0]
    return len(counts) >= 2 and counts.max().item() <= 0.75 * counts.sum().item()


def test_single_class_crops_are_avoided() -> None:
    # One 40x40 block of class 2 in a 160x160 tile of class 1: most 32x32 crops are pure class 1.
    mask = np.ones((160, 160), np.uint8)
    mask[60:100, 60:100] = 2
    image = random_image(160)

    def mixed_share(retries: int) -> float:
        transform = train_transform(crop_size=32, scale_range=(1.0, 1.0), max_crop_retries=retries, seed=3)
        return float(np.mean([is_mixed(transform(image, mask)[1]) for _ in range(300)]))

    plain, smart = mixed_share(0), mixed_share(10)
    assert plain < 0.2
    assert smart > 0.5 and smart > 3 * plain


def test_single_class_tile_still_yields_a_crop() -> None:
    transform = train_transform(crop_size=32, scale_range=(1.0, 1.0), seed=0)
    out_image, out_mask = transform(random_image(64), np.zeros((64, 64), np.uint8))
    assert out_image.shape == (3, 32, 32) and bool((out_mask == 0).all())


def test_class_mix_crop_rule() -> None:
    crop = ClassMixCrop(4, 4, ignore_index=IGNORE)
    assert not crop.is_mixed(np.array([[1] * 7 + [2]] * 4, np.uint8))  # class 1 covers 87.5%
    assert crop.is_mixed(np.array([[1, 1, 1, 2]] * 4, np.uint8))  # exactly 75% is still accepted
    assert crop.is_mixed(np.array([[1, 2, IGNORE, IGNORE]] * 4, np.uint8))  # ignore pixels do not count
    assert not crop.is_mixed(np.full((4, 4), IGNORE, np.uint8))


def test_same_seed_same_augmentations() -> None:
    image, mask = random_image(64), striped_mask(64)
    runs = []
    for _ in range(2):
        transform = train_transform(crop_size=32, seed=42)
        runs.append([transform(image, mask) for _ in range(5)])
    for (img_a, mask_a), (img_b, mask_b) in zip(*runs, strict=True):
        assert torch.equal(img_a, img_b) and torch.equal(mask_a, mask_b)
    other = train_transform(crop_size=32, seed=43)
    assert any(not torch.equal(other(image, mask)[0], img) for img, _ in runs[0])
    transform = train_transform(crop_size=32, seed=0)
    transform.reseed(42)  # reseeding restarts the stream
    assert torch.equal(transform(image, mask)[0], runs[0][0][0])


def test_flips_are_independent() -> None:
    # Guards against albumentations' Compose(seed=...) which gives every step the same stream, so
    # both flips always fire together and no mirror image is ever produced.
    image = np.zeros((8, 8, 3), np.uint8)
    image[0, 1] = 255  # an asymmetric marker
    transform = train_transform(crop_size=8, scale_range=(1.0, 1.0), seed=0)
    rotations = [np.rot90(image[:, :, 0], k) for k in range(4)]
    outcomes = set()
    for _ in range(40):
        out = transform(image, np.zeros((8, 8), np.uint8))[0][0].numpy() > 0
        outcomes.add(any(np.array_equal(out, r > 0) for r in rotations))
    assert outcomes == {True, False}  # both rotations and reflections occur


def test_val_transform_is_pure_normalisation() -> None:
    image, mask = random_image(48), striped_mask(48)
    out_image, out_mask = val_transform()(image, mask)
    expected = (image.astype(np.float32) / 255.0 - np.array(IMAGENET_MEAN, np.float32)) / np.array(
        IMAGENET_STD, np.float32
    )
    np.testing.assert_allclose(out_image.numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    assert out_mask.dtype == torch.int64 and np.array_equal(out_mask.numpy(), mask)
    custom = val_transform(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))(image, mask)[0]
    np.testing.assert_allclose(custom.numpy(), image.transpose(2, 0, 1) / 255.0, atol=1e-6)


def test_rejects_wrong_input_types() -> None:
    with pytest.raises(ValueError, match="uint8"):
        val_transform()(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="mask"):
        val_transform()(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 8), np.uint8))


class _Tiles(Dataset):
    """Six identical tiles, so any difference between samples comes from augmentation."""

    def __init__(self) -> None:
        self.transform = train_transform(crop_size=16, scale_range=(1.0, 1.0), max_crop_retries=0)
        self.image, self.mask = random_image(64), striped_mask(64)

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.image, self.mask)[0]


def _epoch(loader: DataLoader) -> list[torch.Tensor]:
    return [x for batch in loader for x in batch]


def test_dataloader_workers_are_seeded_by_torch() -> None:
    def run(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        torch.manual_seed(seed)
        loader = DataLoader(_Tiles(), batch_size=1, num_workers=2)
        return _epoch(loader), _epoch(loader)

    first, second = run(0), run(0)
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        assert torch.equal(a, b)  # reproducible across runs
    epoch1 = first[0]
    assert not torch.equal(epoch1[0], epoch1[1])  # worker 0 vs worker 1 (samples alternate workers)
    assert any(not torch.equal(a, b) for a, b in zip(first[0], first[1], strict=True))  # new epoch, new crops
