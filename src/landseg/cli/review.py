"""Review ground truth against two predictions in the browser, or export/auto-decide without one.

Serves DIR (written by `landseg predict-pair`) on 127.0.0.1: for each image, worst label quality
first, the RGB tile and the GT, A and B masks side by side or as overlays. Keys: 1 keep GT,
2 choose A, 3 choose B, s skip, arrows browse, o overlay. Every decision is committed to
DIR/review.sqlite at once; reopening resumes at the first undecided image.

Examples:
  landseg review runs/correction                                # then open http://127.0.0.1:8765/
  landseg review runs/correction --reviewer ana --port 8800
  landseg review runs/correction --export runs/correction/decisions.csv
  landseg review runs/correction --auto "agree>=0.85,quality<0.6"   # decide automatically, then exit
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
from pathlib import Path

from landseg.errors import LandsegError

NAME = "review"
HELP = "review GT vs predictions A/B in the browser (SQLite-backed); --export decisions.csv; --auto"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder written by `landseg predict-pair` (predictions.csv, pred_A/, ...)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this machine can connect)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--reviewer", default=None, help="name stored with each decision (default: $USER)")
    p.add_argument("--export", metavar="CSV", default=None,
                   help="write the latest decision per image to CSV (decisions.csv columns) and exit")
    p.add_argument("--auto", metavar="POLICY", default=None,
                   help="decide every image with an automatic policy, e.g. 'agree>=0.85,quality<0.6' "
                        "(landseg.correction.auto), store the decisions as reviewer auto:<policy>, print a "
                        "summary and exit")
    p.add_argument("--overwrite", action="store_true",
                   help="with --auto: also replace decisions made by people (default: keep them)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn so a busy port is a clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise LandsegError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port "
                           "or stop the program using it.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    from landseg.review.auto_review import run_auto
    from landseg.review.items import load_review_set
    from landseg.review.store import STORE_NAME, DecisionStore

    review_dir = load_review_set(args.dir).root  # checks DIR before anything is written
    if args.overwrite and not args.auto:
        raise LandsegError("--overwrite only applies to --auto.")
    if args.auto:
        print(run_auto(review_dir, args.auto, args.overwrite))
    if args.export:
        with DecisionStore(review_dir / STORE_NAME) as store:
            n = store.export_csv(args.export)
        print(f"wrote {n} decisions to {args.export}")
    if args.auto or args.export:
        return 0
    return serve(review_dir, args.host, args.port, args.reviewer)


def serve(review_dir: Path, host: str, port: int, reviewer: str | None) -> int:
    import uvicorn

    from landseg.review.app import LOOPBACK_NAMES, create_app

    loopback = _is_loopback(host)
    app = create_app(review_dir, reviewer=reviewer, allowed_hosts=LOOPBACK_NAMES if loopback else None)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    print(f"landseg review: {len(app.state.review.items)} images in {review_dir}")
    print(f"decisions are saved to {review_dir / 'review.sqlite'} as you make them")
    if not loopback:
        print(f"WARNING: listening on {host}: anyone who can reach this address can see the images and "
              "record decisions (there is no login).")
    print(f"open http://{shown}:{port}/   (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
