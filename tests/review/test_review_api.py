"""The review API: queue order, class filter, durable decisions, export, and what it refuses to serve."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import re
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_fixture import EVIL, ReviewDir, make_review_dir

from landseg.cli.main import main
from landseg.correction import DECISION_COLUMNS
from landseg.review.app import LOOPBACK_NAMES, create_app
from landseg.review.store import DecisionStore

STATIC = Path(__file__).resolve().parents[2] / "src" / "landseg" / "review" / "static"


@pytest.fixture
def client(review_dir: ReviewDir) -> TestClient:
    return TestClient(create_app(review_dir.root, reviewer="ana"))


def db_rows(root: Path) -> list[tuple]:
    """Read the store through a separate connection, as another process would."""
    with sqlite3.connect(root / "review.sqlite") as db:
        return db.execute("SELECT image, choice, reviewer, time, note, prediction FROM decisions ORDER BY id").fetchall()


def decide(client: TestClient, image: str, choice: str, note: str = "") -> dict[str, Any]:
    r = client.post("/api/decision", json={"image": image, "choice": choice, "note": note})
    assert r.status_code == 200, r.text
    return r.json()


async def _raw_get(app: FastAPI, path: str) -> tuple[int, bytes]:
    """GET with the path exactly as given: HTTP clients would normalise ``..`` away."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8765")], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8765)}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def raw_get(app: FastAPI, path: str) -> tuple[int, bytes]:
    return asyncio.run(_raw_get(app, path))


# ------------------------------------------------------------------ queue, filter, progress


def test_queue_is_worst_label_quality_first(client: TestClient, review_dir: ReviewDir) -> None:
    q = client.get("/api/queue").json()
    assert [it["name"] for it in q["items"]] == review_dir.queue
    qualities = [it["label_quality"] for it in q["items"]]
    assert qualities == sorted(qualities)
    assert q["first_undecided"] == review_dir.queue[0]
    assert (q["reviewed"], q["total"], q["text"]) == (0, 6, "0 / 6 reviewed")


def test_class_filter_keeps_images_whose_gt_has_the_class(client: TestClient, review_dir: ReviewDir) -> None:
    meta = client.get("/api/meta").json()
    names = [c["name"] for c in meta["classes"]]
    assert names[4] == "Settlement"
    expected = [n for n in review_dir.queue if "4" in review_dir.rows[n]["gt_classes"].split(";")]
    # drop the class from one tile's truth so the filter has something to exclude
    assert 0 < len(expected) <= len(review_dir.queue)
    for query in ("Settlement", "settlement", "4"):
        q = client.get("/api/queue", params={"class": query}).json()
        assert [it["name"] for it in q["items"]] == expected
        assert q["total"] == len(expected)
    assert client.get("/api/progress", params={"class": "Settlement"}).json()["total"] == len(expected)
    r = client.get("/api/queue", params={"class": "Wetland"})
    assert r.status_code == 400 and "Valid classes: Background, Forest Land" in r.json()["detail"]


