"""Ground-truth correction: two-model predictions, label-quality ranking, review, mask replacement.

Files shared by the stages (so each can be run, resumed and checked on its own):

* ``DIR/predict_pair.json`` — models (label -> checkpoint), data root, split, mask_dir, classes, tta.
* ``DIR/predictions.csv`` — one row per image (see :data:`landseg.correction.PREDICTION_COLUMNS`).
* ``DIR/pred_<LABEL>/<name>.png`` — predicted masks (palette PNG; palette index = class index).
* ``DIR/overlay_<LABEL>/<name>.jpg`` and ``DIR/overlay_GT/<name>.jpg`` — colour overlays.
* ``DIR/review.sqlite`` — reviewers' decisions (WAL), written by ``landseg review``.
* ``decisions.csv`` — exported decisions (see :data:`DECISION_COLUMNS`), read by ``replace-masks``.
"""

#: predictions.csv columns. Paths are absolute except pred_*/overlay_* (relative to DIR).
PREDICTION_COLUMNS = [
    "name",            # image file stem
    "split",           # split/domain folder holding it, e.g. "Val/Rural" ("" for flat datasets)
    "image",           # absolute path of the RGB image
    "gt_mask",         # absolute path of the ground-truth mask
    "pred_A", "pred_B",              # relative paths of the predicted masks
    "iou_A", "iou_B",                # mean IoU of each prediction against GT (classes present in either)
    "acc_A", "acc_B",                # pixel accuracy against GT (labelled pixels)
    "agreement",                     # fraction of labelled pixels where A and B agree
    "label_quality",                 # cleanlab label-quality score of the GT in [0, 1]; low = likely wrong
    "gt_classes",                    # ';'-joined class indices present in GT
]

#: decisions.csv columns; ``choice`` is GT, A, B or skip; ``prediction`` is the chosen mask's
#: absolute path (empty for GT/skip).
DECISION_COLUMNS = ["image", "choice", "reviewer", "time", "note", "prediction"]
CHOICES = ("GT", "A", "B", "skip")
