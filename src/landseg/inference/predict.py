"""``landseg predict``: land-cover maps from a model file, for tile folders and georeferenced rasters.

What goes in decides what comes out:

* a georeferenced raster (GeoTIFF, VRT, … with a CRS) → ``<stem>.tif``: a class map with the same
  CRS and transform, predicted window by window (:mod:`landseg.inference.tiling`), plus
  ``<stem>_areas.csv`` (pixels, hectares, % per class) and ``<stem>_preview.png``;
* a picture (PNG, JPEG, TIFF without CRS) → ``masks/<stem>.png`` (class indices, as training masks)
  and ``overlays/<stem>.png`` (class colours over the image);
* a folder → each file by its kind; ``areas.csv`` sums every map.

The work is cut into *jobs* (a chunk of pictures, or one column band of one raster). With one
process they run in order; with ``devices > 1`` Lightning's distributed predict spreads them over
processes or GPUs (:mod:`landseg.inference.distributed`) and rank 0 assembles the results.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from landseg.errors import ConfigError
from landseg.inference.jobs import (
    WORK_DIR,
    Job,
    PredictSettings,
    build_tiler,
    find_inputs,
    open_model,
    plan_jobs,
    run_job,
)
from landseg.utils import atomic_write_text, write_json

__all__ = ["Job", "PredictResult", "PredictSettings", "plan_jobs", "predict", "run_job"]

@dataclass
class PredictResult:
    out: Path
    maps: list[Path] = field(default_factory=list)
    area_csvs: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def report(self) -> str:
        s = self.summary
        kept = f"; kept {s['resumed_jobs']} job(s) an interrupted run had finished" if s.get("resumed_jobs") else ""
        return (f"Predicted {s['inputs']} input(s) ({s['windows']} windows) with {s['backend']} "
                f"({s['precision']}, tta {s['tta']}) in {s['seconds']:.1f} s ({s['windows_per_s']:.2f} windows/s) "
                f"on {s['processes']} process(es){kept}.\nMaps: {', '.join(map(str, self.maps[:5]))}"
                f"{' …' if len(self.maps) > 5 else ''}\nAreas: {self.out / 'areas.csv'}")


def predict(model: str | Path, inputs: str | Path, out: str | Path, *, devices: int = 1,
            **options: Any) -> PredictResult:
    """Predict every input (see the module docstring) with ``model`` into ``out``.

    ``options`` are :class:`PredictSettings` fields. ``devices > 1`` runs Lightning's distributed
    predict (DDP): processes on CPU, one per GPU with ``device="cuda"``.
    """
    from landseg.inference.runners import model_kind

    if devices < 1:
        raise ConfigError(f"--devices must be at least 1, got {devices}.")
    settings = PredictSettings(model=str(model), out=str(out), **options)
    if settings.pixel_size is not None and settings.pixel_size <= 0:
        raise ConfigError(f"--pixel-size must be a positive number of metres, got {settings.pixel_size}.")
    if len(settings.bands) != 3:
        raise ConfigError(f"--bands needs three band numbers (R,G,B), got {settings.bands}.")
    model_kind(settings.model)  # a missing model file fails before any work
    files = find_inputs(inputs)
    Path(out).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if devices == 1:
        predictor = open_model(settings)
        tiler = build_tiler(predictor, settings)
        jobs = plan_jobs(files, settings, tiler)
        results = _run_local(jobs, predictor, tiler, settings)
        backend, precision, classes = predictor.backend, (predictor.precision, predictor.precision_reason), predictor.classes
    else:
        from landseg.inference.distributed import predict_distributed

        probe = open_model(settings)  # metadata only; each process opens its own copy
        tiler = build_tiler(probe, settings)
        jobs = plan_jobs(files, settings, tiler, devices)
        backend, precision, classes = probe.backend, (probe.precision, probe.precision_reason), probe.classes
        del probe, tiler  # free the memory before the processes start
        results = predict_distributed(jobs, settings, devices)
        if results is None:  # not rank 0: its share is done
            return PredictResult(Path(out))
    return _finish(files, jobs, results, settings, classes, backend, precision, devices, time.perf_counter() - start)


def _run_local(jobs: list[Job], predictor: Any, tiler: Any, settings: PredictSettings) -> list[dict[str, Any]]:
    from tqdm import tqdm

    with tqdm(total=sum(j.windows for j in jobs), desc="predict", unit="window", disable=not settings.progress,
              dynamic_ncols=True) as bar:
        return [run_job(job, predictor, tiler, settings, bar.update) for job in jobs]


def _finish(files: list[Path], jobs: list[Job], results: list[dict[str, Any]], settings: PredictSettings,
            classes: Any, backend: str, precision: tuple[str, str], devices: int, seconds: float) -> PredictResult:
    """Merge raster parts, write ``areas.csv`` and ``predict.json``; drop the work folder."""
    import shutil

    from landseg.inference.raster import AreaTable, merge_parts, write_preview

    out = Path(settings.out)
    by_id = {r["id"]: r for r in results}
    total: AreaTable | None = None
    maps: list[Path] = []
    csvs: list[Path] = []
    parts: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        res = by_id[job.id]
        table = AreaTable.from_dict(classes, res["areas"])
        if total is None:
            total = table
        else:
            total.add(table)
        if job.kind == "pictures":
            maps.extend(Path(m) for m in res["maps"])
        elif job.part:
            parts.setdefault(job.inputs[0], []).append(res)
        else:
            maps.append(Path(res["map"]))
            csvs.append(out / f"{Path(job.inputs[0]).stem}_areas.csv")
    for src, rs in parts.items():
        stem = Path(src).stem
        dst = out / f"{stem}.tif"
        merge_parts(src, [Path(r["part"]) for r in rs], dst, classes, Path(settings.model).name)
        table = AreaTable.from_dict(classes, rs[0]["areas"])
        for r in rs[1:]:
            table.add(AreaTable.from_dict(classes, r["areas"]))
        atomic_write_text(out / f"{stem}_areas.csv", table.to_csv())
        write_preview(dst, out / f"{stem}_preview.png", classes)
        maps.append(dst)
        csvs.append(out / f"{stem}_areas.csv")
    assert total is not None  # find_inputs never returns an empty list
    atomic_write_text(out / "areas.csv", total.to_csv())
    windows = sum(j.windows for j in jobs)
    summary = {"model": settings.model, "backend": backend, "precision": precision[0],
               "precision_reason": precision[1], "tta": settings.tta,
               "inputs": len(files), "jobs": len(jobs), "resumed_jobs": sum(bool(r.get("resumed")) for r in results),
               "windows": windows, "processes": devices,
               "seconds": seconds, "windows_per_s": windows / seconds if seconds > 0 else 0.0,
               "settings": {k: v for k, v in asdict(settings).items() if k not in ("model", "out")},
               "area_note": total.note}
    write_json(out / "predict.json", summary)
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    return PredictResult(out, maps, csvs, summary)
