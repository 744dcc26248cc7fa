"""Tensors on disk with safetensors: one writer, one reader, nets, memories and optimiser state (chapter 3).

Weights go into ``.safetensors`` files and the few facts needed to rebuild the modules (modality, vocabulary
size, head sizes, generator shapes) into the file's string metadata or a JSON file beside it. Every write is
atomic (a temporary file, fsync, then a rename). Nothing is ever unpickled: ``torch.load`` is not used
anywhere in the package. Checkpoints (`mygo_nb.running.checkpoint`) use the same writer, reader and
memory (de)serialiser.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file
from torch import Tensor, nn

from ..errors import StoreError
from .memories import GenerativeMemory, memory_from_meta, memory_meta
from .net import MLP_HIDDEN, NeocortexNet, UnitPixels, make_net

__all__ = ["file_sha256", "flatten_optimizer", "load_memory", "load_net", "match_layouts", "read_safetensors",
           "save_memory", "save_net", "unflatten_optimizer", "write_safetensors"]

#: the file-metadata key that holds the strides of tensors that were not row-major when written
LAYOUTS = "mygo.layouts"


def _dense_strides(t: Tensor) -> list[int] | None:
    """``t``'s strides when ``t`` is dense but not row-major (e.g. channels_last, a transpose), else None.

    Only dense, non-overlapping layouts are kept: an expanded view (stride 0) is written and read back as the
    row-major copy it is."""
    if t.is_contiguous():
        return None
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride(), strict=True), key=lambda d: d[1]):
        if size == 1:
            continue
        if stride != expected:
            return None
        expected *= size
    return list(t.stride())


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, Tensor],
                      meta: dict[str, Any] | None = None) -> Path:
    """Write ``tensors`` (as contiguous CPU copies) to ``path`` atomically; ``meta`` goes, JSON-encoded, into the
    file's metadata under the key ``mygo``.

    The strides of every dense tensor that is not row-major (a channels_last conv weight's Fisher, say) go into
    the metadata too, so `read_safetensors` gives each tensor back in the layout it was written from: a sum over
    it then reduces in the same order, and a resumed run stays bit-identical on every CPU."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    layouts = {k: st for k, v in tensors.items() if (st := _dense_strides(v)) is not None}
    metadata = {} if meta is None else {"mygo": json.dumps(meta)}
    if layouts:
        metadata[LAYOUTS] = json.dumps(layouts)
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata=metadata or None)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _refuse(path: str | os.PathLike[str], e: Exception) -> StoreError:
    return StoreError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0]}); it is corrupt or of "
                      "another format (pickles are never loaded)")


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Load a ``.safetensors`` file on the CPU, each tensor in the layout (strides) it was written from;
    anything else (e.g. a pickle) is refused, never executed."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safe_open handle has no __iter__)
            layouts = json.loads((f.metadata() or {}).get(LAYOUTS, "{}"))
    except (SafetensorError, OSError, ValueError) as e:
        raise _refuse(path, e) from None
    for k, stride in layouts.items():
        t = tensors[k]
        tensors[k] = torch.empty_strided(t.shape, stride, dtype=t.dtype).copy_(t)
    return tensors


def _meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("mygo")
    except (SafetensorError, OSError, ValueError) as e:
        raise _refuse(path, e) from None
    if raw is None:
        raise StoreError(f"{path} is not a mygo-nb safetensors file (no 'mygo' metadata)")
    return json.loads(raw)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Nets and memories
