"""Ablations: the same pipeline over varied settings × training seeds, compared with bootstrap intervals.

One run per seed says nothing about whether a change helps: on small data two seeds of the *same*
setting can differ by more than the change. ``ablate`` runs every (variant, seed) as its own full
pipeline and reports each contrast with the reference variant as a mean difference across seeds
with a bootstrap confidence interval, so "better" means "better beyond seed noise".

Only training randomness varies with the seed: every ``train`` stage gets ``trainer.seed = k``;
data stages (``synth`` …) keep their own seeds, so every run sees the same data.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from landseg.errors import ConfigError
from landseg.pipeline.bootstrap import N_BOOT, NO_EVIDENCE, Contrast, contrast, metric_value
from landseg.pipeline.spec import load_pipeline, merged_raw
from landseg.utils import atomic_write_text, markdown_table, write_json

__all__ = [
    "AblationPlan",
    "AblationReport",
    "Run",
    "Variant",
    "Vary",
    "collect_ablation",
    "emit_jobs",
    "parse_vary",
    "plan_ablation",
    "run_ablation",
]


# --- variants and derived pipelines ---------------------------------------------------------------

@dataclass(frozen=True)
class Vary:
    """One ``--vary STAGE.PARAM.PATH=v1,v2`` option: where, and the values (YAML scalars)."""

    stage: str
    path: tuple[str, ...]
    raw: tuple[str, ...]
    values: tuple[Any, ...]

    @property
    def target(self) -> str:
        return ".".join((self.stage, *self.path))


def parse_vary(text: str) -> Vary:
    """Parse ``STAGE.PARAM.PATH=v1,v2[,...]``; values are YAML scalars (``kl``, ``0.002``, ``true``)."""
    target, sep, values = text.partition("=")
    parts = target.strip().split(".")
    raw = tuple(v.strip() for v in values.split(","))
    if not sep or len(parts) < 2 or not all(parts) or not all(raw):
        raise ConfigError(f"--vary {text!r}: expected STAGE.PARAM.PATH=VALUE1,VALUE2 "
                          "(e.g. kd.overrides.distill.loss=kl,dist).")
    parsed = []
    for r in raw:
        try:
            value = yaml.safe_load(r)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--vary {text!r}: {r!r} is not a YAML scalar ({exc}).") from None
        if isinstance(value, dict | list):
            raise ConfigError(f"--vary {text!r}: {r!r} is not a scalar; only scalar values can be varied.")
        parsed.append(value)
    return Vary(parts[0], tuple(parts[1:]), raw, tuple(parsed))


@dataclass(frozen=True)
class Variant:
    label: str                                 # "kd.overrides.distill.loss=kl" (", "-joined when several)
    slug: str                                  # its folder name under the ablation's out
    settings: tuple[tuple[Vary, Any], ...]     # (what, value) pairs applied to the pipeline


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "variant"


def make_variants(varies: Sequence[Vary]) -> list[Variant]:
    """The cartesian product of the varied values, in the order given (the first is the default reference).

    A value listed twice (``lr=0.002,0.002``) is a separate variant (``(2)``, slug ``-2``): a
    contrast of a setting with itself shows the size of pure seed noise.
    """
    if not varies:
        return [Variant("as written", "as_written", ())]
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for combo in itertools.product(*[range(len(v.values)) for v in varies]):
        text = ", ".join(f"{v.target}={v.raw[i]}" for v, i in zip(varies, combo, strict=True))
        slug = "__".join(_slug(f"{v.target}={v.raw[i]}") for v, i in zip(varies, combo, strict=True))
        seen[slug] = seen.get(slug, 0) + 1
        if seen[slug] > 1:
            text, slug = f"{text} ({seen[slug]})", f"{slug}-{seen[slug]}"
        variants.append(Variant(text, slug, tuple((v, v.values[i]) for v, i in zip(varies, combo, strict=True))))
    return variants


def _set_param(node: dict[str, Any], parts: Sequence[str], value: Any, where: str, *, flat_new: bool = False) -> None:
    """Set ``parts`` in nested params; the longest existing (possibly dotted) key wins at each level.

    Train ``overrides`` use flat dotted keys (``trainer.seed``), so a path not yet in an
    ``overrides`` mapping is added there as one dotted key (``load_config`` validates it). Elsewhere a
    missing parameter is an error: a typo would otherwise vary nothing, silently.
    """
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in node:
            break
    else:
        if flat_new:
            node[".".join(parts)] = value
            return
        if parts[0] != "overrides":
            raise ConfigError(f"{where}: no parameter {parts[0]!r} (parameters: {', '.join(node) or 'none'}); "
                              "add it to the pipeline file with its current value to vary it.")
        i, key = 1, parts[0]
    if i == len(parts):
        node[key] = value
        return
    child = node.setdefault(key, {})
    if not isinstance(child, dict):
        raise ConfigError(f"{where}: {key!r} is {child!r}, not a mapping of parameters.")
    _set_param(child, parts[i:], value, where, flat_new=key == "overrides")


@dataclass(frozen=True)
class Run:
    variant: Variant
    seed: int
    dir: Path
    pipeline: Path


@dataclass
class AblationPlan:
    source: Path
    out: Path
    variants: list[Variant]
    seeds: list[int]
    runs: list[Run]
    evaluate_stage: str
    models: list[str]
    #: Profiles laid over the pipeline file; the derived pipelines hold the merged result.
    profiles: list[Path] = field(default_factory=list)


def _fixed_outputs(raw: dict[str, Any]) -> list[str]:
    """Stages writing to a fixed ``out`` path: every variant would overwrite the same folder."""
    return [f"{s['name']} (out: {s['params']['out']})" for s in raw["stages"]
            if isinstance(s.get("params"), dict) and isinstance(s["params"].get("out"), str)
            and "{run_dir}" not in s["params"]["out"] and "{stages." not in s["params"]["out"]]


def derive_pipeline(raw: dict[str, Any], variant: Variant, seed: int, run_dir: Path) -> dict[str, Any]:
    """The pipeline file of one (variant, seed): varied params, ``trainer.seed`` on train stages, own run_dir."""
    out = copy.deepcopy(raw)
    out["run_dir"] = str(run_dir)
    out["name"] = f"{raw.get('name') or 'pipeline'}-{variant.slug}-seed{seed}"
    stages = {s["name"]: s for s in out["stages"]}
    for vary, value in variant.settings:
        if vary.stage not in stages:
            raise ConfigError(f"--vary {vary.target}: no stage {vary.stage!r} (stages: {', '.join(stages)}).")
        stage = stages[vary.stage]
        _set_param(stage.setdefault("params", {}), vary.path, value, f"--vary {vary.target}")
    for stage in out["stages"]:
        if stage["kind"] == "train":
            _set_param(stage.setdefault("params", {}), ("overrides", "trainer", "seed"), seed, stage["name"])
    return out


def plan_ablation(pipeline: str | Path, varies: Sequence[str | Vary], seeds: int, out: str | Path,
                  *, evaluate_stage: str | None = None, profiles: Sequence[str | Path] = ()) -> AblationPlan:
    """Check the pipeline and options and lay out the runs (``<out>/<variant>/seed<k>/``); writes nothing."""
    spec = load_pipeline(pipeline, profiles)  # validates the file before anything is derived from it
    raw = merged_raw(pipeline, profiles)
    vs = [v if isinstance(v, Vary) else parse_vary(v) for v in varies]
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}.")
    for v in vs:
        if ".".join(v.path).endswith("trainer.seed"):
            raise ConfigError(f"--vary {v.target}: the training seed is what --seeds varies.")
    if len({v.target for v in vs}) != len(vs):
        raise ConfigError("The same parameter is given to --vary twice; list all its values in one --vary.")
    fixed = _fixed_outputs(raw)
    if fixed:
        raise ConfigError(f"Stage(s) {'; '.join(fixed)} write to a fixed folder that every run would share; "
                          "write under \"{run_dir}/...\" instead.")
    evals = [s for s in spec.stages if s.kind == "evaluate"]
    if evaluate_stage is not None:
        evals = [spec.stage(evaluate_stage)]
        if evals[0].kind != "evaluate":
            raise ConfigError(f"Stage {evaluate_stage!r} is a {evals[0].kind} stage, not an evaluate stage.")
    if not evals:
        raise ConfigError(f"{pipeline} has no evaluate stage: an ablation compares its scores.")
    out = Path(out).resolve()
    variants = make_variants(vs)
    runs = [Run(v, k, out / v.slug / f"seed{k}", out / v.slug / f"seed{k}" / "pipeline.yaml")
            for v in variants for k in range(seeds)]
    for v in variants:  # a bad --vary fails here, before anything is written or run
        derive_pipeline(raw, v, 0, out)
    return AblationPlan(Path(pipeline), out, variants, list(range(seeds)), runs, evals[-1].name,
                        list((evals[-1].params.get("models") or {}).keys()), [Path(p) for p in profiles])


def write_pipelines(plan: AblationPlan) -> None:
    """Write each run's derived pipeline file (its stage records will sit next to it)."""
    raw = merged_raw(plan.source, plan.profiles)
    under = "".join(f" under {p}" for p in plan.profiles)
    header = (f"# Derived by `landseg ablate` from {plan.source.resolve()}{under}: {{variant}}, trainer.seed={{seed}} "
              "on every train stage.\n")
    for r in plan.runs:
        text = yaml.safe_dump(derive_pipeline(raw, r.variant, r.seed, r.dir), sort_keys=False, allow_unicode=True)
        new = header.format(variant=r.variant.label, seed=r.seed) + text
        if not r.pipeline.is_file() or r.pipeline.read_text() != new:
            atomic_write_text(r.pipeline, new)
    write_json(plan.out / "plan.json", {
        "pipeline": str(plan.source.resolve()), "seeds": plan.seeds, "evaluate_stage": plan.evaluate_stage,
        "variants": [{"label": v.label, "slug": v.slug, "settings": {s.target: val for s, val in v.settings}}
                     for v in plan.variants],
        "runs": [str(r.pipeline) for r in plan.runs]})


