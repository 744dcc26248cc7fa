"""Methods as learners over a stream, and the loop that runs and evaluates them (notebooks 05-08).

A *learner* owns a Neocortex Net and learns one task at a time (`learn`); `run_method` feeds it the
stream, evaluates every seen task after each stage and collects an accuracy matrix.

- ``mygo`` / ``reference``: the public reference code's semantics. The wake trains the student's own
  new head, so the teacher (a copy of the student) equals the student and the sleep loss is exactly 0;
  the extractor stays frozen at its random initialisation.
- ``mygo`` / ``paper``: the paper's text. The wake trains a separate hippocampal head ``h_t``; the teacher
  is the current net with ``h_t`` as head ``t``; the student gets a fresh head ``t`` and is fully
  trainable during sleep.
- ``mygo`` / ``consolidate`` and its options ``consolidate-*`` (notebook 09, beyond the paper): a
  hippocampal copy of the whole net learns the new task; the sleep distils into the student from it and
  from the pre-wake net (`mygo_nb.consolidate`).
- ``finetune``: one shared head, the whole net trained on each task in turn (the reference baseline).
- ``finetune-multihead``: the same with one head per task (the fair task-incremental baseline).
- ``joint``: every task's data at once, one head per task (the upper bound).
- ``ewc``, ``lwf``, ``replay`` (storage-fair experience replay), ``dgr`` (deep generative replay):
  the baselines of notebook 09 (`mygo_nb.baselines`).

Every learner has a `~mygo_nb.scenarios.Scenario` (``learner.scenario``) saying which heads serve which
tasks and which classes are active; ``Stream.scenario`` picks it (`scenarios_for` lists where each runs).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .baselines import BASELINES, SequentialLearner
from .config import ConfigError, TrainConfig, check_choice, method_label
from .consolidate import CONFIGS as CONSOLIDATE_CONFIGS
from .consolidate import Consolidate, ConsolidateConfig
from .data import Benchmark, Task, concat_inputs
from .memories import GenerativeMemory
from .metrics import accuracy
from .models import (
    FEATURE_DIM,
    NeocortexNet,
    adam,
    extractor_drift,
    extractor_parameters,
    extractor_snapshot,
    make_net,
    set_extractor_trainable,
)
from .phases import FeatureCache, encode, sleep, train_epochs, wake
from .scenarios import SCENARIOS, Scenario

if TYPE_CHECKING:
    from .checkpoint import Checkpointer

__all__ = ["METHODS", "VARIANTS", "Consolidate", "Finetune", "Joint", "MyGO", "Stream", "check_method", "evaluate",
           "make_learner", "run_method", "scenarios_for"]

METHODS: tuple[str, ...] = ("mygo", "finetune", "finetune-multihead", "joint", "ewc", "lwf", "replay", "dgr")
VARIANTS: dict[str, tuple[str, ...]] = {"mygo": ("reference", "paper", *CONSOLIDATE_CONFIGS)}
EVAL_BATCH = 2048


def scenarios_for(method: str, variant: str | None = None) -> tuple[str, ...]:
    """The scenarios ``method`` (``variant``) is defined for (`mygo_nb.scenarios`).

    MyGO's ``reference`` and ``paper`` variants are built on one head per task, and
    ``finetune-multihead`` *is* fine-tuning with task heads: task-incremental only. Everything else runs
    in all three scenarios (``finetune`` keeps the reference's one shared head in the task scenario, so its
    task and domain runs are the same computation).
    """
    if method == "finetune-multihead" or (method == "mygo" and variant in ("reference", "paper", None)):
        return ("task",)
    return SCENARIOS


def check_method(method: str, variant: str | None, scenario: str = "task",
                 config: ConsolidateConfig | None = None) -> str | None:
    """Validate a method, its variant, the scenario and a `ConsolidateConfig` override (one-line
    `ConfigError`s); return the variant to use (the default for ``mygo``). Used by `make_learner`,
    `mygo_nb.experiment.run` (before seeding or loading data) and the sweep's spec checks."""
    check_choice("method", method, METHODS)
    check_choice("scenario", scenario, SCENARIOS)
    if method in VARIANTS:
        variant = check_choice("variant", variant or VARIANTS[method][0], VARIANTS[method])
    elif variant:
        raise ConfigError(f"method {method!r} has no variants; valid only for: {', '.join(VARIANTS)}")
    else:
        variant = None
    if config is not None and variant not in CONSOLIDATE_CONFIGS:
        raise ConfigError("a ConsolidateConfig only applies to the mygo/consolidate* variants, not to "
                          + method_label(method, variant))
    if scenario not in scenarios_for(method, variant):
        raise ConfigError(f"{method_label(method, variant)} is not defined in the {scenario} scenario; it runs in: "
                          f"{', '.join(scenarios_for(method, variant))}")
    return variant


