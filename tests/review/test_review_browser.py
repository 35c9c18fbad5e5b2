"""Acceptance: the real `landseg review` server driven by headless Chromium, surviving kill -9.

Uses the Debian chromium (``make browser`` installs it); Playwright downloads nothing.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from review_fixture import EVIL, ReviewDir

CHROMIUM = Path("/usr/bin/chromium")
LANDSEG = Path(sys.executable).with_name("landseg")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(),
                                reason=f"{CHROMIUM} not found: install it with `make browser` (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int, log: Path) -> subprocess.Popen:
    """Start `landseg review` as a real process and wait until it answers."""
    with log.open("a") as out:
        proc = subprocess.Popen([str(LANDSEG), "review", str(root), "--port", str(port), "--reviewer", "tester"],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"landseg review exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/progress", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"landseg review did not answer within 30 s:\n{log.read_text()}")


def db_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "review.sqlite") as db:
        return db.execute("SELECT image, choice, reviewer, note FROM decisions ORDER BY id").fetchall()


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_review_in_a_real_browser_survives_kill_9(review_dir: ReviewDir, tmp_path: Path,
                                                   servers: list[subprocess.Popen]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # 2 shared cores: be patient, never flaky

    root, queue = review_dir.root, review_dir.queue
    port, log = free_port(), tmp_path / "server.log"
    servers.append(start_server(root, port, log))
    assert f"open http://127.0.0.1:{port}/" in log.read_text()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            dialogs: list[str] = []
            errors: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/")

            # four labelled panels with their images and scores, worst label quality first
            expect(page.locator(".panel")).to_have_count(4)
            expect(page.locator(".panel-title")).to_have_text(["Image", "GT", "A", "B"])
            expect(page.locator("#image-name")).to_have_text(queue[0])
            expect(page.locator("#progress")).to_have_text("0 / 6 reviewed")
            expect(page.locator(".panel-A .meter-num").first).to_have_text(f"{float(review_dir.rows[queue[0]]['iou_A']):.3f}")
            expect(page.locator(".legend-item")).to_have_count(7)
            page.wait_for_function("() => [...document.querySelectorAll('.panel img')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)")

            # typing in the note never triggers a shortcut
            page.locator("#note").click()
            page.keyboard.type("s123 hedge missed")
            page.wait_for_timeout(300)
            assert db_rows(root) == []
            page.keyboard.press("Escape")

            # key 2 chooses A: saved in SQLite, confirmed on the page, next image shown
            page.keyboard.press("2")
            expect(page.locator("#toast")).to_have_text(f"Saved A for {queue[0]}")
            expect(page.locator("#progress")).to_have_text("1 / 6 reviewed")
            assert db_rows(root) == [(queue[0], "A", "tester", "s123 hedge missed")]

            # the next image has an HTML-like name: shown as literal text, nothing injected
            assert queue[1] == EVIL
            expect(page.locator("#image-name")).to_have_text(EVIL)
            expect(page.locator("img")).to_have_count(7)  # 1 in the image panel, base + mask in three
            assert page.locator("img[src='x'], img[onerror]").count() == 0
            assert page.title() == f"{EVIL} · landseg review"

            # reload keeps the progress and resumes at the first undecided image
            page.reload()
            expect(page.locator("#progress")).to_have_text("1 / 6 reviewed")
            expect(page.locator("#image-name")).to_have_text(EVIL)

            # overlay mode: masks drawn over the RGB tile at the slider's opacity
            page.keyboard.press("o")
            expect(page.locator("body")).to_have_class(re.compile(r"\boverlay\b"))
            page.locator("#opacity").fill("70")
            opacity = page.locator(".panel-A img.mask").evaluate("i => getComputedStyle(i).opacity")
            assert abs(float(opacity) - 0.7) < 1e-6
            assert page.locator(".panel-A img.base").evaluate("i => getComputedStyle(i).visibility") == "visible"
            page.keyboard.press("o")

            # a button works like its key
            page.locator(".panel-B .choose").click()
            expect(page.locator("#progress")).to_have_text("2 / 6 reviewed")
            expect(page.locator("#image-name")).to_have_text(queue[2])

            # kill -9 the server: every decision is already on disk
            servers[0].send_signal(signal.SIGKILL)
            servers[0].wait(10)
            assert [r[:2] for r in db_rows(root)] == [(queue[0], "A"), (EVIL, "B")]
            servers.append(start_server(root, port, log))
            page.reload()
            expect(page.locator("#progress")).to_have_text("2 / 6 reviewed")
            expect(page.locator("#image-name")).to_have_text(queue[2])
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#image-name")).to_have_text(EVIL)
            expect(page.locator("#decision")).to_contain_text("✓ B by tester")
            expect(page.locator(".panel-B")).to_have_class(re.compile(r"\bchosen\b"))
            page.keyboard.press("ArrowRight")
            expect(page.locator("#image-name")).to_have_text(queue[2])

            # the class filter narrows the queue and lives in the URL
            page.locator("#class-filter").select_option("Settlement")
            expect(page).to_have_url(re.compile(r"\?class=Settlement$"))
            n = sum("4" in review_dir.rows[q]["gt_classes"].split(";") for q in queue)
            expect(page.locator("#progress")).to_have_text(re.compile(rf"^\d / {n} reviewed$"))
            page.locator("#class-filter").select_option("")
            expect(page.locator("#progress")).to_have_text("2 / 6 reviewed")

            # one more decision, then the screenshot shows the confirmation
            page.keyboard.press("1")
            expect(page.locator("#progress")).to_have_text("3 / 6 reviewed")
            expect(page.locator("#toast")).to_have_text(f"Saved GT for {queue[2]}")
            expect(page.locator("#image-name")).to_have_text(queue[3])
            page.wait_for_timeout(400)  # let the confirmation finish fading in
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review.png"))

            assert dialogs == [] and errors == []
        finally:
            browser.close()
    assert [r[:3] for r in db_rows(root)] == [(queue[0], "A", "tester"), (EVIL, "B", "tester"),
                                             (queue[2], "GT", "tester")]
