"""`landseg predict`: GeoTIFFs in and out (georeferencing, colour table, nodata, areas), picture
folders, every model format, distributed predict, the real OpenEarthMap sample and bad input."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.cli.main import main
from landseg.inference.predict import predict

TILE = 64
FAST = {"tile": TILE, "overlap": 16, "precision": "32", "progress": False}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def raster(tmp_path_factory: pytest.TempPathFactory, geotiff: Any, aerial: Any) -> Path:
    rgb = aerial(3, 300)[:, :, :280].copy()
    rgb[:, :40, :50] = 0  # no data (nodata = 0 in all bands)
    return geotiff(tmp_path_factory.mktemp("raster") / "scene.tif", rgb, res=0.5)


def test_geotiff_map_keeps_georeferencing_colours_and_nodata(tiny_checkpoint: Path, raster: Path,
                                                             tmp_path: Path) -> None:
    res = predict(tiny_checkpoint, raster, tmp_path, **FAST)
    out = tmp_path / "scene.tif"
    assert res.maps == [out]
    with rasterio.open(raster) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        assert dst.count == 1 and dst.dtypes[0] == "uint8" and dst.nodata == 255
        assert dst.profile["tiled"] and dst.profile["compress"] == "deflate"
        assert dst.block_shapes[0] == (256, 256)
        cmap = dst.colormap(1)
        assert [cmap[i] for i in range(6)] == [(*c.color, 255) for c in BIODIVERSITY.classes]
        assert cmap[255][3] == 0  # nodata transparent
        labels = dst.read(1)
        assert json.loads(dst.tags()["classes"])["4"] == "Settlement"
    assert (labels[:40, :50] == 255).all()  # nodata stays nodata
    assert labels[40:].max() < 6 and (labels[:, 50:] < 6).all()
    assert not list(tmp_path.glob(".*tmp")) and not (tmp_path / ".landseg-predict").exists()

    rows = read_csv(tmp_path / "scene_areas.csv")
    assert [r["class"] for r in rows] == ["Background", "Forest Land", "Grassland", "Cropland", "Settlement",
                                          "SemiNatural Grassland", "nodata", "total"]
    pixels = [int(r["pixels"]) for r in rows[:6]]
    assert pixels == np.bincount(labels[labels != 255], minlength=6).tolist()
    assert int(rows[6]["pixels"]) == 40 * 50 and int(rows[7]["pixels"]) == 300 * 280 - 2000
    assert float(rows[7]["hectares"]) == pytest.approx((300 * 280 - 2000) * 0.25 / 10_000, abs=1e-4)  # 0.5 m pixels
    assert sum(float(r["percent"]) for r in rows[:6]) == pytest.approx(100, abs=1e-3)
    assert Image.open(tmp_path / "scene_preview.png").size == (280, 300)
    summary = json.loads((tmp_path / "predict.json").read_text())
    assert summary["backend"] == "pytorch" and summary["windows"] > 0


def test_output_does_not_depend_on_band_width_and_overviews_are_built(tiny_checkpoint: Path, geotiff: Any,
                                                                      aerial: Any, tmp_path: Path) -> None:
    src = geotiff(tmp_path / "wide.tif", np.tile(aerial(4, 256), (1, 2, 3)), nodata=None)  # 512 × 768
    a = predict(tiny_checkpoint, src, tmp_path / "a", **FAST).maps[0]
    b = predict(tiny_checkpoint, src, tmp_path / "b", band_width=256, **FAST).maps[0]
    with rasterio.open(a) as da, rasterio.open(b) as db:
        np.testing.assert_array_equal(da.read(1), db.read(1))
        assert da.overviews(1) == [2]
    assert abs(a.stat().st_size - b.stat().st_size) < 0.2 * a.stat().st_size  # whole blocks written once


def test_geographic_pixels_get_areas_per_latitude(tiny_checkpoint: Path, geotiff: Any, aerial: Any,
                                                  tmp_path: Path) -> None:
    deg = 1e-5
    src = geotiff(tmp_path / "geo.tif", aerial(5, 128), crs="EPSG:4326", res=deg, nodata=None, origin=(-8.0, 53.5))
    predict(tiny_checkpoint, src, tmp_path / "out", **FAST)
    total = read_csv(tmp_path / "out" / "geo_areas.csv")[-1]
    r = 6_371_007.181
    lat0, lat1 = math.radians(53.5), math.radians(53.5 - 128 * deg)
    expected = r * r * math.radians(128 * deg) * (math.sin(lat0) - math.sin(lat1)) / 10_000
    assert float(total["hectares"]) == pytest.approx(expected, rel=1e-4)
    assert 1.15 < expected < 1.25  # 128² pixels of ~0.66 m × 1.11 m at 53.5° N


def test_picture_folder_gives_masks_overlays_and_areas(tiny_checkpoint: Path, aerial: Any, tmp_path: Path) -> None:
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(3):
        Image.fromarray(aerial(10 + i, 64).transpose(1, 2, 0)).save(tiles / f"t{i}.png")
    Image.fromarray(aerial(20, 48).transpose(1, 2, 0)).save(tiles / "small.jpg", quality=95)
    Image.fromarray(aerial(21, 150).transpose(1, 2, 0)).save(tiles / "big.tif")  # larger than a window, no CRS
    res = predict(tiny_checkpoint, tiles, tmp_path / "out", pixel_size=0.3, **FAST)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["big.png", "small.png", "t0.png", "t1.png", "t2.png"]
    for name, size in [("t0", 64), ("small", 48), ("big", 150)]:
        mask = np.asarray(Image.open(out / "masks" / f"{name}.png"))
        assert mask.shape == (size, size) and mask.dtype == np.uint8 and mask.max() < 6
        overlay = Image.open(out / "overlays" / f"{name}.png")
        assert overlay.size == (size, size) and overlay.mode == "RGB"
    # Pictures batched together give what each gives alone.
    alone = predict(tiny_checkpoint, tiles / "t1.png", tmp_path / "alone", **FAST)
    np.testing.assert_array_equal(np.asarray(Image.open(alone.maps[0])), np.asarray(Image.open(out / "masks/t1.png")))
    total = read_csv(out / "areas.csv")[-1]
    assert int(total["pixels"]) == 3 * 64 * 64 + 48 * 48 + 150 * 150
    assert float(total["hectares"]) == pytest.approx(int(total["pixels"]) * 0.09 / 10_000, abs=1e-4)
    assert res.summary["inputs"] == 5


@pytest.fixture(scope="module")
def exports(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from landseg.inference.export import export_model

    folder = tmp_path_factory.mktemp("exports")
    return {fmt: export_model(tiny_checkpoint, folder / f"tiny.{ext}", fmt).path
            for fmt, ext in (("onnx", "onnx"), ("torchscript", "pt"))}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_models_predict_like_the_checkpoint(fmt: str, tiny_checkpoint: Path, exports: dict[str, Path],
                                                     raster: Path, tmp_path: Path) -> None:
    ref = predict(tiny_checkpoint, raster, tmp_path / "ckpt", **FAST).maps[0]
    got = predict(exports[fmt], raster, tmp_path / fmt, **{**FAST, "precision": "auto"})
    assert got.summary["backend"] == {"onnx": "onnxruntime", "torchscript": "torchscript"}[fmt]
    with rasterio.open(ref) as a, rasterio.open(got.maps[0]) as b:
        agree = (a.read(1) == b.read(1)).mean()
    assert agree >= 0.999


def test_default_precision_follows_the_one_policy(tiny_checkpoint: Path) -> None:
    from landseg.inference.runners import open_predictor
    from landseg.precision import choose_precision

    auto = open_predictor(tiny_checkpoint)
    assert (auto.precision, auto.precision_reason) == (choose_precision("auto", "cpu").name,
                                                       choose_precision("auto", "cpu").reason)
    assert open_predictor(tiny_checkpoint, precision="32").precision == "32"


def test_two_processes_share_the_work_and_give_the_same_map(tiny_checkpoint: Path, geotiff: Any, aerial: Any,
                                                            tmp_path: Path) -> None:
    """`--devices 2`: Lightning DDP (gloo) over 2 CPU processes, through the real command."""
    (tmp_path / "in").mkdir()
    geotiff(tmp_path / "in" / "wide.tif", np.tile(aerial(6, 128), (1, 1, 5)))  # 128 × 640: three 256-px bands
    Image.fromarray(aerial(7, 64).transpose(1, 2, 0)).save(tmp_path / "in" / "pic.png")
    args = ["--model", str(tiny_checkpoint), "--input", str(tmp_path / "in"), "--tile", str(TILE), "--overlap", "16",
            "--precision", "32", "--band-width", "256", "--no-progress"]
    proc = subprocess.run([sys.executable, "-m", "landseg.cli.main", "predict", *args, "--out", str(tmp_path / "ddp"),
                           "--devices", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 process(es)" in proc.stdout
    assert main(["predict", *args, "--out", str(tmp_path / "one")]) == 0
    with rasterio.open(tmp_path / "ddp" / "wide.tif") as a, rasterio.open(tmp_path / "one" / "wide.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert a.transform == b.transform
    for name in ("wide_areas.csv", "areas.csv", "masks/pic.png"):
        assert (tmp_path / "ddp" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert not (tmp_path / "ddp" / ".landseg-predict").exists()


def test_real_openearthmap_sample_keeps_epsg4326_and_transform(tiny_checkpoint: Path, shared_dir: Path,
                                                               tmp_path: Path) -> None:
    src = shared_dir / "data" / "samples" / "openearthmap" / "houston" / "images" / "houston_16.tif"
    if not src.is_file():
        pytest.skip(f"OpenEarthMap sample missing: {src}")
    res = predict(tiny_checkpoint, src, tmp_path, **{**FAST, "tile": 256, "overlap": 64, "batch_size": 8})
    with rasterio.open(src) as a, rasterio.open(res.maps[0]) as b:
        assert b.crs.to_epsg() == 4326 and b.transform == a.transform and b.shape == a.shape == (1024, 1024)
        assert b.read(1).max() < 6
    total = read_csv(tmp_path / "houston_16_areas.csv")[-1]
    assert 20 < float(total["hectares"]) < 26  # 1024² pixels of ~0.44 m × 0.51 m at 29.8° N: ~23 ha


def test_an_interrupted_run_leaves_no_map(tiny_checkpoint: Path, raster: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from landseg.inference import tiling

    calls = {"n": 0}
    real = tiling.Tiler.probabilities

    def failing(self: Any, batch: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(tiling.Tiler, "probabilities", failing)
    with pytest.raises(KeyboardInterrupt):
        predict(tiny_checkpoint, raster, tmp_path, **FAST)
    assert not (tmp_path / "scene.tif").exists() and not list(tmp_path.glob(".scene.tif*"))


def test_bad_input_is_a_clear_error(tiny_checkpoint: Path, exports: dict[str, Path], geotiff: Any, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    rgb = np.zeros((3, 64, 64), np.uint8)
    cases = {
        "not found": ["--model", str(tmp_path / "missing.ckpt"), "--input", str(tmp_path)],
        "does not exist": ["--model", str(tiny_checkpoint), "--input", str(tmp_path / "nope")],
        "8-bit RGB": ["--model", str(tiny_checkpoint),
                      "--input", str(geotiff(tmp_path / "u16.tif", rgb.astype(np.uint16)))],
        "band(s)": ["--model", str(tiny_checkpoint), "--input", str(geotiff(tmp_path / "one.tif", rgb[:1]))],
        "smaller than the window": ["--model", str(tiny_checkpoint), "--input", str(tmp_path / "one.tif"),
                                    "--overlap", "64"],
        "applies to checkpoints": ["--model", str(exports["onnx"]), "--input", str(tmp_path / "one.tif"),
                                   "--precision", "bf16"],
        "fixed 64": ["--model", str(exports["onnx"]), "--input", str(geotiff(tmp_path / "ok.tif", rgb)),
                     "--tile", "128"],
    }
    for i, (message, args) in enumerate(cases.items()):
        out = tmp_path / f"out{i}"
        assert main(["predict", *args, "--out", str(out), "--no-progress"]) == 2, message
        err = capsys.readouterr().err
        assert message in err, (message, err)
        assert not list(out.glob("*.tif")), message


def test_a_vrt_mosaic_predicts_like_the_raster_it_mosaics(tiny_checkpoint: Path, geotiff: Any, aerial: Any,
                                                           tmp_path: Path) -> None:
    """Two GeoTIFF tiles side by side, mosaicked by a VRT (as `gdalbuildvrt` writes): one seamless map."""
    rgb = np.concatenate([aerial(8, 96), aerial(9, 96)], axis=2)  # 96 × 192
    whole = geotiff(tmp_path / "whole.tif", rgb, nodata=None)
    geotiff(tmp_path / "left.tif", rgb[:, :, :96].copy(), nodata=None)
    geotiff(tmp_path / "right.tif", rgb[:, :, 96:].copy(), nodata=None, origin=(500_000.0 + 96 * 0.5, 5_900_000.0))

    def source(name: str, band: int, x: int) -> str:
        return (f'<SimpleSource><SourceFilename relativeToVRT="1">{name}</SourceFilename><SourceBand>{band}'
                f'</SourceBand><SrcRect xOff="0" yOff="0" xSize="96" ySize="96"/>'
                f'<DstRect xOff="{x}" yOff="0" xSize="96" ySize="96"/></SimpleSource>')

    bands = "".join(f'<VRTRasterBand dataType="Byte" band="{b}">{source("left.tif", b, 0)}'
                    f'{source("right.tif", b, 96)}</VRTRasterBand>' for b in (1, 2, 3))
    vrt = tmp_path / "mosaic.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="192" rasterYSize="96"><SRS>EPSG:32629</SRS>'
                   f"<GeoTransform>500000, 0.5, 0, 5900000, 0, -0.5</GeoTransform>{bands}</VRTDataset>")
    got = predict(tiny_checkpoint, vrt, tmp_path / "vrt", **FAST).maps[0]
    ref = predict(tiny_checkpoint, whole, tmp_path / "tif", **FAST).maps[0]
    assert got.name == "mosaic.tif"
    with rasterio.open(got) as a, rasterio.open(ref) as b, rasterio.open(vrt) as v:
        assert a.transform == v.transform == b.transform and a.crs == v.crs
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_an_interrupted_folder_run_resumes_without_redoing_finished_maps(tiny_checkpoint: Path, geotiff: Any,
                                                                         aerial: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from landseg.inference import raster as raster_mod

    rasters = tmp_path / "in"
    rasters.mkdir()
    for i in range(3):
        geotiff(rasters / f"r{i}.tif", aerial(30 + i, 96), nodata=None)
    out = tmp_path / "out"
    real = raster_mod.predict_raster
    calls: list[str] = []
    crash = {"at": 3}

    def crash_on_third(tiler: Any, classes: Any, src: Path, dst: Path, **kw: Any) -> Any:
        calls.append(Path(src).stem)
        if len(calls) == crash["at"]:
            raise KeyboardInterrupt  # e.g. the job was killed
        return real(tiler, classes, src, dst, **kw)

    monkeypatch.setattr(raster_mod, "predict_raster", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        predict(tiny_checkpoint, rasters, out, **FAST)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("r*.tif")}
    assert sorted(first) == ["r0.tif", "r1.tif"] and not (out / "areas.csv").exists()

    calls.clear()
    crash["at"] = 0
    res = predict(tiny_checkpoint, rasters, out, **FAST)
    assert calls == ["r2"]  # only the unfinished raster is predicted again
    assert res.summary["resumed_jobs"] == 2 and "kept 2 job(s)" in res.report()
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("r[01].tif")} == first
    assert int(read_csv(out / "areas.csv")[-1]["pixels"]) == 3 * 96 * 96
    assert not (out / ".landseg-predict").exists()

    calls.clear()  # finished runs leave no resume state: other settings (or the same) predict afresh
    predict(tiny_checkpoint, rasters, out, **{**FAST, "overlap": 8})
    assert calls == ["r0", "r1", "r2"]


def test_jobs_follow_the_tilers_bands(geotiff: Any, tmp_path: Path) -> None:
    """Distributed jobs name column bands by the tiler's (256-aligned) band width, whatever was asked."""
    from landseg.inference.predict import PredictSettings, plan_jobs
    from landseg.inference.tiling import Tiler, column_bands

    src = geotiff(tmp_path / "wide.tif", np.zeros((3, 100, 1100), np.uint8), nodata=None)
    tiler = Tiler(lambda b: b, [0.0] * 3, [1.0] * 3, 3, tile=64, overlap=16, band_width=300)  # → 512
    settings = PredictSettings(model="m", out=str(tmp_path / "out"), band_width=300)
    jobs = plan_jobs([src], settings, tiler, devices=2)
    assert [j.band_ids for j in jobs] == [[i] for i in range(len(column_bands(1100, 512)))] == [[0], [1], [2]]
    assert sum(j.windows for j in jobs) >= tiler.windows(100, 1100)  # bands share their border windows
    (single,) = plan_jobs([src], settings, tiler, devices=1)
    assert single.band_ids is None and single.windows == tiler.windows(100, 1100)


def test_an_alpha_band_marks_nodata(tiny_checkpoint: Path, aerial: Any, tmp_path: Path) -> None:
    """RGBA orthophotos (GDAL alpha band): transparent pixels become nodata in the map."""
    from rasterio.transform import from_origin

    rgba = np.concatenate([aerial(11, 96), np.full((1, 96, 96), 255, np.uint8)])
    rgba[3, :30, :40] = 0
    src = tmp_path / "rgba.tif"
    with rasterio.open(src, "w", driver="GTiff", height=96, width=96, count=4, dtype="uint8", crs="EPSG:32629",
                       transform=from_origin(500_000, 5_900_000, 1, 1), photometric="RGB", alpha="YES") as dst:
        dst.write(rgba)
    with rasterio.open(predict(tiny_checkpoint, src, tmp_path / "out", **FAST).maps[0]) as m:
        labels = m.read(1)
    assert (labels[:30, :40] == 255).all() and (labels[30:] < 6).all() and (labels[:, 40:] < 6).all()
    assert int(read_csv(tmp_path / "out" / "rgba_areas.csv")[6]["pixels"]) == 30 * 40
