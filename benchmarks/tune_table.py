"""The tuned-baseline tables: the search on the validation split and the chosen candidates on the test split.

    python -m mygo_nb reproduce tune-search --out results/beyond/tune/search
    python benchmarks/tune_table.py --search results/beyond/tune/search --write-preset
    python -m mygo_nb reproduce tuned --out results/beyond/tune/tuned --reuse results/beyond/sweep
    python benchmarks/tune_table.py --search results/beyond/tune/search --tuned results/beyond/tune/tuned \
        --defaults results/beyond/sweep results/beyond/internal --out-dir results/beyond

``--write-preset`` writes the choice into the grid of preset ``tuned`` (mygo_nb/reproduce/presets/tuned.json);
``tests/test_tuning.py`` checks that the committed preset is what the committed search chose.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mygo_nb.reproduce.aggregate import collect_results, group_results
from mygo_nb.reproduce.tuning import search_markdown, tuned_grid, tuned_markdown

PRESET = Path(__file__).resolve().parent.parent / "mygo_nb" / "reproduce" / "presets" / "tuned.json"
DESCRIPTION = (
    "The tuned-baseline table (chapter 13): each continual learner of preset tune-search with the candidate it "
    "chose on the validation split (benchmarks/tune_table.py writes this grid from the search's records), "
    "class-incremental Split-MNIST, paper profile, 5 seeds, on the test split. A method whose best candidate is "
    "its default runs exactly as in the beyond sweep: pass --reuse results/beyond/sweep to copy those runs.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--search", type=Path, required=True, help="records of preset tune-search")
    p.add_argument("--tuned", type=Path, default=None, help="records of preset tuned")
    p.add_argument("--defaults", type=Path, nargs="+", default=None,
                   help="folders of records at the defaults (the beyond sweep; the internal preset's)")
    p.add_argument("--out-dir", type=Path, default=None, help="write tuning_search.md (and tuned_baselines.md)")
    p.add_argument("--write-preset", action="store_true", help=f"write the chosen grid into {PRESET.name}")
    args = p.parse_args()
    search = group_results(collect_results(args.search))
    text = search_markdown(search)
    print(text)
    if args.write_preset:
        spec = {"description": DESCRIPTION,
                "defaults": {"benchmark": "split-mnist", "scenario": "class", "profile": "paper", "eval_on": "test",
                             "seed": [0, 1, 2, 3, 4]},
                "grid": tuned_grid(search)}
        PRESET.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {PRESET}")
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "tuning_search.md").write_text(text, encoding="utf-8")
    if args.tuned and args.defaults:
        tuned = group_results(collect_results(args.tuned))
        defaults = group_results([r for folder in args.defaults for r in collect_results(folder)])
        table = tuned_markdown(search, tuned, defaults)
        print(table)
        if args.out_dir:
            (args.out_dir / "tuned_baselines.md").write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
