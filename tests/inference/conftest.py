"""Georeferenced test rasters and aerial-like images (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def geotiff() -> object:
    """``geotiff(path, rgb, crs=..., res=..., nodata=...)`` writes a test GeoTIFF."""
    return write_geotiff


@pytest.fixture(scope="session")
def aerial() -> object:
    """``aerial(seed, size)``: an aerial-like (3, size, size) uint8 image."""
    return scene


def write_geotiff(path: Path, rgb: np.ndarray, crs: str | None = "EPSG:32629", res: float = 0.5,
                  nodata: float | None = 0, origin: tuple[float, float] = (500_000.0, 5_900_000.0)) -> Path:
    """A (3, H, W) uint8 array as a GeoTIFF (north-up, ``res`` CRS units per pixel)."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": rgb.shape[1], "width": rgb.shape[2], "count": rgb.shape[0],
               "dtype": rgb.dtype.name, "transform": from_origin(origin[0], origin[1], res, res)}
    if crs:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rgb)
    return path


def scene(seed: int, size: int) -> np.ndarray:
    """An aerial-like (3, size, size) uint8 image from the synthetic benchmark's painter."""
    from landseg.data.synth_scene import build_scene, paint_scene

    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(paint_scene(rng, build_scene(rng, size)).transpose(2, 0, 1))
