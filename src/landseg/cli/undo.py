"""Reverse a journaled change (filter, combine, replace-masks) and verify every file by sha256.

Every command that changes a dataset prints its journal folder
(<dataset>/.landseg/journals/<id>); `landseg undo --list DATASET` lists them.

Examples:
  landseg undo data/biodiversity_combined/Train/.landseg/journals/20261123T101500-123-456-filter
  landseg undo --list data/biodiversity_combined/Train
"""

from __future__ import annotations

import argparse

NAME = "undo"
HELP = "reverse a journaled dataset change, byte for byte"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("journal", help="journal folder, or with --list a dataset folder")
    p.add_argument("--list", action="store_true", help="list the journals of a dataset folder")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.curation.journal import Journal

    if args.list:
        journals = Journal.all_for(args.journal)
        if not journals:
            print(f"No journals under {args.journal}.")
        for j in journals:
            st = j.status()
            state = "undone" if st.undone else ("complete" if st.complete else f"unfinished {st.done}/{st.total}")
            print(f"{j.path}  {j.plan['command']}  {j.plan['created']}  {st.total} ops  {state}")
        return 0
    journal = Journal(args.journal)
    n = journal.undo(progress=not args.no_progress)
    print(f"Undid {journal.plan['command']} ({n} operations reversed, {len(journal.ops)} in the journal); "
          "every restored file matches its recorded sha256.")
    return 0
