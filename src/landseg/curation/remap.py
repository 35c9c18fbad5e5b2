"""``remap_dataset``: rewrite a dataset's masks through a class mapping into a new folder.

Also home of the output machinery ``import-oem`` shares (:mod:`landseg.curation.oem` builds on
it): a fresh output folder that records the arguments it was made with (so a killed run resumes
and a different run is refused), atomic per-file writes that skip files already holding the right
bytes, a process pool whose results come back in input order (deterministic output for any
``workers``), and ``manifest.csv``. Every input is checked before the first byte is written, so
bad input leaves the output folder as it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from landseg.classes import ClassTable
from landseg.curation.mapping import ClassMapping, load_mapping
from landseg.errors import ConfigError, DatasetError, LandsegError
from landseg.utils import TMP_SUFFIX, atomic_write_bytes

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "source", "source_image", "source_label", "split", "row", "col", "crs", "transform",
                    "width", "height", "sha256")
#: Records which command and arguments made an output folder (the key to resuming it).
STATE = Path(".landseg") / "created_by.json"
#: Temp files of interrupted writes end like this (the journal's copies use the same suffix).

T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class ManifestRow:
    """One written pair. ``file`` is the mask's name (the image has the same stem)."""

    file: str
    source: str
    source_image: str
    source_label: str
    split: str
    width: int
    height: int
    sha256: str
    row: int | None = None
    col: int | None = None
    crs: str = ""
    transform: tuple[float, ...] | None = None

    def as_csv(self) -> dict[str, str]:
        d = {k: "" if v is None else str(v) for k, v in asdict(self).items()}
        d["transform"] = " ".join(repr(float(v)) for v in self.transform) if self.transform else ""
        return d


def write_manifest(out: Path, rows: Iterable[ManifestRow]) -> Path:
    """Write ``out/manifest.csv`` atomically, sorted by (split, file) so it never depends on workers."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r.split, r.file)):
        writer.writerow(row.as_csv())
    write_bytes_atomic(out / MANIFEST, buf.getvalue().encode())
    return out / MANIFEST


# --------------------------------------------------------------------------- output folder


def check_output(out: Path, command: str, arguments: dict[str, Any]) -> bool:
    """Read-only check of ``out``: False when new or empty, True when it holds a previous run of
    the same command with the same arguments (resume), else a ConfigError saying which it holds."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder.")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    state_file = out / STATE
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        found = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        raise ConfigError(f"--out {out} is not empty and holds no landseg {command} output (found: {found}); "
                          "choose a new or empty folder.") from None
    if state.get("command") != command:
        raise ConfigError(f"--out {out} holds the output of `landseg {state.get('command')}`, not {command}; "
                          "choose a new or empty folder.")
    before = state.get("arguments", {})
    if before != arguments:
        diff = "; ".join(f"{k}: {before.get(k)!r} there, {arguments.get(k)!r} now"
                         for k in sorted(set(before) | set(arguments)) if before.get(k) != arguments.get(k))
        raise ConfigError(f"--out {out} holds a previous {command} with different arguments ({diff}). "
                          "Re-run with the same arguments to resume it, or choose a new --out.")
    return True


