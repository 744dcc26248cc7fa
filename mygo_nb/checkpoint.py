"""Checkpoint a run after every task and resume it after a kill (introduced in notebook 06).

After each stage of the stream, `Checkpointer.save` writes the run's full state into a folder:

- ``stage-NNN.safetensors``: every tensor -- the net (extractor and heads), each memory's generator
  (cGAN or VAE decoder), the shared optimiser's tensors (``finetune``), and the three random streams
  (torch's global stream, the run's device generator and its host generator);
- ``stage-NNN.json``: everything else -- the run's *fingerprint* (benchmark, method, profile, seed, data,
  ...), the accuracy-matrix rows and per-stage logs so far, the optimiser's scalar state, and the
  sha256 of the tensor file.

Both are written atomically (a temporary file, then ``os.replace``), the tensor file first: the newest
JSON always names a complete tensor file, so a kill at any moment leaves a usable checkpoint. Derived
data (the `FeatureCache`) is not saved; it is recomputed to the same numbers.

Resuming rebuilds the learner exactly as a fresh run does (same seed, so the same initial weights),
loads the saved state over it and continues with the next task: on CPU, the accuracy matrix and the
traces equal those of an uninterrupted run bit for bit. A checkpoint written by a different run
(another seed, profile, method, benchmark or data) is refused. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import ConfigError
from .memories import GenerativeMemory, Generator, VAEMemory
from .methods import Consolidate, Finetune, Learner, MethodRun, MyGO
from .results import atomic_write_text

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "flatten_optimizer",
    "read_safetensors",
    "run_fingerprint",
    "unflatten_optimizer",
]

FORMAT = 1
_MEMORY_KINDS: dict[str, type[GenerativeMemory]] = {"gan": GenerativeMemory, "vae": VAEMemory}
_STAGE = re.compile(r"^stage-(\d{3,})\.json$")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: corrupt, or written by a different run. One-line message."""


# --------------------------------------------------------------------------------------------------
# Safe tensor files
# --------------------------------------------------------------------------------------------------
def read_safetensors(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Load a ``.safetensors`` file on the CPU; anything else (e.g. a pickle) is refused, never executed."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0]}); "
                              "it is corrupt or of another format (pickles are never loaded)") from None


