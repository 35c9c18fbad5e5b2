"""Prediction jobs: the settings, the plan (chunks of pictures, column bands of rasters) and one job's run.

Shared by :mod:`landseg.inference.predict` (which plans, runs and assembles) and
:mod:`landseg.inference.distributed` (which spreads the same jobs over processes or GPUs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landseg.errors import ConfigError, DatasetError
from landseg.utils import atomic_output, atomic_write_text, write_json

__all__ = ["Job", "PredictSettings", "WORK_DIR", "build_tiler", "find_inputs", "open_model", "plan_jobs", "run_job"]

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
TILES_PER_JOB = 64
WORK_DIR = ".landseg-predict"


@dataclass
class PredictSettings:
    """Everything about a prediction run except the inputs (one object, so every process agrees)."""

    model: str
    out: str
    tile: int | None = None  # None: the model's tile size
    overlap: int | None = None  # None: a quarter of the window (128 px for 512)
    batch_size: int = 2  # Swin-B at 512²: 4 would push peak memory to ~2 GB for little speed on CPU
    tta: str = "none"
    precision: str = "auto"
    device: str = "cpu"
    bands: tuple[int, ...] = (1, 2, 3)
    pixel_size: float | None = None
    band_width: int = 8192
    threads: int | None = None
    progress: bool = True
    model_name: str | None = None  # GeoSeg checkpoints: model and options to rebuild it
    model_options: dict[str, Any] | None = None
    num_classes: int | None = None


@dataclass
class Job:
    """A unit of work: some pictures, or some column bands of one raster."""

    id: str
    kind: str  # "pictures" or "raster"
    inputs: list[str]
    band_ids: list[int] | None = None
    part: str | None = None  # raster split over several jobs: this job's part file
    windows: int = 0


# --------------------------------------------------------------------------- planning


def find_inputs(path: str | Path) -> list[Path]:
    """The files to predict: ``path`` itself, or the pictures/rasters directly in the folder."""
    from landseg.inference.raster import RASTER_SUFFIXES

    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"input {path} does not exist: pass an image, a GeoTIFF/VRT or a folder of them.")
    suffixes = set(PICTURE_SUFFIXES) | set(RASTER_SUFFIXES)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"no images or rasters in {path} (looked for {', '.join(sorted(suffixes))}).")
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise DatasetError(f"{stems[f.stem].name} and {f.name} would both be written as {f.stem}.*; rename one.")
        stems[f.stem] = f
    return files


def plan_jobs(inputs: Sequence[Path], settings: PredictSettings, tiler: Any, devices: int = 1) -> list[Job]:
    """Jobs for the inputs. A raster wider than one of the tiler's column bands becomes one job per
    band only when several processes share the work (a single process writes the map directly)."""
    import rasterio

    from landseg.inference.raster import RASTER_SUFFIXES, is_georeferenced
    from landseg.inference.tiling import column_bands

    jobs: list[Job] = []
    pictures: list[str] = []
    for path in inputs:
        if path.suffix.lower() in RASTER_SUFFIXES and is_georeferenced(path):
            with rasterio.open(path) as src:
                h, w = src.height, src.width
            bands = len(column_bands(w, tiler.band_width))
            if devices > 1 and bands > 1:
                for i in range(bands):
                    part = str(Path(settings.out) / WORK_DIR / f"{path.stem}.band{i:04d}.tif")
                    jobs.append(Job(f"{path.stem}.band{i:04d}", "raster", [str(path)], [i], part,
                                    tiler.windows(h, w, [i])))
            else:
                jobs.append(Job(path.stem, "raster", [str(path)], windows=tiler.windows(h, w)))
        elif path.suffix.lower() in PICTURE_SUFFIXES:
            pictures.append(str(path))
        else:
            raise DatasetError(f"{path} has no CRS, so it is predicted as a picture, but {path.suffix} pictures are not "
                               f"supported; use one of {', '.join(PICTURE_SUFFIXES)}.")
    for i in range(0, len(pictures), TILES_PER_JOB):
        chunk = pictures[i : i + TILES_PER_JOB]
        jobs.append(Job(f"pictures{i // TILES_PER_JOB:05d}", "pictures", chunk, windows=len(chunk)))
    return jobs


# --------------------------------------------------------------------------- running


def build_tiler(predictor: Any, settings: PredictSettings) -> Any:
    from landseg.inference.tiling import Tiler

    tile = settings.tile or predictor.tile_size
    if predictor.max_window is not None and tile > predictor.max_window:
        raise ConfigError(f"--tile {tile} does not fit this {predictor.backend} model's fixed "
                          f"{predictor.max_window}×{predictor.max_window} input; use --tile {predictor.max_window} or "
                          "less (or predict with the checkpoint, which takes any size).")
    overlap = tile // 4 if settings.overlap is None else settings.overlap
    return Tiler(predictor, predictor.mean, predictor.std, len(predictor.classes), tile=tile, overlap=overlap, batch_size=settings.batch_size, tta=settings.tta,
                 band_width=settings.band_width)


def open_model(settings: PredictSettings) -> Any:
    from landseg.inference.runners import open_predictor

    return open_predictor(settings.model, precision=settings.precision, device=settings.device,
                          threads=settings.threads, model=settings.model_name, options=settings.model_options,
                          num_classes=settings.num_classes)


def job_signature(job: Job, settings: PredictSettings) -> str:
    """What a job's result depends on: model and input files (size, mtime), settings, landseg version."""
    from landseg import __version__

    def stamp(path: str) -> list[Any]:
        st = Path(path).stat()
        return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]

    wanted = {k: v for k, v in asdict(settings).items() if k not in ("progress", "threads", "out")}
    blob = json.dumps({"model": stamp(settings.model), "inputs": [stamp(i) for i in job.inputs],
                       "bands": job.band_ids, "settings": wanted, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _finished(job: Job, settings: PredictSettings, signature: str) -> dict[str, Any] | None:
    """The saved result of this exact job from an interrupted earlier run, if its files are intact."""
    record = Path(settings.out) / WORK_DIR / f"{job.id}.json"
    try:
        old = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    files = old.get("maps", []) if old.get("kind") == "pictures" else [old.get("map", "")]
    if old.get("signature") != signature or not all(f and Path(f).is_file() for f in files):
        return None
    return old


def run_job(job: Job, predictor: Any, tiler: Any, settings: PredictSettings,
            advance: Callable[[int], object] | None = None) -> dict[str, Any]:
    """Run one job; its result (maps written, class areas) is also saved as JSON for rank 0.

    A job an interrupted run already finished (same model, inputs and settings; its files intact)
    is not run again: a county-scale run resumes where it stopped.
    """
    from landseg.inference.raster import predict_raster, write_preview

    out = Path(settings.out)
    signature = job_signature(job, settings)
    done = _finished(job, settings, signature)
    if done is not None:
        if advance is not None:
            advance(job.windows)
        done["resumed"] = True
        write_json(out / WORK_DIR / f"{job.id}.json", done)  # rank 0 reads it from here
        return done
    if job.kind == "raster":
        src = Path(job.inputs[0])
        dst = Path(job.part) if job.part else out / f"{src.stem}.tif"
        table = predict_raster(tiler, predictor.classes, src, dst, bands=settings.bands, column_band_ids=job.band_ids,
                               pixel_size=settings.pixel_size, model_name=Path(settings.model).name, advance=advance,
                               finalize=job.part is None)
        result = {"id": job.id, "kind": "raster", "input": str(src), "map": str(dst), "part": job.part,
                  "areas": table.to_dict()}
        if job.part is None:
            atomic_write_text(out / f"{src.stem}_areas.csv", table.to_csv())
            write_preview(dst, out / f"{src.stem}_preview.png", predictor.classes)
    else:
        result = _predict_pictures(job, predictor, tiler, settings, advance)
    result["signature"] = signature
    write_json(out / WORK_DIR / f"{job.id}.json", result)
    return result


def _predict_pictures(job: Job, predictor: Any, tiler: Any, settings: PredictSettings,
                      advance: Callable[[int], object] | None) -> dict[str, Any]:
    from PIL import Image

    from landseg.data.files import read_image
    from landseg.inference.raster import AreaTable
    from landseg.plots import overlay

    out = Path(settings.out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    table = AreaTable(predictor.classes, note="" if settings.pixel_size else "pictures: hectares need --pixel-size")
    area = settings.pixel_size**2 if settings.pixel_size else None
    maps = []

    def save(path: Path, image: np.ndarray, labels: np.ndarray) -> None:
        mask_path = out / "masks" / f"{path.stem}.png"
        _save_png(Image.fromarray(labels, "L"), mask_path)
        _save_png(Image.fromarray(overlay(image, labels, predictor.classes)), out / "overlays" / f"{path.stem}.png")
        table.count(labels, None, None if area is None else np.full(labels.shape[0], area))
        maps.append(str(mask_path))

    group: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        if group:
            labels = tiler.predict_batch(np.stack([im.transpose(2, 0, 1) for _, im in group]))
            for (path, image), lab in zip(group, labels, strict=True):
                save(path, image, lab)
            if advance is not None:
                advance(len(group))
            group.clear()

    for name in job.inputs:
        path = Path(name)
        image = read_image(path)
        h, w = image.shape[:2]
        if h <= tiler.tile and w <= tiler.tile:  # one window: batch same-sized pictures together
            if group and (group[0][1].shape != image.shape or len(group) == tiler.batch_size):
                flush()
            group.append((path, image))
        else:
            flush()
            save(path, image, tiler.predict_image(image.transpose(2, 0, 1)))
            if advance is not None:
                advance(1)
    flush()
    return {"id": job.id, "kind": "pictures", "maps": maps, "areas": table.to_dict()}


def _save_png(img: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        img.save(tmp, format="PNG")


# --------------------------------------------------------------------------- the command
