"""``write_report``: a run directory's stage records → ``report.md`` + self-contained ``report.html``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from landseg.report.document import Para, Section, render_html, render_markdown
from landseg.report.performance import (
    clean_section,
    confusion_section,
    per_class_section,
    progression_section,
)
from landseg.report.records import RunRecords
from landseg.report.workflow import (
    curves_section,
    dataset_section,
    deployment_section,
    hard_samples_section,
    provenance_section,
)
from landseg.utils import atomic_write_text


@dataclass
class ReportResult:
    markdown: Path
    html: Path
    figures: list[Path]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> ReportResult:
    """Write the run's report from its stage records (default ``out_dir``: ``run_dir/report``).

    Every number is read from ``<run_dir>/<stage>/stage.json`` or a file a record points to, so
    re-running after any stage changes gives a report that says so; a stage that is missing or
    not complete shows as "not run". The figures are saved as PNGs next to ``report.md``, which
    links them, and embedded as data URIs in ``report.html``, which needs nothing else.
    """
    rr = RunRecords.load(run_dir)
    out = Path(out_dir) if out_dir is not None else rr.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("confusion_*.png"), *out.glob("map_*.png"), out / "per_class_iou.png",
                  out / "training_curves.png"):
        stale.unlink(missing_ok=True)  # figures of an earlier report that this one may no longer draw
    figures: list[Path] = []
    models = rr.models()
    sections: list[Section | None] = [
        progression_section(rr, models),
        per_class_section(rr, models, out, figures),
        confusion_section(rr, models, out, figures),
        dataset_section(rr),
        hard_samples_section(rr),
        curves_section(rr, out, figures),
        clean_section(rr, models),
        deployment_section(rr, out, figures),
        provenance_section(rr),
    ]
    done = sum(1 for s in rr.order if rr.complete(s))
    title = f"landseg report — {rr.pipeline_name}"
    intro = [Para(f"Run directory `{rr.run_dir}`" + (f", pipeline `{rr.pipeline_file}`" if rr.pipeline_file else "")
                  + f": {done} of {len(rr.order)} stages complete. Every number below is read from the stage "
                  "records (`<stage>/stage.json`) or the files they point to; stages that are missing or not "
                  "complete read **not run**. Scores are percentages (IoU, F1, OA), differences are "
                  "percentage points (pp).")]
    kept = [s for s in sections if s is not None]
    md = atomic_write_text(out / "report.md", render_markdown(title, intro, kept))
    page = atomic_write_text(out / "report.html", render_html(title, intro, kept))
    return ReportResult(md, page, figures)


def result_lines(run_dir: str | Path) -> list[str]:
    """One line per model of the last complete evaluate stage: its mIoU on each split, as ``make demo`` ends.

    ``RESULT: step3_kd_hard   Val mIoU (5 classes, Background excluded) = 0.903, Test = 0.917``.
    """
    rr = RunRecords.load(run_dir)
    stage, _ = rr.last_complete("evaluate")
    lines = []
    for model, splits in (rr.metrics(stage).get("results") or {}).items():
        parts = []
        for i, (split, entry) in enumerate(splits.items()):
            scores = entry.get("scores") or {}
            label = f" {scores.get('labels', {}).get('mIoU', 'mIoU')}" if i == 0 else ""
            parts.append(f"{split.split('/')[0]}{label} = {scores.get('mIoU', float('nan')):.3f}")
        lines.append(f"RESULT: {model:15s} {', '.join(parts)}")
    return lines
