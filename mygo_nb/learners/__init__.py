"""The methods, one file each, behind one contract (`base.Learner`) and one registry (`base.register`).

Importing this package registers every method, in this order (the CLI's and the docs' order): ``mygo``
(variants ``reference`` and ``paper``, `mygo`; ``consolidate*``, `consolidate`; ``internal``, `internal`),
``finetune`` and ``finetune-multihead`` (`finetune`), ``joint``, ``ewc``, ``lwf``, ``replay``, ``dgr``, ``agem``,
``dreams`` (learning from dreams alone: what a memory recipe's dreams are worth) and ``ncm`` (the frozen
extractor with a nearest-class-mean classifier, no training). A new
method is a new module here with one ``@register`` and one line below, or a file of your own loaded as a *plugin*
(`load_plugins`: the paths in ``MYGO_PLUGINS``, loaded when a method is first resolved, not at import; or
the CLI's ``--plugin``), which the CLI, the sweeps (their
notebook kernels inherit the variable) and checkpoints then treat like any other method (the book's "Add your
own method" page shows how).
"""

import importlib

from .base import (
    PLUGINS_VARIABLE,
    REGISTRY,
    Entry,
    Learner,
    NoOptions,
    check_method,
    entries,
    load_plugins,
    make_learner,
    methods,
    register,
    variants,
)
from .sequential import SequentialLearner

#: the method modules, imported (so registered) in the order the CLI, the errors and the docs list methods
MODULES = ("mygo", "consolidate", "internal", "finetune", "joint", "ewc", "lwf", "replay", "dgr", "agem", "dreams",
           "ncm")
for _module in MODULES:
    importlib.import_module(f".{_module}", __name__)

__all__ = ["MODULES", "PLUGINS_VARIABLE", "REGISTRY", "Entry", "Learner", "NoOptions", "SequentialLearner",
           "check_method", "entries", "load_plugins", "make_learner", "methods", "register", "variants"]