def claim_output(out: Path, command: str, arguments: dict[str, Any]) -> None:
    """Create ``out`` and record the arguments before the first output file is written."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.rglob(f".*{TMP_SUFFIX}"):  # left by a killed run
        stale.unlink(missing_ok=True)
    state = json.dumps({"command": command, "arguments": arguments}, indent=1) + "\n"
    write_bytes_atomic(out / STATE, state.encode())


def write_bytes_atomic(path: Path, data: bytes) -> bool:
    """Put ``data`` at ``path`` (temp file + rename); False when ``path`` already holds exactly it.

    No fsync: a resumed run compares every file's bytes anyway and rewrites what is wrong.
    """
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def link_or_copy(src: Path, dst: Path) -> bool:
    """Byte-identical copy of ``src`` at ``dst`` (hard link when possible); False if already there."""
    from landseg.curation.journal import copy_atomic
    from landseg.utils import sha256_file

    if dst.is_file() and (os.path.samefile(src, dst) or sha256_file(src) == sha256_file(dst)):
        return False
    copy_atomic(src, dst, link=True)
    return True


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an ``HxW`` (mode L) or ``HxWx3`` (RGB) uint8 array; same array, same bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- checking and running


def check_unique(outputs: Iterable[tuple[str, str]]) -> None:
    """Refuse two inputs writing the same output: ``(output path, description of its input)``."""
    seen: dict[str, str] = {}
    for name, origin in outputs:
        if name in seen:
            raise DatasetError(f"output name clash: {name} would be written from {seen[name]} and from {origin}; "
                               "rename one of the sources (or give them different --prefix runs).")
        seen[name] = origin


def raise_problems(attempts: Iterable[tuple[Any, str | None]], limit: int = 10) -> None:
    """One DatasetError for every bad input found by a checking pass (nothing written yet)."""
    found = [problem for _, problem in attempts if problem]
    if not found:
        return
    if len(found) == 1:
        raise DatasetError(f"{found[0]} Nothing was written.")
    more = f"\n  ... and {len(found) - limit} more" if len(found) > limit else ""
    raise DatasetError(f"{len(found)} input files have problems; nothing was written:\n  - "
                       + "\n  - ".join(found[:limit]) + more)


def attempt(fn: Callable[[T], R], item: T) -> tuple[R | None, str | None]:
    """``(fn(item), None)``, or ``(None, message)`` for a user-facing error, so one checking pass
    reports every bad file instead of stopping at the first."""
    try:
        return fn(item), None
    except LandsegError as exc:
        return None, str(exc)


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int = 1, progress: bool = True,
                 desc: str = "") -> list[R]:
    """``[fn(x) for x in items]`` over ``workers`` processes, results in input order."""
    from tqdm import tqdm

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    bar = tqdm(total=len(items), desc=desc, unit="file", disable=not progress or not items)
    try:
        if workers == 1 or len(items) < 2:
            results = []
            for item in items:
                results.append(fn(item))
                bar.update()
            return results
        with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                results = []
                for fut in futures:
                    results.append(fut.result())
                    bar.update()
                return results
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    finally:
        bar.close()


def write_all(fn: Callable[[T], R], items: Sequence[T], workers: int, progress: bool, desc: str) -> list[R]:
    """The writing pass. An input failing only now (pixel data damaged behind a valid header) stops
    it: that input wrote nothing, what was written before is complete and a re-run resumes."""
    try:
        return parallel_map(fn, items, workers, progress, desc)
    except LandsegError as exc:
        raise DatasetError(f"{exc} Nothing was written for it; files written before it are complete and "
                           "kept. Fix or remove it, then re-run the same command to resume.") from exc


# --------------------------------------------------------------------------- results


@dataclass
class CurationResult:
    """What a remapping command wrote; ``pixels`` counts every output mask (class name or "ignore")."""

    out: Path
    manifest: Path
    classes: ClassTable
    tiles: int
    written: int
    skipped: int
    pixels: dict[str, int]
    resumed: bool = False
    unlabelled: list[str] = field(default_factory=list)

    def share(self, class_name: str, denominator: str = "all") -> float:
        """Share of ``class_name`` among all pixels or among labelled (non-ignore) pixels."""
        total = sum(self.pixels.values()) - (self.pixels["ignore"] if denominator == "labelled" else 0)
        return self.pixels[self.classes.names[self.classes.index(class_name)]] / total if total else 0.0

    def shares_text(self) -> str:
        parts = [f"{n} {100 * self.share(n):.2f}% / {100 * self.share(n, 'labelled'):.2f}%" for n in self.classes.names]
        ignore = self.pixels["ignore"] / max(1, sum(self.pixels.values()))
        return "Class shares (all / labelled pixels): " + ", ".join(parts) + f"; ignore {100 * ignore:.2f}%"


def count_pixels(masks: Iterable[np.ndarray], classes: ClassTable) -> dict[str, int]:
    counts = np.zeros(256, dtype=np.int64)
    for mask in masks:
        counts += np.bincount(mask.ravel(), minlength=256)
    out = {name: int(counts[i]) for i, name in enumerate(classes.names)}
    out["ignore"] = int(counts[classes.ignore_index])
    return out


def sum_pixels(parts: Iterable[dict[str, int]], classes: ClassTable) -> dict[str, int]:
    total = dict.fromkeys([*classes.names, "ignore"], 0)
    for part in parts:
        for k, v in part.items():
            total[k] += v
    return total


def short_list(items: Sequence[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


@dataclass
class RemapResult(CurationResult):
    def report(self) -> str:
        lines = [f"Remapped {self.tiles} mask(s) into {self.out}: {self.written} pair(s) written, "
                 f"{self.skipped} already present" + (" (resumed a previous run)" if self.resumed else "") + ".",
                 self.shares_text()]
        if self.unlabelled:
            lines.append(f"Not remapped: {len(self.unlabelled)} image(s) without a mask: {short_list(self.unlabelled)}")
        lines.append(f"Manifest: {self.manifest}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- remap_dataset


@dataclass(frozen=True)
class _Pair:
    image: Path
    mask: Path
    folder: str  # the pair's folder relative to the dataset root ("" for a flat dataset)
    name: str  # output stem (prefix + input stem)


def _dataset_pairs(root: Path, split: str | None) -> list[tuple[Path, Path | None]]:
    """Pairs of one split, of a flat dataset, or of every top-level split of a LoveDA dataset."""
    from landseg.data.files import available_splits, find_pairs

    if split or (root / "images_png").is_dir():
        return find_pairs(root, split, require_masks=False)
    tops = [s for s in available_splits(root) if "/" not in s]
    if not tops:
        return find_pairs(root, require_masks=False)  # raises the dataset's own "no images" error
    return [pair for top in tops for pair in find_pairs(root, top, require_masks=False)]


def _folder(image: Path, root: Path) -> str:
    """The folder holding ``images_png``, relative to the root: ``Train/Rural``, or "" when flat."""
    rel = image.parent.parent.relative_to(root)
    return "" if rel == Path(".") else rel.as_posix()


def _check_pair(pair: _Pair, mapping: ClassMapping) -> None:
    from landseg.data.files import check_same_size, image_size, read_mask

    mask = read_mask(pair.mask)
    check_same_size(pair.image, image_size(pair.image, "image"), pair.mask, mask.shape[1::-1])
    mapping.apply(mask, str(pair.mask))


def _write_pair(pair: _Pair, mapping: ClassMapping, out: Path, source: str) -> tuple[ManifestRow, bool, dict[str, int]]:
    from landseg.data.files import read_mask

    mask = mapping.apply(read_mask(pair.mask), str(pair.mask))
    png = encode_png(mask)
    folder = out / pair.folder
    wrote_image = link_or_copy(pair.image, folder / "images_png" / f"{pair.name}{pair.image.suffix}")
    wrote_mask = write_bytes_atomic(folder / "masks_png" / f"{pair.name}.png", png)
    row = ManifestRow(file=f"{pair.name}.png", source=source,
                      source_image=str(pair.image), source_label=str(pair.mask), split=pair.folder,
                      width=mask.shape[1], height=mask.shape[0], sha256=sha256_bytes(png))
    return row, wrote_image or wrote_mask, count_pixels([mask], mapping.target)


def remap_dataset(dataset: str | Path, mapping: str | Path | ClassMapping, out: str | Path, *,
                  split: str | None = None, prefix: str = "", workers: int = 1,
                  progress: bool = True) -> RemapResult:
    """Copy ``dataset`` (LoveDA or flat layout) into ``out`` with every mask remapped by ``mapping``.

    The input layout is kept (``Train/Rural/images_png`` stays there); images are hard-linked or
    copied byte for byte; output names get ``prefix``. Images without a mask are reported, not
    copied. A non-empty ``out`` is refused unless it holds this same remap (then it is resumed).
    """
    root, out = Path(dataset).resolve(), Path(out).resolve()
    if not isinstance(mapping, ClassMapping):
        mapping = load_mapping(mapping)
    if any(c in prefix for c in "/\\"):
        raise ConfigError(f"--prefix {prefix!r} must not contain a path separator.")
    if out == root or root in out.parents:
        raise ConfigError(f"--out {out} is inside the dataset {root}; choose a folder outside it.")
    found = _dataset_pairs(root, split)
    arguments = {"dataset": str(root), "split": split, "prefix": prefix, "mapping": mapping.fingerprint()}
    resumed = check_output(out, "remap", arguments)
    pairs = [_Pair(image, mask, _folder(image, root), prefix + image.stem) for image, mask in found if mask is not None]
    unlabelled = [str(image) for image, mask in found if mask is None]
    if not pairs:
        raise DatasetError(f"no image in {root}{f' (split {split})' if split else ''} has a mask; nothing to remap.")
    check_unique((f"{p.folder}/{p.name}", str(p.image)) for p in pairs)
    raise_problems(parallel_map(partial(attempt, partial(_check_pair, mapping=mapping)), pairs, workers,
                                progress, "check"))
    claim_output(out, "remap", arguments)
    write = partial(_write_pair, mapping=mapping, out=out, source=mapping.source_name or root.name)
    done = write_all(write, pairs, workers, progress, "remap")
    manifest = write_manifest(out, [row for row, _, _ in done])
    written = sum(w for _, w, _ in done)
    return RemapResult(out=out, manifest=manifest, classes=mapping.target, tiles=len(done), written=written,
                       skipped=len(done) - written, pixels=sum_pixels((p for _, _, p in done), mapping.target),
                       resumed=resumed, unlabelled=unlabelled)
