"""Wall time of the whole demo (``make demo``: the seed workflow under the demo profile, then the report)
from an empty ``runs/demo``.

Why a benchmark and not a test: the demo's budget (<= 15 min on 2 cores, any CPU) is about the
machine, so it is measured and reported with the CPU beside it, never asserted by a unit test.

``--isa avx2`` measures the AVX2-only path on a CPU that has more: it sets
``ATEN_CPU_CAPABILITY=avx2`` (PyTorch's own kernels) and ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's),
so ``torch.backends.cpu.get_cpu_capability()`` reports AVX2, the native-bf16 probe is False and
``precision: auto`` chooses fp32 — the code path of an AVX2-only laptop or VM (the clock and caches
stay this CPU's, which the report says).

    .venv/bin/python benchmarks/bench_demo.py --json runs/bench/demo_native.json
    .venv/bin/python benchmarks/bench_demo.py --isa avx2 --json runs/bench/demo_avx2.json

It deletes ``runs/demo`` first (the demo's own output folder) and runs the demo twice: cold, then
again (every stage up to date) to time the skip path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import cpu_info, publish  # noqa: E402  (sibling script: CPU description, output)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "runs" / "demo"
ISA_ENV = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def _probe(env: dict[str, str]) -> dict[str, Any]:
    code = ("import json, torch; from landseg.precision import choose_precision as c; p = c('auto', 'cpu'); "
            "print(json.dumps({'cpu_capability': torch.backends.cpu.get_cpu_capability(), "
            "'mkldnn_bf16': bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()), 'auto_precision': str(p)}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, **ISA_ENV.get(args.isa, {})}
    landseg = str(Path(sys.executable).with_name("landseg"))
    shutil.rmtree(DEMO, ignore_errors=True)
    info = {**cpu_info(), **_probe(env), "isa_limit": args.isa, "threads": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)), "load_avg_start": list(os.getloadavg())}
    pipeline = [landseg, "pipeline", "run", "config/biodiversity/pipeline.yaml", "--profile", "config/demo/profile.yaml",
                "--no-progress"]
    cold, log = _run(pipeline, env)
    report_s, _ = _run([landseg, "report", str(DEMO)], env)
    warm, _ = _run(pipeline, env)
    from landseg.precision import describe

    stages = []
    for rec_path in sorted(DEMO.glob("*/stage.json")):
        rec = json.loads(rec_path.read_text())
        stages.append({"stage": rec.get("stage"), "kind": rec.get("kind"), "seconds": rec.get("duration_s"),
                       "started": rec.get("started"),
                       "precision": describe(rec.get("metrics")).split(" (")[0]})
    stages.sort(key=lambda s: str(s["started"]))
    evaluate = json.loads((DEMO / "evaluate" / "stage.json").read_text())["metrics"]["results"]
    results = {m: {split.split("/")[0]: e["scores"]["mIoU"] for split, e in s.items()} for m, s in evaluate.items()}
    replace = json.loads((DEMO / "replace_masks" / "stage.json").read_text())["metrics"]
    info["mask_accuracy_vs_clean"] = replace.get("accuracy_vs_clean")
    info["load_avg_end"] = list(os.getloadavg())
    return {"info": info, "cold_pipeline_s": cold, "report_s": report_s, "second_run_s": warm,
            "stages": stages, "results": results, "log_tail": log[-2000:]}


def markdown(r: dict[str, Any]) -> str:
    i = r["info"]
    head = (f"CPU: {i['cpu_model']} ({i['affinity']} cores usable; torch ISA {i['cpu_capability']}"
            f"{' — limited by ' + i['isa_limit'] if i['isa_limit'] != 'native' else ''}; native bf16: "
            f"{'yes' if i['mkldnn_bf16'] else 'no'}); precision auto → {i['auto_precision']}\n\n"
            f"Demo pipeline {r['cold_pipeline_s'] / 60:.1f} min ({r['cold_pipeline_s']:.0f} s) + report "
            f"{r['report_s']:.0f} s; second run {r['second_run_s']:.1f} s. Load average before "
            f"{i['load_avg_start'][0]:.2f}, after {i['load_avg_end'][0]:.2f}.\n\n")
    rows = "| stage | kind | precision | seconds |\n|---|---|---|---:|\n" + "".join(
        f"| {s['stage']} | {s['kind']} | {s['precision'] or '—'} | {s['seconds']:.1f} |\n" for s in r["stages"])
    res = "\n| model | Val mIoU | Test mIoU |\n|---|---:|---:|\n" + "".join(
        f"| {m} | {v['Val']:.3f} | {v['Test']:.3f} |\n" for m, v in r["results"].items())
    acc = i.get("mask_accuracy_vs_clean") or {}
    before, after = acc.get("before") or {}, acc.get("after") or {}
    fix = "".join(f"\nMask accuracy vs clean truth, {k}: {before[k]:.4f} → {after.get(k, float('nan')):.4f}"
                  for k in sorted(before))
    return head + rows + res + fix + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--isa", choices=["native", *ISA_ENV], default="native",
                   help="limit PyTorch/oneDNN to this ISA (avx2: the path of CPUs without AVX-512/native bf16)")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    args = p.parse_args(argv)
    report = run(args)
    publish(markdown(report), report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
