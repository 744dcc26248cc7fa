"""Method plugins: files of one's own that register a method, loaded when methods are first resolved (not when
the package is imported); a bad plugin is one line naming the file and the error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mygo_nb import cli
from mygo_nb.errors import ConfigError
from mygo_nb.learners import PLUGINS_VARIABLE, REGISTRY, base, check_method, entries, load_plugins, methods

PLUGIN = textwrap.dedent('''
    """A method of one's own: fine-tuning under another name."""
    from mygo_nb.learners import register
    from mygo_nb.learners.finetune import Finetune


    @register("toy-plugin", scenarios=("task", "class"))
    class ToyPlugin(Finetune):
        """Fine-tuning, registered from a plugin file."""
''')


@pytest.fixture
def plugin_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A plugin file; afterwards its method, its module and the memory of having loaded it are removed."""
    path = tmp_path / "toy_plugin.py"
    path.write_text(PLUGIN, encoding="utf-8")
    yield path
    REGISTRY.pop("toy-plugin", None)
    sys.modules.pop("mygo_plugin_toy_plugin", None)
    base._PLUGINS_SEEN.clear()


def test_a_plugin_in_the_variable_registers_when_methods_are_resolved(plugin_file, monkeypatch):
    assert "toy-plugin" not in methods()
    monkeypatch.setenv(PLUGINS_VARIABLE, str(plugin_file))
    assert "toy-plugin" not in REGISTRY  # setting the variable loads nothing by itself
    assert "toy-plugin" in methods()
    assert check_method("toy-plugin", scenario="class").learner.__name__ == "ToyPlugin"
    assert ("toy-plugin", None) in [(e.method, e.variant) for e in entries()]
    assert load_plugins(str(plugin_file)) == ["mygo_plugin_toy_plugin"]  # loaded once, not twice


def test_a_missing_plugin_is_one_line_naming_the_file(monkeypatch, capsys):
    monkeypatch.setenv(PLUGINS_VARIABLE, "/nonexistent/plugin.py")
    with pytest.raises(ConfigError, match=r"/nonexistent/plugin\.py not found"):
        methods()
    assert cli.main(["methods"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/plugin.py" in err and "Traceback" not in err


def test_a_plugin_that_fails_to_import_is_one_line_naming_the_file_and_the_error(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('no such thing')\n", encoding="utf-8")
    monkeypatch.setenv(PLUGINS_VARIABLE, str(bad))
    assert cli.main(["methods"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "RuntimeError: no such thing" in err
    assert "mygo_plugin_broken" not in sys.modules  # a failed import leaves nothing half-registered
    monkeypatch.delenv(PLUGINS_VARIABLE)
    assert "mygo" in methods()


@pytest.mark.slow
def test_importing_the_package_never_loads_plugins(tmp_path):
    env = {"MYGO_PLUGINS": "/nonexistent.py", "PATH": "/usr/bin:/bin"}
    code = "import mygo_nb.data, mygo_nb.learners, mygo_nb; print('imported')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-m", "mygo_nb", "methods"], capture_output=True, text=True, env=env,
                          check=False, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "/nonexistent.py" in proc.stderr, proc.stderr
