"""find_pairs, file readers and SegmentationDataset: layouts, sample format and clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.data import SegmentationDataset, find_pairs, read_image, read_mask
from landseg.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from landseg.errors import DatasetError

SIZE = 64
LOVEDA_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "samples" / "loveda"


def write_image(path: Path, size: tuple[int, int] = (SIZE, SIZE), seed: int = 0) -> Path:
    """Random RGB image of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def write_mask(path: Path, values: np.ndarray | None = None, size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    """Mode-L class-index mask (default: stripes of classes 0..5)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if values is None:
        values = np.repeat((np.arange(size[0]) % 6).astype(np.uint8)[None, :], size[1], axis=0)
    Image.fromarray(values.astype(np.uint8), mode="L").save(path)
    return path


def write_pair(folder: Path, stem: str, seed: int = 0) -> None:
    write_image(folder / "images_png" / f"{stem}.png", seed=seed)
    write_mask(folder / "masks_png" / f"{stem}.png")


@pytest.fixture
def loveda(tmp_path: Path) -> Path:
    """LoveDA layout: Train/{Rural,Urban} and Val/Rural, names that need natural sorting."""
    for domain, stems in {"Train/Rural": ["10", "2"], "Train/Urban": ["5", "7"], "Val/Rural": ["1"]}.items():
        for i, stem in enumerate(stems):
            write_pair(tmp_path / domain, stem, seed=i)
    return tmp_path


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    for stem in ["b", "a"]:
        write_pair(tmp_path, stem)
    return tmp_path


def stems(pairs: list) -> list[str]:
    return [image.stem for image, _ in pairs]


# --------------------------------------------------------------------------- layouts and pairing


def test_loveda_split_takes_all_domains_in_order(loveda: Path) -> None:
    pairs = find_pairs(loveda, "Train")
    assert stems(pairs) == ["2", "10", "5", "7"]  # Rural then Urban, natural order within each
    assert [image.parent.parent.name for image, _ in pairs] == ["Rural", "Rural", "Urban", "Urban"]
    for image, mask in pairs:
        assert mask == image.parent.parent / "masks_png" / f"{image.stem}.png"


def test_loveda_single_domain(loveda: Path) -> None:
    assert stems(find_pairs(loveda, "Train/Urban")) == ["5", "7"]
    assert stems(find_pairs(loveda, "Val")) == ["1"]


def test_flat_layout_with_and_without_split(flat: Path, tmp_path: Path) -> None:
    assert stems(find_pairs(flat)) == ["a", "b"]
    write_pair(tmp_path / "nested" / "train", "z")
    assert stems(find_pairs(tmp_path / "nested", "train")) == ["z"]


def test_pairs_by_stem_across_image_formats(tmp_path: Path) -> None:
    for name in ["a.jpg", "b.TIF", "c.jpeg"]:
        path = tmp_path / "images_png" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (SIZE, SIZE), (10, 20, 30)).save(path, format="JPEG" if "jp" in name else "TIFF")
    for stem in ["a", "b", "c", "unused"]:
        write_mask(tmp_path / "masks_png" / f"{stem}.png")
    (tmp_path / "images_png" / "notes.txt").write_text("not an image")
    pairs = find_pairs(tmp_path)
    assert [(i.name, m.name) for i, m in pairs] == [("a.jpg", "a.png"), ("b.TIF", "b.png"), ("c.jpeg", "c.png")]
    assert SegmentationDataset(tmp_path)[1]["image"].shape == (3, SIZE, SIZE)


def test_unlabelled_images_get_ignore_masks(tmp_path: Path) -> None:
    write_image(tmp_path / "images_png" / "x.png")
    assert find_pairs(tmp_path, require_masks=False) == [(tmp_path / "images_png" / "x.png", None)]
    sample = SegmentationDataset(tmp_path, require_masks=False)[0]
    assert sample["mask"].shape == (SIZE, SIZE)
    assert bool((sample["mask"] == BIODIVERSITY.ignore_index).all())


# --------------------------------------------------------------------------- sample format


def test_sample_format_and_default_normalisation(loveda: Path) -> None:
    ds = SegmentationDataset(loveda, "Train")
    assert len(ds) == 4 and ds.names == ["2", "10", "5", "7"] and ds.classes is BIODIVERSITY
    assert ds.mask_path_for("5") == loveda / "Train" / "Urban" / "masks_png" / "5.png"
    sample = ds[0]
    assert set(sample) == {"image", "mask", "name"} and sample["name"] == "2"
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, SIZE, SIZE)
    assert sample["mask"].dtype == torch.int64 and sample["mask"].shape == (SIZE, SIZE)
    raw = read_image(ds.pairs[0][0]).astype(np.float32) / 255.0
    expected = (raw - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(sample["image"].numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    np.testing.assert_array_equal(sample["mask"].numpy(), read_mask(ds.pairs[0][1]))
    with pytest.raises(KeyError, match="nope"):
        ds.mask_path_for("nope")


def test_custom_transform_is_used(flat: Path) -> None:
    def transform(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3) and mask.dtype == np.uint8
        return np.zeros((3, 8, 8), np.float32), mask[:8, :8]

    sample = SegmentationDataset(flat, transform=transform)[0]
    assert sample["image"].shape == (3, 8, 8) and sample["mask"].dtype == torch.int64


def test_palette_mask_indices_are_classes(tmp_path: Path) -> None:
    write_image(tmp_path / "images_png" / "p.png")
    mask = Image.fromarray(np.full((SIZE, SIZE), 3, np.uint8), mode="P")
    mask.putpalette(BIODIVERSITY.palette())
    (tmp_path / "masks_png").mkdir()
    mask.save(tmp_path / "masks_png" / "p.png")
    assert bool((SegmentationDataset(tmp_path)[0]["mask"] == 3).all())


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_tiff_image_keeps_first_three_bands(tmp_path: Path) -> None:
    import rasterio

    data = np.stack([np.full((SIZE, SIZE), v, np.uint8) for v in (1, 2, 3, 4)])
    path = tmp_path / "four.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=4, dtype="uint8") as dst:
        dst.write(data)
    image = read_image(path)
    assert image.shape == (SIZE, SIZE, 3) and image[0, 0].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------- bad inputs


def truncated_png(path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize("which", ["images_png", "masks_png"])
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_is_named(flat: Path, which: str, damage: str) -> None:
    bad = flat / which / "a.png"
    if damage == "garbage":
        bad.write_bytes(b"this is not a png")
    else:
        truncated_png(bad)
    with pytest.raises(DatasetError, match="corrupt") as err:
        # Garbage fails the up-front header pass; truncated data only fails on decoding.
        SegmentationDataset(flat)[0]
    assert str(bad) in str(err.value)


def test_missing_mask_names_image_and_expected_mask(flat: Path) -> None:
    (flat / "masks_png" / "b.png").unlink()
    with pytest.raises(DatasetError) as err:
        find_pairs(flat)
    msg = str(err.value)
    assert "missing mask for image" in msg
    assert str(flat / "images_png" / "b.png") in msg and str(flat / "masks_png" / "b.png") in msg


@pytest.mark.parametrize("check", [True, False])
def test_size_mismatch_gives_both_sizes(flat: Path, check: bool) -> None:
    bad = write_mask(flat / "masks_png" / "b.png", size=(SIZE, 32))
    if check:
        with pytest.raises(DatasetError) as err:
            SegmentationDataset(flat)
    else:
        ds = SegmentationDataset(flat, check=False)  # the lazy check still catches it
        with pytest.raises(DatasetError) as err:
            ds[1]
    msg = str(err.value)
    assert str(bad) in msg and str(flat / "images_png" / "b.png") in msg
    assert "64x64" in msg and "64x32" in msg


def test_out_of_range_mask_values_listed(flat: Path) -> None:
    values = np.zeros((SIZE, SIZE), np.uint8)
    values[0, :3] = [7, 9, 255]
    bad = write_mask(flat / "masks_png" / "a.png", values)
    ds = SegmentationDataset(flat)
    with pytest.raises(DatasetError) as err:
        ds[0]
    msg = str(err.value)
    assert str(bad) in msg and "values 7, 9 outside" in msg  # 255 is not reported as bad
    assert "0..5" in msg and "255 is the ignore value" in msg


def test_ignore_value_is_accepted(flat: Path) -> None:
    values = np.full((SIZE, SIZE), 255, np.uint8)
    values[:, :10] = 5
    write_mask(flat / "masks_png" / "a.png", values)
    mask = SegmentationDataset(flat)[0]["mask"]
    assert set(mask.unique().tolist()) == {5, 255}


def test_rgb_mask_is_rejected(flat: Path) -> None:
    bad = flat / "masks_png" / "a.png"
    Image.new("RGB", (SIZE, SIZE), (34, 139, 34)).save(bad)
    with pytest.raises(DatasetError, match="class-index PNGs") as err:
        SegmentationDataset(flat)[0]
    assert str(bad) in str(err.value)


def test_empty_dataset_names_folder(tmp_path: Path) -> None:
    (tmp_path / "images_png").mkdir()
    (tmp_path / "masks_png").mkdir()
    with pytest.raises(DatasetError, match="no images found") as err:
        find_pairs(tmp_path)
    assert str(tmp_path / "images_png") in str(err.value)


def test_missing_split_lists_existing_splits(loveda: Path) -> None:
    with pytest.raises(DatasetError) as err:
        find_pairs(loveda, "Test")
    msg = str(err.value)
    assert str(loveda / "Test") in msg
    assert "Train, Train/Rural, Train/Urban, Val, Val/Rural" in msg


def test_loveda_root_without_split_suggests_splits(loveda: Path) -> None:
    with pytest.raises(DatasetError, match="available splits.*Train/Rural") as err:
        find_pairs(loveda)
    assert str(loveda) in str(err.value)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist") as err:
        find_pairs(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)


def test_duplicate_stems_across_domains_name_both(loveda: Path) -> None:
    write_pair(loveda / "Train" / "Urban", "2")
    with pytest.raises(DatasetError, match="duplicate") as err:
        find_pairs(loveda, "Train")
    msg = str(err.value)
    assert str(loveda / "Train/Rural/images_png/2.png") in msg
    assert str(loveda / "Train/Urban/images_png/2.png") in msg


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(not LOVEDA_SAMPLES.is_dir(), reason=f"LoveDA sample tiles not found at {LOVEDA_SAMPLES}")
def test_real_loveda_samples() -> None:
    raw_codes = ClassTable.from_list([(f"code{i}", (i * 30, i * 30, i * 30)) for i in range(8)])
    pairs = find_pairs(LOVEDA_SAMPLES, "Train")
    assert stems(pairs) == ["loveda_0", "loveda_1", "loveda_2"]
    ds = SegmentationDataset(LOVEDA_SAMPLES, "Train/Rural", classes=raw_codes)
    for i in range(len(ds)):
        sample = ds[i]
        assert sample["image"].shape == (3, 1024, 1024) and sample["mask"].shape == (1024, 1024)
        assert int(sample["mask"].max()) <= 7
    # loveda_2 per SOURCES.md: codes {1, 4, 6, 7}
    assert set(ds[2]["mask"].unique().tolist()) == {1, 4, 6, 7}