@dataclass
class Stream:
    """What a learner needs besides the task: the budget, random streams and progress display."""

    cfg: TrainConfig
    rng: torch.Generator  # on the run's device: shuffling, noise
    host_rng: torch.Generator  # on the CPU: choices made in Python (which memory to dream from)
    progress: bool = True
    n_tasks: int = 1
    scenario: str = "task"

    def desc(self, task: Task, phase: str) -> str:
        return f"task {task.index + 1}/{self.n_tasks} {phase}"


class MyGO:
    """MyGO's wake-sleep learner, in the ``reference`` or the ``paper`` variant."""

    def __init__(self, bench: Benchmark, s: Stream, variant: str = "reference") -> None:
        self.variant = check_choice("variant", variant, ("reference", "paper"))
        self.s = s
        self.net = make_net(bench.modality, bench.vocab_size).to(bench.device)
        set_extractor_trainable(self.net, False)
        self.memories: list[GenerativeMemory] = []
        self._init = extractor_snapshot(self.net)
        self.cache = FeatureCache()
        self.scenario = Scenario.of("task", bench)

    def head_for(self, task: int) -> int:
        return task

    def learn(self, task: Task) -> dict[str, Any]:
        s, net = self.s, self.net
        set_extractor_trainable(net, False)
        if self.variant == "reference":
            head = net.add_head(task.n_classes)
            memory, wlog = wake(net, task, head, s.cfg, s.rng, progress=s.progress, desc=s.desc(task, "wake"),
                                 cache=self.cache)
            teacher = copy.deepcopy(net)
        else:
            device = next(net.parameters()).device
            hippocampal = nn.Linear(FEATURE_DIM, task.n_classes).to(device)
            memory, wlog = wake(net, task, hippocampal, s.cfg, s.rng, progress=s.progress,
                                 desc=s.desc(task, "wake"), cache=self.cache)
            net.add_head(task.n_classes)
            teacher = copy.deepcopy(net)
            teacher.heads[task.index].load_state_dict(hippocampal.state_dict())
            set_extractor_trainable(net, True)
        self.memories.append(memory)
        slog = sleep(net, teacher, self.memories, s.cfg, s.rng, s.host_rng, progress=s.progress,
                     desc=s.desc(task, "sleep"))
        set_extractor_trainable(net, False)
        return {
            "phases": {"wake": {"seconds": wlog.seconds, "samples": wlog.samples},
                       "sleep": {"seconds": slog.seconds, "samples": slog.samples}},
            "wake": {"head_loss": wlog.head_loss, "d_loss": wlog.d_loss, "g_loss": wlog.g_loss},
            "sleep_loss": slog.loss,
            "sleep_dream_task": slog.dream_task,
            "extractor_drift": extractor_drift(net, self._init),
        }


class Finetune:
    """Sequential fine-tuning of the whole net: one shared head, or one head per task."""

    def __init__(self, bench: Benchmark, s: Stream, multihead: bool = False) -> None:
        self.s, self.multihead = s, multihead
        # one shared head, as the reference code, in the task and domain scenarios; the growing head in class
        layout = "task" if multihead else ("class" if s.scenario == "class" else "domain")
        self.scenario = Scenario.of(layout, bench)
        self.net = make_net(bench.modality, bench.vocab_size).to(bench.device)
        self._init = extractor_snapshot(self.net)
        self.opt: torch.optim.Optimizer | None = None
        if not multihead:  # the reference: one head, one optimiser for the whole stream
            self.scenario.ensure_heads(self.net, 0)
            self.opt = adam(self.net.parameters(), s.cfg.lr_fast)

    def head_for(self, task: int) -> int:
        return self.scenario.head_for(task)

    def learn(self, task: Task) -> dict[str, Any]:
        net, scn, t = self.net, self.scenario, task.index
        if self.multihead:
            scn.ensure_heads(net, t)
            params = [*extractor_parameters(net), *net.heads[t].parameters()]
            opt = adam(params, self.s.cfg.lr_fast)
        else:
            params, opt = list(net.parameters()), self.opt
        data = task.train
        log = train_epochs(net, params, data.x, data.y,
                           lambda idx, _xb, f: scn.cross_entropy(net, f, t, data.y[idx], t),
                           self.s, self.s.desc(task, "train"), opt)
        return {"phases": {"train": {"seconds": log["seconds"], "samples": log["samples"]}},
                "train_loss": log["loss"], "extractor_drift": extractor_drift(net, self._init)}


