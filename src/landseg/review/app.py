"""The review web app: a JSON API over a predict-pair folder plus one static page.

Security model: the server is meant for one reviewer on 127.0.0.1. It serves only files inside
DIR and the dataset files ``predictions.csv`` names, refuses foreign ``Host`` headers (DNS
rebinding) and cross-origin writes, never puts data into HTML (the page fills itself in with
``textContent``), and sends a strict Content-Security-Policy.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from landseg.correction import CHOICES
from landseg.errors import DatasetError
from landseg.review.items import (
    SERVABLE_SUFFIXES,
    Forbidden,
    Item,
    ReviewSet,
    browser_image,
    dataset_file,
    load_review_set,
    mask_png,
    resolve_inside,
)
from landseg.review.store import STORE_NAME, Decision, DecisionStore

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


class DecisionIn(BaseModel):
    image: str = Field(min_length=1, max_length=1000)
    choice: Literal["GT", "A", "B", "skip"]
    note: str = Field(default="", max_length=4000)


def default_reviewer() -> str:
    return os.environ.get("USER") or "reviewer"


def _url(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _progress(rs: ReviewSet, latest: dict[str, Decision], queue: list[Item]) -> dict[str, Any]:
    counts = Counter(latest[it.name].choice for it in queue if it.name in latest)
    reviewed = sum(counts.values())
    return {"reviewed": reviewed, "total": len(queue), "counts": {c: counts.get(c, 0) for c in CHOICES},
            "text": f"{reviewed} / {len(queue)} reviewed"}


def _item_json(rs: ReviewSet, item: Item, store: DecisionStore) -> dict[str, Any]:
    files = {}
    for sub in ("pred_A", "pred_B", "overlay_A", "overlay_B", "overlay_GT"):
        rel = item.preds[sub[-1]] if sub.startswith("pred_") else f"{sub}/{item.name}.jpg"
        if (rs.root / rel).is_file():
            files[sub] = "/files/" + "/".join(quote(p, safe="") for p in rel.split("/"))
    history = store.history(item.name)
    names = rs.classes.names
    return {
        "name": item.name, "split": item.split, "scores": item.scores,
        "gt_classes": [{"index": i, "name": names[i]} for i in item.gt_classes if 0 <= i < len(names)],
        "urls": {"image": _url("media", "image", item.name),
                 **{w: _url("media", "mask", w, item.name) for w in ("GT", "A", "B")}},
        "files": files,
        "decision": asdict(history[-1]) if history else None,
        "history": [asdict(d) for d in history],
    }


def _host_name(header: str) -> str:
    """``example.org:8765`` -> ``example.org``; ``[::1]:8765`` -> ``[::1]``."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _security_headers(allowed_hosts: list[str] | None) -> Callable[..., Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if allowed_hosts is not None and _host_name(request.headers.get("host", "")) not in allowed_hosts:
            return JSONResponse({"detail": "Host not allowed (open the URL the server printed)."}, 400)
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD") and origin and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse({"detail": "Cross-origin request refused."}, 403)
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.url.path.startswith("/api/") or request.url.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    return middleware


def create_app(review_dir: str | Path, *, reviewer: str | None = None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app for one predict-pair folder; decisions go to ``review_dir/review.sqlite``.

    ``allowed_hosts`` limits the accepted ``Host`` header names (the CLI passes the loopback
    names when it binds 127.0.0.1); None accepts any.
    """
    rs = load_review_set(review_dir)
    store = DecisionStore(rs.root / STORE_NAME)
    who = reviewer or default_reviewer()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="landseg review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.review = rs
    app.state.store = store
    app.middleware("http")(_security_headers(allowed_hosts))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def item_or_404(name: str) -> Item:
        item = rs.by_name.get(name)
        if item is None:
            raise HTTPException(404, "Unknown image: not in predictions.csv.")
        return item

    def filtered(cls: str | None) -> list[Item]:
        if not cls:
            return rs.queue()
        try:
            return rs.queue(rs.class_index(cls))
        except KeyError as exc:
            raise HTTPException(400, str(exc.args[0])) from None

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/meta")
    def meta() -> dict[str, Any]:
        return {
            "folder": rs.root.name, "reviewer": who, "total": len(rs.items),
            "classes": [{"index": i, "name": c.name, "color": list(c.color)} for i, c in enumerate(rs.classes.classes)],
            "ignore_index": rs.classes.ignore_index,
            "models": {k: {"checkpoint": v, "file": Path(v).name} for k, v in rs.models.items()},
            "choices": list(CHOICES),
        }

    @app.get("/api/queue")
    def queue(cls: str | None = Query(None, alias="class")) -> dict[str, Any]:
        items = filtered(cls)
        latest = store.latest()
        first = next((it.name for it in items if it.name not in latest), None)
        return {"class": cls or None, "first_undecided": first, **_progress(rs, latest, items),
                "items": [{"name": it.name, "label_quality": it.label_quality,
                           "choice": latest[it.name].choice if it.name in latest else None} for it in items]}

    @app.get("/api/progress")
    def progress(cls: str | None = Query(None, alias="class")) -> dict[str, Any]:
        return _progress(rs, store.latest(), filtered(cls))

    @app.get("/api/item/{name:path}")
    def item(name: str) -> dict[str, Any]:
        return _item_json(rs, item_or_404(name), store)

    @app.post("/api/decision")
    def decide(body: DecisionIn) -> dict[str, Any]:
        it = item_or_404(body.image)
        d = store.add(it.name, body.choice, who, body.note.strip(), rs.prediction_path(it, body.choice))
        return {"decision": asdict(d), "progress": _progress(rs, store.latest(), rs.queue())}

    @app.get("/media/image/{name:path}")
    def media_image(name: str) -> Response:
        path = _dataset(item_or_404(name).image)
        png = browser_image(path)
        return FileResponse(path) if png is None else Response(png, media_type="image/png")

    @app.get("/media/mask/{which}/{name:path}")
    def media_mask(which: Literal["GT", "A", "B"], name: str) -> Response:
        it = item_or_404(name)
        path = _dataset(it.gt_mask) if which == "GT" else _inside(it.preds[which])
        try:
            return Response(mask_png(path, rs.classes), media_type="image/png")
        except DatasetError as exc:
            raise HTTPException(500, str(exc)) from None

    @app.get("/files/{relpath:path}")
    def files(relpath: str) -> FileResponse:
        path = _inside(relpath)
        if path.suffix.lower() not in SERVABLE_SUFFIXES:
            raise HTTPException(404, "Not found.")
        return FileResponse(path)

    def _inside(rel: str) -> Path:
        try:
            return resolve_inside(rs.root, rel)
        except Forbidden:
            raise HTTPException(403, "Forbidden: only files inside the review folder are served.") from None
        except FileNotFoundError:
            raise HTTPException(404, "Not found.") from None

    def _dataset(path: Path) -> Path:
        try:
            return dataset_file(path)
        except FileNotFoundError:
            raise HTTPException(404, "Dataset file listed in predictions.csv is missing.") from None

    return app