# --------------------------------------------------------------------------------------------------
def save_net(net: NeocortexNet, path: str | os.PathLike[str]) -> Path:
    """Save a Neocortex Net (extractor and all heads). A net on a pretrained encoder saves its adapters,
    trunk and heads, and names its model folder, LoRA spec and trunk width (the pretrained weights stay in
    the model folder; loading checks them by their sha256)."""
    heads = [h.out_features for h in net.heads]
    lora = getattr(net.embed, "lora", None)
    if lora is not None:  # a PretrainedEncoder (mygo_nb.core.pretrained)
        trunk_dim = None if isinstance(net.trunk, nn.Identity) else net.feature_dim
        meta = {"kind": "neocortex-net", "modality": "text", "vocab_size": None, "arch": "minilm",
                "model": str(net.embed.folder), "lora": dataclasses.asdict(lora), "trunk_dim": trunk_dim,
                "heads": heads}
        return write_safetensors(path, net.state_dict(), meta)
    modality = "image" if isinstance(net.embed, nn.Identity) else "text"
    vocab = None if modality == "image" else net.embed.bag.num_embeddings  # type: ignore[union-attr]
    arch = "paper"
    if isinstance(net.trunk[0], UnitPixels):  # type: ignore[index]  # a fully connected net (make_mlp_net)
        arch = {v: k for k, v in MLP_HIDDEN.items()}.get(net.feature_dim, "")
        if not arch:
            raise StoreError(f"a fully connected net of {net.feature_dim} hidden units is none of the nets "
                             f"{', '.join(MLP_HIDDEN)}; save its state_dict instead")
    meta = {"kind": "neocortex-net", "modality": modality, "vocab_size": vocab, "arch": arch, "heads": heads}
    if modality == "image":  # the input shape (28 x 28 MNIST, or padded); files without it hold 1 x 28 x 28
        meta["image_shape"] = list(net.dream_shape)
    return write_safetensors(path, net.state_dict(), meta)


def load_net(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> NeocortexNet:
    """Rebuild a Neocortex Net saved by `save_net`."""
    meta = _meta(path)
    if meta.get("kind") != "neocortex-net":
        raise StoreError(f"{path} holds a {meta.get('kind')!r}, not a neocortex-net")
    if meta.get("arch") == "minilm":
        # imported here only: transformers and peft are an optional extra, kept out of `import mygo_nb`
        from .pretrained import LoRASpec, make_pretrained_text_net

        spec = LoRASpec(**{**meta["lora"], "targets": tuple(meta["lora"]["targets"])})
        net = make_pretrained_text_net(meta["model"], spec, meta["trunk_dim"])
    else:
        shape = meta.get("image_shape")
        net = make_net(str(meta["modality"]), meta["vocab_size"], str(meta.get("arch", "paper")),
                       image_shape=None if shape is None else tuple(shape))
    for n_out in meta["heads"]:
        net.add_head(int(n_out))
    net.load_state_dict(read_safetensors(path))
    return net.to(device)


def save_memory(memory: GenerativeMemory, path: str | os.PathLike[str]) -> Path:
    """Save a task's memory (its generator, whatever kind of memory trained it)."""
    return write_safetensors(path, memory.generator.state_dict(),
                             {**memory_meta(memory), "kind": "generator", "memory": memory.kind})


def load_memory(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> GenerativeMemory:
    """Rebuild a memory saved by `save_memory` (a GAN's or a VAE's, as it was saved)."""
    meta = _meta(path)
    if meta.get("kind") != "generator":
        raise StoreError(f"{path} holds a {meta.get('kind')!r}, not a generator")
    memory_kind = meta.get("memory", "gan")
    return memory_from_meta({**meta, "kind": memory_kind}, read_safetensors(path), device)


# --------------------------------------------------------------------------------------------------
# Optimiser state as tensors + JSON
# --------------------------------------------------------------------------------------------------
def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimiser ``state_dict()`` as (tensors keyed ``"<param>.<name>"``, JSON-able rest)."""
    tensors: dict[str, Tensor] = {}
    entries: dict[str, dict[str, Any]] = {}
    for pid, st in state["state"].items():
        entry: dict[str, Any] = {}
        for name, value in st.items():
            if isinstance(value, Tensor):
                tensors[f"{pid}.{name}"] = value
                entry[name] = {"tensor": f"{pid}.{name}"}
            else:
                entry[name] = value
        entries[str(pid)] = entry
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"state": entries, "param_groups": groups}


def unflatten_optimizer(tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten_optimizer`: a ``state_dict`` for ``Optimizer.load_state_dict``."""
    state = {
        int(pid): {name: tensors[v["tensor"]] if isinstance(v, dict) else v for name, v in entry.items()}
        for pid, entry in meta["state"].items()
    }
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give per-parameter state tensors their parameter's memory layout (e.g. channels_last).

    Files hold row-major tensors and ``load_state_dict`` keeps them so; fused and foreach kernels,
    however, walk a parameter and its moments in memory order, so the layouts must agree.
    """
    for p, st in opt.state.items():
        for name, v in st.items():
            if isinstance(v, Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)
