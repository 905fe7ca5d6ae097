"""Summary of a prepared data folder: rows written, dropped and normalised per file, revision and samples per problem.

``python -m verl_ext.data.report "$DATA_DIR"`` (the last step of ``make data``) reads every ``<split>.meta.json``
written by ``scripts/prepare_data.py`` under the folder and prints one line per prepared file.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HEADER = ("file", "rows", "dropped", "golds normalised", "samples", "revision", "size check")


def _pin(meta: dict[str, Any]) -> str:
    """A short form of the pinned revision: the HF commit, the commit in a pinned URL, or ``unpinned``."""
    if meta.get("revision"):
        return f"hf@{str(meta['revision'])[:12]}"
    commit = re.search(r"/([0-9a-f]{40})/", meta.get("url") or "")
    if commit:
        return f"url@{commit.group(1)[:12]}"
    return "unpinned"


def collect(root: str | Path) -> list[dict[str, Any]]:
    """One record per prepared file under ``root`` (sorted by path)."""
    root = Path(root)
    out = []
    for meta_path in sorted(root.rglob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        parquet = meta_path.with_name(meta_path.name.replace(".meta.json", ".parquet"))
        revisions = _pin(meta)
        if "subsets" in meta:
            pins = {_pin(s) for s in meta["subsets"]}
            revisions = pins.pop() if len(pins) == 1 else "mixed"
        out.append(
            {
                "file": str(parquet.relative_to(root)),
                "rows": meta.get("rows_written"),
                "dropped": meta.get("rows_dropped"),
                "golds normalised": len(meta.get("golds_normalised") or []),
                "samples": meta.get("rollout_n") or "-",
                "revision": revisions,
                "size check": meta.get("size_check"),
            }
        )
    return out


def render(records: list[dict[str, Any]]) -> str:
    """A plain-text table of ``collect``'s records."""
    rows = [HEADER] + [tuple(str(r[h]) for h in HEADER) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the prepared data folder ($DATA_DIR)")
    args = parser.parse_args(argv)
    records = collect(args.root)
    if not records:
        logger.error("no prepared files (*.meta.json) under %s", args.root)
        return 1
    sys.stdout.write(render(records) + "\n")
    dropped = sum(int(r["dropped"] or 0) for r in records)
    sys.stdout.write(f"{len(records)} files, {dropped} source rows dropped (see <split>.dropped.json)\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
