"""Write ``results/manifest.json``: every run record below ``results/`` with its sha256 and the fields it is
matched on, so a chapter without the folder fetches only the records it needs (`mygo_nb.book.remote`).

    python scripts/records_manifest.py            # write the manifest where it differs
    python scripts/records_manifest.py --check    # change nothing; exit 1 when it is out of date

Run it after adding, changing or removing a record under ``results/`` and commit the manifest with the records
(tests/test_remote_records.py fails while they disagree).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mygo_nb.book.remote import MANIFEST, build_manifest, manifest_text  # noqa: E402


def expected(results: Path) -> str:
    """The manifest text that ``results`` should hold."""
    return manifest_text(build_manifest(results))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="the records folder (default: results/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the manifest is out of date")
    args = parser.parse_args(argv)
    path = args.results / MANIFEST
    text = expected(args.results)
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    n = text.count('"sha256"')
    if current == text:
        print(f"{path}: up to date ({n} records)")
        return 0
    if args.check:
        print(f"{path}: out of date; run python scripts/records_manifest.py")
        return 1
    path.write_text(text, encoding="utf-8")
    print(f"{path}: written ({n} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