def _write_safetensors(path: Path, tensors: dict[str, Tensor]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


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


# --------------------------------------------------------------------------------------------------
# Learner state
# --------------------------------------------------------------------------------------------------
def _learner_state(learner: Learner) -> tuple[dict[str, Tensor], dict[str, Any]]:
    net = learner.net
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    meta: dict[str, Any] = {"learner": type(learner).__name__, "heads": [h.out_features for h in net.heads]}
    if isinstance(learner, MyGO | Consolidate):
        meta["memories"] = []
        for i, m in enumerate(learner.memories):
            g = m.generator
            tensors.update({f"memory.{i}.{k}": v for k, v in g.state_dict().items()})
            meta["memories"].append({"task": m.task, "kind": m.kind, "z_dim": g.z_dim, "n_classes": g.n_classes,
                                     "out_shape": list(g.out_shape), "hidden": g.net[0].out_features,
                                     "squash": isinstance(g.net[-1], torch.nn.Tanh)})
    if hasattr(learner, "extra_state"):  # the baselines' own state (Fisher sums, replay buffer, generator)
        tensors.update({f"extra.{k}": v.contiguous() for k, v in learner.extra_state().items()})
    if isinstance(learner, Finetune) and learner.opt is not None:
        opt_tensors, meta["optimizer"] = flatten_optimizer(learner.opt.state_dict())
        tensors.update({f"opt.{k}": v for k, v in opt_tensors.items()})
    s = learner.s
    tensors["rng.global"] = torch.get_rng_state()
    tensors["rng.device"] = s.rng.get_state()
    tensors["rng.host"] = s.host_rng.get_state()
    return tensors, meta


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give per-parameter state tensors their parameter's memory layout (e.g. channels_last).

    Files hold row-major tensors and ``load_state_dict`` keeps them so; fused and foreach kernels,
    however, walk a parameter and its moments in memory order, so the layouts must agree.
    """
    for p, st in opt.state.items():
        for name, v in st.items():
            if isinstance(v, Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _restore_learner(learner: Learner, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    if meta["learner"] != type(learner).__name__:
        raise CheckpointError(f"checkpoint holds a {meta['learner']} learner, not a {type(learner).__name__}")
    net = learner.net
    heads = [int(n) for n in meta["heads"]]
    if [h.out_features for h in net.heads] != heads[: len(net.heads)]:
        raise CheckpointError("checkpoint's heads do not match the learner's; delete the checkpoint folder")
    for n_out in heads[len(net.heads):]:
        net.add_head(n_out)
    net.load_state_dict(_prefixed(tensors, "net."))
    device = next(net.parameters()).device
    if isinstance(learner, MyGO | Consolidate):
        memories = []
        for i, m in enumerate(meta["memories"]):
            g = Generator(int(m["z_dim"]), int(m["n_classes"]), tuple(m["out_shape"]), int(m["hidden"]),
                          squash=bool(m["squash"]))
            g.load_state_dict(_prefixed(tensors, f"memory.{i}."))
            kind = _MEMORY_KINDS.get(m.get("kind", "gan"))
            if kind is None:
                raise CheckpointError(f"checkpoint memory {i} is of unknown kind {m.get('kind')!r}; delete it")
            memories.append(kind(int(m["task"]), g.to(device).eval()))
        learner.memories = memories
    if hasattr(learner, "load_extra_state"):
        learner.load_extra_state({k: v.to(device) for k, v in _prefixed(tensors, "extra.").items()})
    if isinstance(learner, Finetune) and learner.opt is not None:
        learner.opt.load_state_dict(unflatten_optimizer(_prefixed(tensors, "opt."), meta["optimizer"]))
        _match_layouts(learner.opt)
    s = learner.s
    torch.set_rng_state(tensors["rng.global"])
    s.rng.set_state(tensors["rng.device"])
    s.host_rng.set_state(tensors["rng.host"])


# --------------------------------------------------------------------------------------------------
# The checkpointer
# --------------------------------------------------------------------------------------------------
class Checkpointer:
    """Saves a run's state after each stage into ``folder`` and restores the newest one on resume.

    ``fingerprint`` (a JSON-able dict) identifies the run; resuming from a checkpoint with another
    fingerprint is refused. Without ``resume``, old checkpoints in ``folder`` are removed at the start.
    """

    def __init__(self, folder: str | os.PathLike[str], fingerprint: dict[str, Any], resume: bool = False) -> None:
        self.folder = Path(folder)
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it will read back
        self.resume = resume
        self.resumed_from: int = 0

    def stages(self) -> list[int]:
        """Stage numbers that have a checkpoint JSON here, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _STAGE.match(p.name)))

    def _paths(self, stage: int) -> tuple[Path, Path]:
        return self.folder / f"stage-{stage:03d}.json", self.folder / f"stage-{stage:03d}.safetensors"

    def _remove(self, keep: int | None = None) -> None:
        for stage in self.stages() + [int(p.stem[6:]) for p in self.folder.glob("stage-*.safetensors")
                                      if p.stem[6:].isdigit()]:
            if stage != keep:
                for p in self._paths(stage):
                    p.unlink(missing_ok=True)
        for tmp in self.folder.glob(".stage-*.tmp"):  # left by a kill in the middle of a write
            tmp.unlink(missing_ok=True)

    def save(self, learner: Learner, out: MethodRun) -> Path:
        """Write the checkpoint after stage ``len(out.stages)``; returns its JSON path."""
        stage = len(out.stages)
        self.folder.mkdir(parents=True, exist_ok=True)
        js, st = self._paths(stage)
        tensors, meta = _learner_state(learner)
        _write_safetensors(st, tensors)
        record = {"format": FORMAT, "stage": stage, "fingerprint": self.fingerprint,
                  "tensors": {"file": st.name, "sha256": _sha256(st)}, "learner": meta,
                  "R": out.R, "stages": out.stages, "eval_seconds": out.eval_seconds}
        atomic_write_text(js, json.dumps(record))
        self._remove(keep=stage)
        return js

    def restore(self, learner: Learner, out: MethodRun, n_stages: int) -> int:
        """Load the newest checkpoint into ``learner`` and ``out``; returns the number of stages done.

        Without ``resume`` (or with no checkpoint yet) this clears the folder and returns 0.
        """
        found = self.stages() if self.resume else []
        if not found:
            if self.resume:
                print(f"mygo_nb: no checkpoint in {self.folder}; starting from the first task", file=sys.stderr)
            if self.folder.is_dir():
                self._remove()
            return 0
        stage = found[-1]
        js, st = self._paths(stage)
        try:
            record = json.loads(js.read_text(encoding="utf-8"))
            fp, tinfo = record["fingerprint"], record["tensors"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint {js} is unreadable ({type(e).__name__}: {e}); "
                                  f"delete {self.folder} to start again") from None
        if fp != self.fingerprint:
            diff = sorted(k for k in set(fp) | set(self.fingerprint) if fp.get(k) != self.fingerprint.get(k))
            show = "; ".join(f"{k}: {_short(fp.get(k))} there, {_short(self.fingerprint.get(k))} now" for k in diff)
            raise CheckpointError(f"checkpoint in {self.folder} is from a different run ({show}); resume with the "
                                  "same options, or delete it / choose another --checkpoint-dir")
        if not st.is_file() or _sha256(st) != tinfo.get("sha256"):
            raise CheckpointError(f"checkpoint tensors {st} are missing or do not match their sha256; "
                                  f"delete {self.folder} to start again")
        if not 1 <= stage <= n_stages or len(record["R"]) != stage:
            raise CheckpointError(f"checkpoint {js} claims stage {stage} of {n_stages}; delete {self.folder}")
        _restore_learner(learner, read_safetensors(st), record["learner"])
        out.R[:] = record["R"]
        out.stages[:] = record["stages"]
        out.eval_seconds = float(record["eval_seconds"])
        self.resumed_from = stage
        print(f"mygo_nb: resumed from {js} ({stage} of {n_stages} stages done)", file=sys.stderr)
        return stage


def _short(v: Any, n: int = 60) -> str:
    s = json.dumps(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def run_fingerprint(bench: Any, method: str, variant: str | None, profile: dict[str, Any], seed: int,
                    eval_on: str, scenario: str = "task", config: dict[str, Any] | None = None) -> dict[str, Any]:
    """What identifies a run for resuming: options, seed, device type, data, and the torch version
    (``config``: a method config that overrides the variant's named one, see `mygo_nb.experiment.run`)."""
    files = bench.provenance.get("files", {})
    extra: dict[str, Any] = {} if scenario == "task" else {"scenario": scenario}  # task checkpoints stay resumable
    if config is not None:
        extra["config"] = config
    return {"format": FORMAT, "benchmark": bench.name, "method": method, "variant": variant, "profile": profile,
            "seed": seed, "eval_on": eval_on, **extra, "device": bench.device.type,
            "tasks": [list(t.classes) for t in bench.tasks],
            "sizes": [[len(t.train), len(t.test)] for t in bench.tasks],
            "data_md5": {k: v.get("md5") for k, v in files.items()} if isinstance(files, dict) else None,
            "torch": torch.__version__}
