"""A pytest plugin for the nbval run of tests/test_notebooks.py: nbval waits a fixed 5 s for a cell's output after
the cell has finished, which a loaded 2-core machine can exceed; give it a minute (the cell itself still has
nbval's own execution timeout)."""

from __future__ import annotations

OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(items: list) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT
