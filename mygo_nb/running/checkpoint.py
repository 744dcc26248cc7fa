"""Checkpoint a run after every task and resume it after a kill (introduced in chapter 6).

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

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.store import file_sha256, read_safetensors, write_safetensors
from ..errors import StoreError
from ..learners import Learner
from .loop import StreamRun
from .records import atomic_write_text, bench_data, run_identity

__all__ = ["CheckpointError", "Checkpointer", "run_fingerprint"]

FORMAT = 2
_STAGE = re.compile(r"^stage-(\d{3,})\.json$")


class CheckpointError(StoreError):
    """A checkpoint that cannot be used: corrupt, or written by a different run. One-line message."""


def _learner_state(learner: Learner) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors, meta = learner.state()
    ctx = learner.ctx
    tensors = {f"learner.{k}": v for k, v in tensors.items()}
    tensors["rng.global"] = torch.get_rng_state()
    tensors["rng.device"] = ctx.rng.get_state()
    tensors["rng.host"] = ctx.host_rng.get_state()
    return tensors, {"learner": type(learner).__name__, **meta}


def _restore_learner(learner: Learner, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    if meta["learner"] != type(learner).__name__:
        raise CheckpointError(f"checkpoint holds a {meta['learner']} learner, not a {type(learner).__name__}")
    device = next(learner.net.parameters()).device
    learner.load_state({k[8:]: v.to(device) for k, v in tensors.items() if k.startswith("learner.")}, meta)
    ctx = learner.ctx
    torch.set_rng_state(tensors["rng.global"])
    ctx.rng.set_state(tensors["rng.device"])
    ctx.host_rng.set_state(tensors["rng.host"])


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

    def save(self, learner: Learner, out: StreamRun) -> Path:
        """Write the checkpoint after stage ``len(out.stages)``; returns its JSON path."""
        stage = len(out.stages)
        self.folder.mkdir(parents=True, exist_ok=True)
        js, st = self._paths(stage)
        tensors, meta = _learner_state(learner)
        write_safetensors(st, tensors)
        record = {"format": FORMAT, "stage": stage, "fingerprint": self.fingerprint,
                  "tensors": {"file": st.name, "sha256": file_sha256(st)}, "learner": meta,
                  "accuracy": out.accuracy, "stages": out.stages, "eval_seconds": out.eval_seconds}
        atomic_write_text(js, json.dumps(record))
        self._remove(keep=stage)
        return js

    def restore(self, learner: Learner, out: StreamRun, n_stages: int) -> int:
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
        if not st.is_file() or file_sha256(st) != tinfo.get("sha256"):
            raise CheckpointError(f"checkpoint tensors {st} are missing or do not match their sha256; "
                                  f"delete {self.folder} to start again")
        if not 1 <= stage <= n_stages or len(record["accuracy"]) != stage:
            raise CheckpointError(f"checkpoint {js} claims stage {stage} of {n_stages}; delete {self.folder}")
        try:
            tensors = read_safetensors(st)
        except StoreError as e:
            raise CheckpointError(str(e)) from None
        _restore_learner(learner, tensors, record["learner"])
        out.accuracy[:] = record["accuracy"]
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
    """What identifies a run for resuming: the run (`~mygo_nb.running.records.run_identity`), the method config
    that overrides the variant's named one, if any (``config``, see `mygo_nb.experiment.run`), the tasks'
    classes, the device type and the torch version."""
    extra: dict[str, Any] = {} if config is None else {"config": config}
    return {"format": FORMAT, **run_identity(bench.name, method, variant, scenario, seed, eval_on, profile,
                                             bench_data(bench)),
            **extra, "tasks": [list(t.classes) for t in bench.tasks], "device": bench.device.type,
            "torch": torch.__version__}
