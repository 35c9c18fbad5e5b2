"""Ground-truth review in the browser: choose GT, prediction A or prediction B for every image.

``landseg review DIR`` serves :func:`landseg.review.app.create_app` on 127.0.0.1; decisions are
committed one by one to ``DIR/review.sqlite`` (:class:`landseg.review.store.DecisionStore`) and
exported as ``decisions.csv`` for ``landseg replace-masks``. FastAPI is imported only by
:mod:`landseg.review.app`, so the store and the export work without it.
"""

from landseg.review.store import STORE_NAME, Decision, DecisionStore

__all__ = ["STORE_NAME", "Decision", "DecisionStore"]
