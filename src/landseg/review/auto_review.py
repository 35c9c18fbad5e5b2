"""Automatic review: a policy's decisions stored exactly as a person's would be."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from landseg.correction.auto import auto_decisions, parse_auto_policy
from landseg.review.items import read_prediction_rows
from landseg.review.store import STORE_NAME, Decision, DecisionStore, utc_now


def run_auto(review_dir: Path, policy_text: str, overwrite: bool = False) -> str:
    """Store automatic decisions like a reviewer's; people's decisions are kept unless ``overwrite``."""
    policy = parse_auto_policy(policy_text)
    rows = read_prediction_rows(review_dir)
    # Decisions are keyed by image name, as the page records them (auto gives the image path).
    name_of = {r["image"]: r["name"] for r in rows}
    decisions = [Decision.coerce(d) for d in auto_decisions(rows, policy, out_dir=review_dir, time=utc_now())]
    decisions = [replace(d, image=name_of.get(d.image, Path(d.image).stem)) for d in decisions]
    with DecisionStore(review_dir / STORE_NAME) as store:
        latest = store.latest()
        human = {n for n, d in latest.items() if not d.reviewer.startswith("auto:")}
        keep = [d for d in decisions if overwrite or d.image not in human]
        stored = store.add_many(keep)
    counts = Counter(d.choice for d in stored)
    reviewer = stored[0].reviewer if stored else f"auto:{policy_text}"
    lines = [f"{reviewer}: stored {len(stored)} decisions in {review_dir / STORE_NAME} — "
             f"A {counts['A']}, B {counts['B']}, GT {counts['GT']}, skip {counts['skip']}"]
    if len(keep) < len(decisions):
        lines.append(f"kept {len(decisions) - len(keep)} decisions made by people (--overwrite replaces them)")
    return "\n".join(lines)


def auto_review(review_dir: str | Path, policy_text: str,
                decisions_csv: str | Path | None = None) -> tuple[Path, str]:
    """Decide every image of a ``predict_pair`` folder by a policy and export ``decisions.csv`` for replace-masks.

    The unattended path of the review stage (the pipeline's ``review`` with ``auto``, and the Python API);
    returns the CSV's path (default ``<review_dir>/decisions.csv``) and a one-paragraph summary.
    """
    review_dir = Path(review_dir)
    summary = run_auto(review_dir, policy_text)
    out = Path(decisions_csv) if decisions_csv else review_dir / "decisions.csv"
    with DecisionStore(review_dir / STORE_NAME) as store:
        store.export_csv(out)
    return out, summary