def run_ablation(plan: AblationPlan, *, progress: bool = True, log: Callable[[str], None] = print) -> list[str]:
    """Run every (variant, seed) pipeline in sequence; returns the runs left waiting for a person.

    The pipeline runner skips stages whose key is unchanged, so re-running an ablation (after a
    crash, or with one more variant) only runs what is missing.
    """
    from landseg.pipeline import run_pipeline

    write_pipelines(plan)
    waiting = []
    for i, r in enumerate(plan.runs, 1):
        log(f"== run {i}/{len(plan.runs)}: {r.variant.label}, seed {r.seed} ({r.dir})")
        res = run_pipeline(r.pipeline, progress=progress, log=lambda m: log(f"   {m}"))
        if res.waiting:
            waiting.append(f"{r.pipeline} (stage {res.waiting}: {res.message})")
    return waiting


def emit_jobs(plan: AblationPlan, cwd: str | Path | None = None) -> Path:
    """Write the derived pipelines and ``jobs.txt``: one ``landseg pipeline run`` line per run.

    Each line first changes to ``cwd`` (default: the current directory), because config paths in a
    pipeline file are relative to where it is run.
    """
    write_pipelines(plan)
    where = shlex.quote(str(Path(cwd or os.getcwd()).resolve()))
    lines = [f"cd {where} && landseg pipeline run {shlex.quote(str(r.pipeline))} --no-progress" for r in plan.runs]
    return atomic_write_text(plan.out / "jobs.txt", "\n".join(lines) + "\n")


