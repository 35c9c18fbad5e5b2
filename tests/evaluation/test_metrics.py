"""Metrics: ConfusionMatrix/segmentation_scores against torchmetrics, hand examples, DDP sync."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)

from landseg.classes import BIODIVERSITY, ClassInfo, ClassTable
from landseg.evaluation.metrics import ConfusionMatrix, per_class_markdown, segmentation_scores, to_jsonable

C = len(BIODIVERSITY)
IGNORE = BIODIVERSITY.ignore_index

#: BIODIVERSITY with Background not counted in means (the usual "5 classes" report; the default).
NO_BACKGROUND = ClassTable(
    (ClassInfo("Background", (0, 0, 0), count_in_means=False), *BIODIVERSITY.classes[1:])
)
#: Every class counted in the means.
ALL_COUNTED = ClassTable(tuple(ClassInfo(c.name, c.color, True) for c in BIODIVERSITY.classes))


def _random_batch(gen: torch.Generator, n: int = 2, size: int = 16, logits: bool = True):
    target = torch.randint(0, C, (n, size, size), generator=gen)
    target[torch.rand(n, size, size, generator=gen) < 0.15] = IGNORE
    if logits:
        preds = torch.randn(n, C, size, size, generator=gen)
    else:
        preds = torch.randint(0, C, (n, size, size), generator=gen)
    return preds, target


def test_matches_torchmetrics_over_several_batches():
    gen = torch.Generator().manual_seed(0)
    ours = ConfusionMatrix(C, ignore_index=IGNORE)
    common = {"num_classes": C, "average": None, "ignore_index": IGNORE}
    ref = {
        "IoU": MulticlassJaccardIndex(**common),
        "F1": MulticlassF1Score(**common),
        "precision": MulticlassPrecision(**common),
        "recall": MulticlassRecall(**common),
    }
    acc = MulticlassAccuracy(num_classes=C, average="micro", ignore_index=IGNORE)
    for step in range(4):
        preds, target = _random_batch(gen, logits=step % 2 == 0)
        ours.update(preds, target)
        for m in [*ref.values(), acc]:
            m.update(preds, target)

    scores = segmentation_scores(ours.compute(), ALL_COUNTED)
    for key, metric in ref.items():
        np.testing.assert_allclose(scores[key], metric.compute().numpy(), rtol=1e-6, err_msg=key)
    assert scores["OA"] == pytest.approx(acc.compute().item(), rel=1e-6)
    assert scores["mIoU"] == pytest.approx(float(np.mean(scores["IoU"])))
    assert scores["total_pixels"] == int(ours.compute().sum())
    assert ours.compute().dtype == torch.int64


def test_ignore_pixels_are_not_counted():
    cm = ConfusionMatrix(C, ignore_index=IGNORE)
    target = torch.full((1, 4, 4), IGNORE)
    target[0, 0, 0] = 2
    preds = torch.zeros(1, 4, 4, dtype=torch.long)
    cm.update(preds, target)
    expected = torch.zeros(C, C, dtype=torch.int64)
    expected[2, 0] = 1
    assert torch.equal(cm.compute(), expected)


def test_out_of_range_labels_are_reported():
    cm = ConfusionMatrix(C, ignore_index=IGNORE)
    with pytest.raises(ValueError, match="outside 0..5"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 7))


def test_hand_computed_two_class_example():
    # truth\pred   0  1
    #     0        3  1
    #     1        2  4
    scores = segmentation_scores(np.array([[3, 1], [2, 4]]))
    assert scores["OA"] == pytest.approx(7 / 10)
    assert scores["IoU"] == pytest.approx([3 / 6, 4 / 7])
    assert scores["F1"] == pytest.approx([6 / 9, 8 / 11])
    assert scores["precision"] == pytest.approx([3 / 5, 4 / 5])
    assert scores["recall"] == pytest.approx([3 / 4, 4 / 6])
    assert scores["mIoU"] == pytest.approx((3 / 6 + 4 / 7) / 2)
    assert scores["mIoU_all"] == scores["mIoU"]
    assert scores["pixels"] == [4, 6]
    assert scores["labels"]["mIoU"] == "mIoU (2 classes)"


def test_update_accepts_logits_and_labels_identically():
    gen = torch.Generator().manual_seed(1)
    logits, target = _random_batch(gen)
    a, b = ConfusionMatrix(C), ConfusionMatrix(C)
    a.update(logits, target)
    b.update(logits.argmax(1), target)
    assert torch.equal(a.compute(), b.compute())


def test_absent_class_is_nan_and_skipped_in_means():
    cm = np.zeros((3, 3), dtype=np.int64)
    cm[0, 0], cm[0, 1], cm[1, 1] = 5, 1, 4  # class 2 in neither truth nor prediction
    scores = segmentation_scores(cm)
    for key in ("IoU", "F1", "precision", "recall"):
        assert math.isnan(scores[key][2]), key
    assert scores["mIoU"] == pytest.approx((5 / 6 + 4 / 5) / 2)
    assert scores["mIoU_all"] == pytest.approx(scores["mIoU"])

    # Present in truth but never predicted: a real failure, scored 0, not NaN.
    cm[2, 0] = 3
    scores = segmentation_scores(cm)
    assert scores["IoU"][2] == 0.0 and scores["precision"][2] == 0.0

    data = to_jsonable(segmentation_scores(np.zeros((2, 2))))
    assert data["IoU"] == [None, None] and data["OA"] is None and data["mIoU"] is None
    json.dumps(data, allow_nan=False)


def test_background_exclusion_and_labels():
    gen = torch.Generator().manual_seed(2)
    cm = ConfusionMatrix(C)
    cm.update(*_random_batch(gen))
    incl = segmentation_scores(cm.compute(), ALL_COUNTED)
    excl = segmentation_scores(cm.compute(), NO_BACKGROUND)
    by_exclude = segmentation_scores(cm.compute(), ALL_COUNTED, exclude=[0])
    by_name = segmentation_scores(cm.compute(), ALL_COUNTED, exclude=["background"])
    assert segmentation_scores(cm.compute(), BIODIVERSITY)["mIoU"] == excl["mIoU"]  # the default table

    assert excl["mIoU"] == pytest.approx(float(np.mean(excl["IoU"][1:])))
    assert excl["mIoU_all"] == pytest.approx(incl["mIoU"])
    assert excl["mF1"] == pytest.approx(float(np.mean(excl["F1"][1:])))
    assert excl["mIoU"] != pytest.approx(incl["mIoU"])
    for other in (by_exclude, by_name):
        assert other["mIoU"] == excl["mIoU"] and other["means_over"] == excl["means_over"]

    assert excl["means_over"] == BIODIVERSITY.names[1:]
    assert excl["labels"]["mIoU"] == "mIoU (5 classes, Background excluded)"
    assert excl["labels"]["mIoU_all"] == "mIoU (6 classes)"
    assert excl["labels"]["mF1"] == "mean F1 (5 classes, Background excluded)"
    assert incl["labels"]["mIoU"] == "mIoU (6 classes)"
    # exclude overrides the table: nothing excluded although the table drops Background.
    assert segmentation_scores(cm.compute(), NO_BACKGROUND, exclude=[])["mIoU"] == incl["mIoU"]
    with pytest.raises(ValueError, match="valid indices"):
        segmentation_scores(cm.compute(), BIODIVERSITY, exclude=[9])
    json.dumps(to_jsonable(excl), allow_nan=False)


def test_markdown_table():
    gen = torch.Generator().manual_seed(3)
    cm = ConfusionMatrix(C)
    cm.update(*_random_batch(gen))
    scores = segmentation_scores(cm.compute(), NO_BACKGROUND)
    md = per_class_markdown(scores, NO_BACKGROUND)
    lines = md.splitlines()
    assert lines[0].startswith("| class | IoU")
    assert any(line.startswith("| Background †") for line in lines)
    assert "Mean (5 classes, Background excluded)" in md and "Mean (6 classes)" in md
    assert f"{100 * scores['mIoU']:.2f}" in md
    # One mean row when every class counts.
    md_all = per_class_markdown(segmentation_scores(cm.compute(), ALL_COUNTED), ALL_COUNTED)
    assert md_all.count("**Mean (") == 1


# --- DDP ------------------------------------------------------------------------------------------


def _ddp_worker(rank: int, world_size: int, out_dir: str) -> None:
    """Each rank sees different data; compute() must return the global (summed) matrix."""
    import torch.distributed as dist

    # A file rendezvous in tmp_path: no port to race for, nothing left behind.
    init = f"file://{Path(out_dir) / 'rendezvous'}"
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world_size)
    try:
        gen = torch.Generator().manual_seed(100 + rank)
        metric = ConfusionMatrix(C)
        local = torch.zeros(C, C, dtype=torch.int64)
        for _ in range(rank + 1):  # different number of batches per rank, too
            preds, target = _random_batch(gen)
            metric.update(preds, target)
            single = ConfusionMatrix(C)
            single.update(preds, target)
            local += single.confmat
        synced = metric.compute()
        torch.save({"local": local, "synced": synced.clone()}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_sync_sums_over_ranks(tmp_path):
    import torch.multiprocessing as mp

    start = time.monotonic()
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    total = results[0]["local"] + results[1]["local"]
    assert not torch.equal(results[0]["local"], results[1]["local"])
    for r in results:
        assert torch.equal(r["synced"], total)
    assert time.monotonic() - start < 60
