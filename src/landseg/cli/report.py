"""Write a run's report: report.md (with PNG figures) and a self-contained report.html.

Every number is read from the stage records (<run_dir>/<stage>/stage.json) or the files they point
to; stages that are missing or not complete show as "not run".

Examples:
  landseg report runs/demo                       # -> runs/demo/report/report.md, report.html
  landseg report runs/demo --out reports/demo    # somewhere else
  landseg report runs/demo --results             # also one RESULT line per model (make demo prints these)
"""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "write report.md and a self-contained report.html from a pipeline run's stage records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="the pipeline's run_dir (holds <stage>/stage.json), e.g. runs/demo")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN_DIR/report)")
    p.add_argument("--results", action="store_true",
                   help="print one line per model with its mIoU on each split of the last evaluate stage")


def run(args: argparse.Namespace) -> int:
    from landseg.report import write_report

    res = write_report(args.run_dir, args.out)
    print(f"wrote {res.markdown} and {res.html} ({len(res.figures)} figure(s) next to the Markdown)")
    if args.results:
        from landseg.report import result_lines

        print()
        for line in result_lines(args.run_dir):
            print(line)
    return 0
