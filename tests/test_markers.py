"""The markers hold: a test that starts a process without ``slow`` fails, and a real-data test is ``integration``
(tests/conftest.py enforces both), so ``pytest -m "not slow"`` is the fast loop DEVELOPERS.md names."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.mark.slow
def test_a_test_that_starts_a_process_must_be_marked_slow(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_inner="""
        import subprocess
        import pytest

        def test_unmarked():
            subprocess.run(["true"], check=True)

        @pytest.mark.slow
        def test_marked():
            subprocess.run(["true"], check=True)

        def test_no_process():
            assert 1 + 1 == 2
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_unmarked starts processes but is not marked slow*"])


def test_real_data_tests_are_marked_integration(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_inner="""
        def test_reads_data(data_root):
            pass

        def test_synthetic(tiny_bench):
            pass
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-m", "not integration", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_synthetic*", "*1 deselected*"])
    assert "test_reads_data" not in result.stdout.str()