def test_class_filter_excludes_images_without_the_class(tmp_path: Path) -> None:
    rd = make_review_dir(tmp_path)
    rows = list(csv.DictReader((rd.root / "predictions.csv").open()))
    rows[0]["gt_classes"] = "1;2"
    with (rd.root / "predictions.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    client = TestClient(create_app(rd.root))
    names = [it["name"] for it in client.get("/api/queue", params={"class": "Cropland"}).json()["items"]]
    assert rows[0]["name"] not in names and len(names) == len(rows) - 1


def test_decision_is_in_sqlite_the_moment_the_api_answers(client: TestClient, review_dir: ReviewDir) -> None:
    first = review_dir.queue[0]
    out = decide(client, first, "A", note="  hedge missed  ")
    rows = db_rows(review_dir.root)
    assert len(rows) == 1
    image, choice, reviewer, time, note, prediction = rows[0]
    assert (image, choice, reviewer, note) == (first, "A", "ana", "hedge missed")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time)
    assert prediction == str(review_dir.root / "pred_A" / f"{first}.png") and Path(prediction).is_file()
    assert out["decision"]["prediction"] == prediction
    with sqlite3.connect(review_dir.root / "review.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store: DecisionStore = client.app.state.store  # type: ignore[attr-defined]
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    decide(client, review_dir.queue[1], "GT")
    assert db_rows(review_dir.root)[1][5] == ""  # no prediction path for GT


def test_progress_counts_latest_decisions(client: TestClient, review_dir: ReviewDir) -> None:
    decide(client, review_dir.queue[0], "A")
    decide(client, review_dir.queue[1], "skip")
    out = decide(client, review_dir.queue[2], "B")
    assert out["progress"]["text"] == "3 / 6 reviewed"
    p = client.get("/api/progress").json()
    assert p["reviewed"] == 3 and p["counts"] == {"GT": 0, "A": 1, "B": 1, "skip": 1}
    q = client.get("/api/queue").json()
    assert q["first_undecided"] == review_dir.queue[3]
    assert [it["choice"] for it in q["items"][:4]] == ["A", "skip", "B", None]


def test_re_deciding_updates_latest_and_keeps_history(client: TestClient, review_dir: ReviewDir,
                                                      tmp_path: Path) -> None:
    name = review_dir.queue[0]
    decide(client, name, "A")
    decide(client, name, "B", note="B follows the hedge")
    item = client.get(f"/api/item/{name}").json()
    assert item["decision"]["choice"] == "B" and item["decision"]["note"] == "B follows the hedge"
    assert [d["choice"] for d in item["history"]] == ["A", "B"]
    assert [r[1] for r in db_rows(review_dir.root)] == ["A", "B"]
    assert client.get("/api/progress").json()["reviewed"] == 1
    out = tmp_path / "decisions.csv"
    assert DecisionStore(review_dir.root / "review.sqlite").export_csv(out) == 1
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["choice"] == "B" and rows[0]["prediction"].endswith(f"pred_B/{name}.png")


def test_export_csv_has_decision_columns(client: TestClient, review_dir: ReviewDir, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    decide(client, review_dir.queue[0], "A")
    decide(client, EVIL, "GT", note='comma, "quote"\nnewline')
    out = tmp_path / "out" / "decisions.csv"
    assert main(["review", str(review_dir.root), "--export", str(out)]) == 0
    assert "wrote 2 decisions" in capsys.readouterr().out
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == DECISION_COLUMNS
        rows = {r["image"]: r for r in reader}
    assert rows[EVIL]["note"] == 'comma, "quote"\nnewline' and rows[EVIL]["prediction"] == ""
    assert rows[review_dir.queue[0]]["reviewer"] == "ana"


def test_reopening_resumes_at_first_undecided(review_dir: ReviewDir) -> None:
    c1 = TestClient(create_app(review_dir.root, reviewer="ana"))
    decide(c1, review_dir.queue[0], "A")
    decide(c1, review_dir.queue[2], "B")
    c2 = TestClient(create_app(review_dir.root, reviewer="bo"))
    q = c2.get("/api/queue").json()
    assert q["first_undecided"] == review_dir.queue[1] and q["text"] == "2 / 6 reviewed"


def test_bad_requests(client: TestClient, review_dir: ReviewDir) -> None:
    r = client.post("/api/decision", json={"image": review_dir.queue[0], "choice": "C"})
    assert r.status_code == 422
    assert client.post("/api/decision", json={"image": review_dir.queue[0]}).status_code == 422
    assert client.post("/api/decision", content=b"not json",
                       headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/api/decision", json={"image": "nope", "choice": "A"}).status_code == 404
    assert client.get("/api/item/nope").status_code == 404
    assert client.get("/media/mask/GT/nope").status_code == 404
    assert client.get(f"/media/mask/C/{review_dir.queue[0]}").status_code == 422
    assert db_rows(review_dir.root) == []


def test_default_reviewer_is_user(review_dir: ReviewDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "carla")
    assert TestClient(create_app(review_dir.root)).get("/api/meta").json()["reviewer"] == "carla"
    monkeypatch.delenv("USER")
    assert TestClient(create_app(review_dir.root)).get("/api/meta").json()["reviewer"] == "reviewer"


# ------------------------------------------------------------------ serving files safely


def test_serves_review_files_and_dataset_images(client: TestClient, review_dir: ReviewDir) -> None:
    name = review_dir.queue[0]
    item = client.get(f"/api/item/{name}").json()
    for url in [item["urls"][k] for k in ("image", "GT", "A", "B")] + list(item["files"].values()):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), url
    assert client.get("/files/predictions.csv").status_code == 200
    assert client.get("/files/review.sqlite").status_code == 404  # never the store itself
    assert client.get("/files/pred_A/missing.png").status_code == 404


def test_masks_are_palette_pngs_with_transparent_ignore(client: TestClient, review_dir: ReviewDir) -> None:
    import io

    import numpy as np
    from PIL import Image

    name = review_dir.queue[0]
    img = Image.open(io.BytesIO(client.get(f"/media/mask/GT/{name}").content))
    assert img.mode == "P" and img.getpalette()[3 * 4: 3 * 5] == [220, 20, 60]
    gt = np.array(Image.open(review_dir.rows[name]["gt_mask"]))
    assert (np.array(img) == gt).all()
    alpha = np.array(img.convert("RGBA"))[..., 3]
    assert (alpha[gt == 255] == 0).all() and (alpha[gt != 255] == 255).all()


@pytest.mark.parametrize("path", [
    "/files/../../etc/passwd",
    "/files/../predictions.csv",
    "/files/pred_A/../../data/Val/Rural/masks_png/tile_001.png",
    "/files//etc/passwd",
    "/files/%2Fetc%2Fpasswd",
    "/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/files/..%2f..%2fetc%2fpasswd",
    "/files/pred_A%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/files/..\\..\\etc\\passwd",
])
def test_traversal_is_refused(review_dir: ReviewDir, path: str) -> None:
    app = create_app(review_dir.root)
    status, body = raw_get(app, path)
    assert status in (403, 404), (path, status)
    assert b"root:" not in body
    # and through a normal HTTP client (which percent-encodes or normalises the path)
    r = TestClient(app).get(path)
    assert r.status_code in (403, 404) and "root:" not in r.text


def test_traversal_status_is_403(review_dir: ReviewDir) -> None:
    app = create_app(review_dir.root)
    assert raw_get(app, "/files/../../etc/passwd")[0] == 403
    assert raw_get(app, "/files//etc/passwd")[0] == 403
    assert TestClient(app).get("/files/..%2F..%2Fetc%2Fpasswd").status_code == 403


def test_symlinks_leading_out_are_refused(review_dir: ReviewDir, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    (review_dir.root / "evil.png").symlink_to(secret)
    (review_dir.root / "passwd.png").symlink_to("/etc/passwd")
    (review_dir.root / "outside").symlink_to(tmp_path)
    (review_dir.root / "inside.png").symlink_to(review_dir.root / "pred_A" / f"{review_dir.queue[0]}.png")
    client = TestClient(create_app(review_dir.root))
    for path in ("/files/evil.png", "/files/passwd.png", "/files/outside/secret.png"):
        r = client.get(path)
        assert r.status_code == 403 and b"secret" not in r.content, path
    assert client.get("/files/inside.png").status_code == 200  # a link that stays inside is fine


def test_prediction_paths_in_csv_cannot_leave_dir(tmp_path: Path) -> None:
    rd = make_review_dir(tmp_path)
    rows = list(csv.DictReader((rd.root / "predictions.csv").open()))
    rows[0]["pred_A"] = "../data/Val/Rural/masks_png/tile_002.png"
    rows[0]["pred_B"] = "/etc/passwd"
    with (rd.root / "predictions.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    client = TestClient(create_app(rd.root))
    assert client.get(f"/media/mask/A/{rows[0]['name']}").status_code == 403
    assert client.get(f"/media/mask/B/{rows[0]['name']}").status_code == 403


def test_foreign_host_and_cross_origin_writes_are_refused(review_dir: ReviewDir) -> None:
    client = TestClient(create_app(review_dir.root, allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8765")
    assert client.get("/api/progress").status_code == 200
    assert client.get("/api/progress", headers={"host": "localhost:8765"}).status_code == 200
    assert client.get("/api/progress", headers={"host": "attacker.example:8765"}).status_code == 400
    r = client.post("/api/decision", json={"image": review_dir.queue[0], "choice": "A"},
                    headers={"origin": "http://attacker.example"})
    assert r.status_code == 403
    r = client.post("/api/decision", json={"image": review_dir.queue[0], "choice": "A"},
                    headers={"origin": "http://127.0.0.1:8765"})
    assert r.status_code == 200


# ------------------------------------------------------------------ names are data, never markup


def test_html_like_name_is_returned_as_json_and_never_as_html(client: TestClient, review_dir: ReviewDir) -> None:
    q = client.get("/api/queue")
    assert q.headers["content-type"] == "application/json"
    assert q.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in q.headers["content-security-policy"]
    assert EVIL in [it["name"] for it in q.json()["items"]]
    item = client.get(f"/api/item/{EVIL}")
    assert item.status_code == 200 and item.json()["name"] == EVIL
    assert item.headers["content-type"] == "application/json"
    for url in item.json()["urls"].values():
        assert "<" not in url and ">" not in url and " " not in url
        assert client.get(url).status_code == 200
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html") and EVIL not in page.text
    assert "<img" not in page.text and "onerror" not in page.text
    r = client.post("/api/decision", json={"image": EVIL, "choice": "GT", "note": "<b>bold</b>"})
    assert r.status_code == 200 and r.json()["decision"]["note"] == "<b>bold</b>"
    # a 404 for an HTML-like name is JSON, not an HTML page
    r = client.get("/api/item/<script>alert(1)</script>")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_page_code_never_builds_html_from_strings() -> None:
    js = (STATIC / "review.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "textContent" in js
    html = (STATIC / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html  # no inline code: the CSP forbids it


# ------------------------------------------------------------------ CLI


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["review", str(tmp_path / "empty")]) == 2
    assert "landseg predict-pair" in capsys.readouterr().err


def test_cli_refuses_a_busy_port(review_dir: ReviewDir, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["review", str(review_dir.root), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_auto_decisions_are_stored_like_a_reviewers(review_dir: ReviewDir,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("landseg.correction.auto") is None:
        pytest.skip("auto policy module not yet available")
    TestClient(create_app(review_dir.root, reviewer="ana")).post(
        "/api/decision", json={"image": review_dir.queue[0], "choice": "B"})
    from landseg.correction.auto import parse_auto_policy

    policy = "agree>=0.85,quality<0.5"  # fixture: agreement 0.83-0.9, quality 0.04-0.88
    assert main(["review", str(review_dir.root), "--auto", policy]) == 0
    out = capsys.readouterr().out
    assert re.search(r"stored 5 decisions .* A \d+, B \d+, GT \d+, skip 0", out), out
    assert "kept 1 decisions made by people" in out
    rows = db_rows(review_dir.root)
    auto = [r for r in rows if r[2] != "ana"]
    assert len(auto) == 5 and {r[1] for r in auto} == {"A", "GT"}
    assert {r[2] for r in auto} == {parse_auto_policy(policy).reviewer}
    assert {r[0] for r in auto} == set(review_dir.queue[1:])  # names, as the page stores them
    latest = {r[0]: r for r in rows}
    assert latest[review_dir.queue[0]][2] == "ana"  # a person's decision is never replaced by default
    for image, choice, _, time, _, prediction in auto:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time)
        assert (prediction == str(review_dir.root / f"pred_{choice}" / f"{image}.png")) == (choice != "GT")
    q = TestClient(create_app(review_dir.root)).get("/api/queue").json()
    assert q["text"] == "6 / 6 reviewed" and q["first_undecided"] is None
    # a second policy replaces the machine's decisions, and --overwrite a person's too
    assert main(["review", str(review_dir.root), "--auto", "agree>=0.99", "--overwrite"]) == 0
    assert "stored 6 decisions" in capsys.readouterr().out
    latest = {r[0]: r for r in db_rows(review_dir.root)}
    assert {r[1] for r in latest.values()} == {"GT"}
