"""Saving and loading nets and generative memories with safetensors (introduced in notebook 03).

Weights go into ``.safetensors`` files and the few facts needed to rebuild the modules (modality,
vocabulary size, head sizes, generator shapes) into the file's string metadata. Nothing is ever
unpickled: `torch.load` is not used anywhere in the package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from .memories import GenerativeMemory, Generator
from .models import NeocortexNet, make_net

__all__ = ["load_memory", "load_net", "save_memory", "save_net", "state_to_safetensors"]


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies (safetensors stores dense row-major tensors)."""
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def state_to_safetensors(module: nn.Module, path: str | os.PathLike[str], meta: dict[str, object]) -> Path:
    """Write ``module.state_dict()`` to ``path`` with JSON-encoded ``meta`` under the key ``mygo``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(_plain(module.state_dict()), str(tmp), metadata={"mygo": json.dumps(meta)})
    os.replace(tmp, path)
    return path


def _meta(path: str | os.PathLike[str]) -> dict[str, object]:
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("mygo")
    except SafetensorError as e:  # e.g. a pickle renamed .safetensors: refused, never executed
        raise ValueError(f"{path} is not a safetensors file ({e}); it is corrupt or of another format "
                         "(pickles are never loaded)") from None
    if raw is None:
        raise ValueError(f"{path} is not a mygo-nb safetensors file (no 'mygo' metadata)")
    return json.loads(raw)


def save_net(net: NeocortexNet, path: str | os.PathLike[str]) -> Path:
    """Save a Neocortex Net (extractor and all heads)."""
    modality = "image" if isinstance(net.embed, nn.Identity) else "text"
    vocab = None if modality == "image" else net.embed.bag.num_embeddings  # type: ignore[union-attr]
    meta = {"kind": "neocortex-net", "modality": modality, "vocab_size": vocab,
            "heads": [h.out_features for h in net.heads]}
    return state_to_safetensors(net, path, meta)


def load_net(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> NeocortexNet:
    """Rebuild a Neocortex Net saved by `save_net`."""
    meta = _meta(path)
    if meta.get("kind") != "neocortex-net":
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a neocortex-net")
    net = make_net(str(meta["modality"]), meta["vocab_size"])  # type: ignore[arg-type]
    for n_out in meta["heads"]:  # type: ignore[union-attr]
        net.add_head(int(n_out))
    net.load_state_dict(load_file(str(path)))
    return net.to(device)


def save_memory(memory: GenerativeMemory, path: str | os.PathLike[str]) -> Path:
    """Save a task's generator (its memory)."""
    g = memory.generator
    meta = {"kind": "generator", "task": memory.task, "z_dim": g.z_dim, "n_classes": g.n_classes,
            "out_shape": list(g.out_shape), "hidden": g.net[0].out_features,
            "squash": isinstance(g.net[-1], nn.Tanh)}
    return state_to_safetensors(g, path, meta)


def load_memory(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> GenerativeMemory:
    """Rebuild a generative memory saved by `save_memory`."""
    meta = _meta(path)
    if meta.get("kind") != "generator":
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a generator")
    g = Generator(int(meta["z_dim"]), int(meta["n_classes"]), tuple(meta["out_shape"]),  # type: ignore[arg-type]
                  int(meta["hidden"]), squash=bool(meta["squash"]))  # type: ignore[arg-type]
    g.load_state_dict(load_file(str(path)))
    return GenerativeMemory(int(meta["task"]), g.to(device).eval())  # type: ignore[arg-type]
