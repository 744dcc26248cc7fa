"""The methods, one file each, behind one contract (`base.Learner`) and one registry (`base.register`).

Importing this package registers every method, in this order (the CLI's and the docs' order): ``mygo``
(variants ``reference`` and ``paper``, `mygo`; ``consolidate*``, `consolidate`; ``internal``, `internal`),
``finetune`` and ``finetune-multihead`` (`finetune`), ``joint``, ``ewc``, ``lwf``, ``replay``, ``dgr`` and
``dreams`` (learning from dreams alone: what a memory recipe's dreams are worth). A new
method is a new module here with one ``@register`` and one line below, or a file of your own loaded as a *plugin*
(`load_plugins`: the paths in ``MYGO_PLUGINS``, or the CLI's ``--plugin``), which the CLI, the sweeps (their
notebook kernels inherit the variable) and checkpoints then treat like any other method (the book's "Add your
own method" page shows how).
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import ConfigError
from .base import REGISTRY, Entry, Learner, NoOptions, check_method, make_learner, methods, register, variants
from .sequential import SequentialLearner

#: the method modules, imported (so registered) in the order the CLI, the errors and the docs list methods
MODULES = ("mygo", "consolidate", "internal", "finetune", "joint", "ewc", "lwf", "replay", "dgr", "dreams")
for _module in MODULES:
    importlib.import_module(f".{_module}", __name__)

__all__ = ["MODULES", "REGISTRY", "Entry", "Learner", "NoOptions", "SequentialLearner", "check_method", "load_plugins",
           "make_learner", "methods", "register", "variants"]

PLUGINS_VARIABLE = "MYGO_PLUGINS"


def load_plugins(paths: str | None = None) -> list[str]:
    """Import method files so that their ``@register`` runs; returns the module names loaded.

    ``paths``: file paths separated by ``os.pathsep`` (default: the ``MYGO_PLUGINS`` environment variable). Each
    file is imported once, as module ``mygo_plugin_<stem>``. A missing file is a one-line `ConfigError`.
    """
    loaded = []
    for entry in filter(None, (os.environ.get(PLUGINS_VARIABLE, "") if paths is None else paths).split(os.pathsep)):
        path = Path(entry).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"method plugin {entry} not found ({PLUGINS_VARIABLE} or --plugin); give a .py file")
        name = f"mygo_plugin_{path.stem}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        loaded.append(name)
    return loaded


load_plugins()