# --- collecting and reporting -------------------------------------------------------------------

def _scores_of(run: Run, stage: str, model: str, split: str) -> dict[str, Any] | None:
    """The run's scores for (model, split), or None when its evaluate stage has not completed."""
    from landseg.report.records import read_record

    rec = read_record(run.dir, stage)
    if not rec or rec.get("status") != "complete":
        return None
    results = (rec.get("metrics") or {}).get("results") or {}
    if model not in results:
        raise ConfigError(f"{run.dir / stage / 'stage.json'} has no model {model!r} (models: {', '.join(results)}).")
    if split not in results[model]:
        raise ConfigError(f"{run.dir / stage / 'stage.json'}: model {model!r} was not evaluated on {split!r} "
                          f"(splits: {', '.join(results[model])}); choose one with --split.")
    return results[model][split]["scores"]


@dataclass
class VariantSummary:
    variant: Variant
    scores: dict[int, dict[str, Any]]
    missing: list[int]

    def stats(self, key: str) -> tuple[float, float]:
        """Mean and sample standard deviation across seeds (std 0 with one seed)."""
        vals = np.array([metric_value(s[key]) for s in self.scores.values()], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        if not vals.size:
            return math.nan, math.nan
        return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0


@dataclass
class AblationReport:
    plan: AblationPlan
    split: str
    model: str
    reference: str
    summaries: list[VariantSummary]
    contrasts: list[Contrast]
    n_boot: int
    level: float
    rng_seed: int
    labels: dict[str, str] = field(default_factory=dict)

    def markdown(self) -> str:
        pct = 100 * self.level
        miou, miou_all = self.labels.get("mIoU", "mIoU"), self.labels.get("mIoU_all", "mIoU (all classes)")
        lines = [f"# Ablation of {self.plan.source}", "",
                 f"Model `{self.model}` on `{self.split}`, {len(self.plan.seeds)} training seed(s) per variant "
                 f"(trainer.seed = {', '.join(map(str, self.plan.seeds))} on every train stage; data fixed). "
                 "Scores in IoU points (%).", ""]
        rows = []
        for s in self.summaries:
            ref = " (reference)" if s.variant.label == self.reference else ""
            missing = f" ({len(s.missing)} missing)" if s.missing else ""
            cells = [f"{100 * m:.2f} ± {100 * d:.2f}" if not math.isnan(m) else "n/a"
                     for m, d in (s.stats("mIoU"), s.stats("mIoU_all"))]
            rows.append([f"{s.variant.label}{ref}", f"{len(s.scores)}{missing}", *cells])
        lines.append(markdown_table(["variant", "seeds", f"{miou}: mean ± std", f"{miou_all}: mean ± std"], rows,
                                    [False, True, True, True], pad=False))
        lines += ["", f"Contrasts with the reference `{self.reference}` (variant − reference): mean difference "
                  f"across seeds, {pct:g}% bootstrap interval.", ""]
        rows = []
        for c in self.contrasts:
            pairing = f"paired, {len(c.var_seeds)}" if c.paired else f"unpaired, {len(c.ref_seeds)} vs {len(c.var_seeds)}"
            for e in c.estimates:
                ci = "n/a" if math.isnan(e.low) else f"[{100 * e.low:+.2f}, {100 * e.high:+.2f}]"
                delta = "n/a" if math.isnan(e.mean) else f"{100 * e.mean:+.2f}"
                rows.append([c.variant, e.label, delta, ci, pairing, e.verdict])
        lines.append(markdown_table(["variant", "metric", "Δ", f"{pct:g}% CI", "seeds", ""], rows,
                                    [False, False, True, True, False, False], pad=False))
        lines += ["", f"{NO_EVIDENCE} Percentile bootstrap over seeds (B={self.n_boot:,}, RNG seed {self.rng_seed}; "
                  "paired by seed when both variants have the same seeds). With few seeds the interval is "
                  "rough (3 seeds allow only 10 distinct resamples): prefer 5 or more."]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        def summary(s: VariantSummary) -> dict[str, Any]:
            out: dict[str, Any] = {"label": s.variant.label, "slug": s.variant.slug,
                                   "settings": {v.target: val for v, val in s.variant.settings},
                                   "seeds": sorted(s.scores), "missing_seeds": s.missing}
            for key in ("mIoU", "mIoU_all"):
                mean, std = s.stats(key)
                out[key] = {"values": [metric_value(s.scores[k][key]) for k in sorted(s.scores)], "mean": mean, "std": std}
            return out

        return {"pipeline": str(self.plan.source), "out": str(self.plan.out), "split": self.split,
                "model": self.model, "evaluate_stage": self.plan.evaluate_stage, "seeds": self.plan.seeds,
                "reference": self.reference, "labels": self.labels, "n_boot": self.n_boot, "level": self.level,
                "rng_seed": self.rng_seed, "note": NO_EVIDENCE,
                "variants": [summary(s) for s in self.summaries],
                "contrasts": [{"variant": c.variant, "reference": c.reference, "paired": c.paired,
                               "ref_seeds": c.ref_seeds, "var_seeds": c.var_seeds,
                               "estimates": [{"metric": e.metric, "label": e.label, "mean": e.mean, "low": e.low,
                                              "high": e.high, "n": e.n, "contains_zero": e.contains_zero,
                                              "verdict": e.verdict} for e in c.estimates]}
                              for c in self.contrasts]}


def _pick_reference(variants: list[Variant], reference: str | None) -> Variant:
    if reference is None:
        return variants[0]
    for v in variants:
        if reference in (v.label, v.slug):
            return v
    raise ConfigError(f"--reference {reference!r} is not a variant; variants: "
                      f"{'; '.join(v.label for v in variants)}.")


def collect_ablation(plan: AblationPlan, *, split: str = "Test", model: str | None = None,
                     reference: str | None = None, n_boot: int = N_BOOT, level: float = 0.95,
                     rng_seed: int = 0, write: bool = True) -> AblationReport:
    """Gather every run's evaluate scores and compare each variant with the reference.

    Runs without a complete evaluate stage are reported as missing (and make the contrast
    unpaired); writes ``<out>/ablation.json`` and ``<out>/ablation.md``.
    """
    if model is None:
        if not plan.models:
            raise ConfigError(f"Evaluate stage {plan.evaluate_stage!r} names no models.")
        model = plan.models[-1]
    ref_variant = _pick_reference(plan.variants, reference)
    summaries = []
    for v in plan.variants:
        runs = [r for r in plan.runs if r.variant == v]
        got = {r.seed: _scores_of(r, plan.evaluate_stage, model, split) for r in runs}
        summaries.append(VariantSummary(v, {k: s for k, s in got.items() if s is not None},
                                        [k for k, s in got.items() if s is None]))
    empty = [s.variant.label for s in summaries if not s.scores]
    if empty:
        raise ConfigError(f"No completed runs for: {'; '.join(empty)}. Run them first (landseg ablate without "
                          f"--collect, or the commands in {plan.out / 'jobs.txt'}).")
    ref = next(s for s in summaries if s.variant == ref_variant)
    contrasts = [contrast(ref.scores, s.scores, variant=s.variant.label, reference=ref_variant.label,
                          n_boot=n_boot, seed=rng_seed, level=level)
                 for s in summaries if s.variant != ref_variant]
    first = next(iter(ref.scores.values()))
    report = AblationReport(plan, split, model, ref_variant.label, summaries, contrasts, n_boot, level, rng_seed,
                            {"mIoU": first["labels"]["mIoU"], "mIoU_all": first["labels"]["mIoU_all"]})
    if write:
        write_json(plan.out / "ablation.json", report.to_json())
        atomic_write_text(plan.out / "ablation.md", report.markdown())
    return report