class Joint:
    """All tasks' training data at once, heads as the scenario says: the upper bound. Trains in ``learn_all``."""

    def __init__(self, bench: Benchmark, s: Stream) -> None:
        self.s = s
        self.scenario = Scenario.of(s.scenario, bench)
        self.net = make_net(bench.modality, bench.vocab_size).to(bench.device)
        self._init = extractor_snapshot(self.net)

    def head_for(self, task: int) -> int:
        return self.scenario.head_for(task)

    def learn_all(self, tasks: list[Task]) -> dict[str, Any]:
        net, scn, last = self.net, self.scenario, len(tasks) - 1
        for t in tasks:
            scn.ensure_heads(net, t.index)
        x = concat_inputs([t.train.x for t in tasks])
        y = torch.cat([t.train.y for t in tasks])
        tid = torch.cat([torch.full_like(t.train.y, t.index) for t in tasks])

        def loss_fn(idx: torch.Tensor, _xb: object, f: torch.Tensor) -> torch.Tensor:
            return scn.cross_entropy(net, f, tid[idx], y[idx], last)

        log = train_epochs(net, list(net.parameters()), x, y, loss_fn, self.s, "joint train")
        return {"phases": {"train": {"seconds": log["seconds"], "samples": log["samples"]}},
                "train_loss": log["loss"], "extractor_drift": extractor_drift(net, self._init)}


Learner = MyGO | Consolidate | Finetune | Joint | SequentialLearner


def make_learner(method: str, bench: Benchmark, s: Stream, variant: str | None = None,
                 config: ConsolidateConfig | None = None) -> Learner:
    """The learner for ``method`` (and ``variant``, for ``mygo`` only) in the scenario ``s.scenario``.

    ``config`` replaces the named config of a ``consolidate*`` variant (any other learner: an error)."""
    variant = check_method(method, variant, s.scenario, config)
    if method in VARIANTS:
        if variant in CONSOLIDATE_CONFIGS:
            return Consolidate(bench, s, config or CONSOLIDATE_CONFIGS[variant])
        return MyGO(bench, s, variant)
    if method == "joint":
        return Joint(bench, s)
    if method in BASELINES:
        return BASELINES[method](bench, s)
    return Finetune(bench, s, multihead=method == "finetune-multihead")


@torch.no_grad()
def evaluate(net: NeocortexNet, tasks: list[Task], head_for: Callable[[int], int] | Scenario, split: str = "test",
             cache: FeatureCache | None = None, stage: int | None = None) -> list[float]:
    """Accuracy (%) of ``net`` on each task's ``split``.

    ``head_for`` is a `Scenario` (heads, active classes after training stage ``stage`` -- default: the
    last task in ``tasks`` -- and targets as the scenario says) or a function giving each task's head
    (task-local labels). With a `FeatureCache`, extractor outputs are reused while the extractor's weights
    are unchanged.
    """
    was = net.training
    net.eval()
    accs = []
    stage = tasks[-1].index if stage is None else stage
    for t in tasks:
        data = t.split(split)
        if cache is None:
            feats = encode(net.features, data.x, EVAL_BATCH)
        else:
            feats = cache.features(net, (t.index, split), data.x)
        if isinstance(head_for, Scenario):
            accs.append(accuracy(head_for.logits(net, feats, t.index, stage), head_for.target(t.index, data.y)))
        else:
            accs.append(accuracy(net.heads[head_for(t.index)](feats), data.y))
    net.train(was)
    return accs


@dataclass
class MethodRun:
    """The raw outcome of `run_method`: the accuracy matrix, per-stage logs and timings."""

    R: list[list[float | None]]
    stages: list[dict[str, Any]] = field(default_factory=list)
    eval_seconds: float = 0.0
    learner: Any = None


def run_method(learner: Learner, bench: Benchmark, s: Stream, eval_on: str = "test",
               checkpoint: Checkpointer | None = None) -> MethodRun:
    """Feed ``bench``'s stream to ``learner`` and evaluate every seen task after each stage.

    With a `~mygo_nb.checkpoint.Checkpointer`, the state is saved after every stage and a resumed run
    starts after the newest checkpoint's stage.
    """
    T = bench.n_tasks
    out = MethodRun(R=[], learner=learner)
    done = checkpoint.restore(learner, out, 1 if isinstance(learner, Joint) else T) if checkpoint else 0
    if isinstance(learner, Joint):
        if done:
            return out
        out.stages.append(learner.learn_all(bench.tasks))
        t0 = time.perf_counter()
        out.R.append(evaluate(learner.net, bench.tasks, learner.scenario, eval_on))
        out.eval_seconds = time.perf_counter() - t0
        if checkpoint:
            checkpoint.save(learner, out)
        return out
    for task in bench.tasks[done:]:
        out.stages.append(learner.learn(task))
        t0 = time.perf_counter()
        row = evaluate(learner.net, bench.tasks[: task.index + 1], learner.scenario, eval_on,
                       getattr(learner, "cache", None), stage=task.index)
        out.eval_seconds += time.perf_counter() - t0
        out.R.append(row + [None] * (T - len(row)))
        if checkpoint:
            checkpoint.save(learner, out)
    return out
