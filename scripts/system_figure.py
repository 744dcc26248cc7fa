"""Draw the MyGO system figure of the book's introduction into book/_static/mygo_system.svg.

The figure is chapter 2's `mygo_nb.book.plotting.system_diagram` (the Neocortex Net = extractor + one head per
task, one generative memory per task, the wake and the sleep), saved as SVG with its text kept as text, so the
file stays a few KB and the labels scale with the page. Run from the repository root after changing the diagram:

    python scripts/system_figure.py            # writes book/_static/mygo_system.svg
    python scripts/system_figure.py --check    # exit 1 if the committed file differs from a fresh drawing
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from mygo_nb.book.plotting import system_diagram

OUT = Path(__file__).resolve().parents[1] / "book" / "_static" / "mygo_system.svg"


def render() -> str:
    """The figure as SVG text, reproducible: no date, fixed element ids, text as text."""
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "mygo-system", "svg.id": None})
    fig = system_diagram()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight",
                pad_inches=0.02)
    plt.close(fig)
    svg = buf.getvalue()
    # one short font stack (DejaVu Sans, matplotlib's font, where the reader has it), no no-op rotations and
    # coordinates to 0.01 pt: the file stays a few kB
    svg = re.sub(r"font-family: *[^;\"]*", "font-family: 'DejaVu Sans', Arial, sans-serif", svg)
    svg = re.sub(r' transform="rotate\(-?0 [^)]*\)"', "", svg)
    svg = re.sub(r"(\d+\.\d{2})\d+", r"\1", svg)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    return _styles_as_classes(re.sub(r"\n\s+", "\n", svg))


def _styles_as_classes(svg: str) -> str:
    """Replace each repeated ``style="..."`` attribute by a class with one rule in the SVG's stylesheet."""
    styles = sorted(set(re.findall(r'style="([^"]*)"', svg)))
    names = {style: f"s{i}" for i, style in enumerate(styles)}
    svg = re.sub(r'style="([^"]*)"', lambda m: f'class="{names[m.group(1)]}"', svg)
    rules = "".join(f".{name}{{{style}}}\n" for style, name in names.items())
    return svg.replace("</style>", f"\n{rules}</style>", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args(argv)
    svg = render()
    if args.check:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == svg
        print(f"{OUT.name}: {'up to date' if same else 'differs from a fresh drawing'}")
        return 0 if same else 1
    OUT.write_text(svg, encoding="utf-8")
    print(f"wrote {OUT} ({len(svg.encode()) / 1000:.1f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
