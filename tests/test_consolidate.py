"""The consolidating MyGO variant (notebook 09, beyond the paper), its options, and storage accounting."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mygo_nb.book.nbutil import find_record
from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.memories import ConditionalVAE, GenerativeMemory, VAEMemory, make_vae, vae_step
from mygo_nb.core.net import param_count
from mygo_nb.data import Benchmark
from mygo_nb.errors import ConfigError
from mygo_nb.learners import check_method, make_learner, variants
from mygo_nb.learners.consolidate import (
    CONFIGS,
    Consolidate,
    ConsolidateConfig,
    consolidating_sleep,
    hippocampal_wake,
)
from mygo_nb.learners.ewc import EWC, EWCConfig
from mygo_nb.running import checkpoint as ckpt_mod
from mygo_nb.running.experiment import run, seed_everything
from mygo_nb.running.records import RunResult

ROOT = Path(__file__).resolve().parents[1]
SMALL = Profile("small", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=30))


def _ctx(bench: Benchmark, profile: Profile = SMALL, seed: int = 0) -> RunContext:
    rng, host = seed_everything(seed, bench.device)
    return RunContext(profile.train, rng, host, progress=False, n_tasks=bench.n_tasks)


def _two_teachers(bench: Benchmark, ccfg: ConsolidateConfig, cfg: TrainConfig = SMALL.train):
    """After task 1 of ``bench``: a student, the teachers of task 2's sleep, the memories and task 2."""
    learner = Consolidate(bench, _ctx(bench), ccfg)
    learner.learn(bench.tasks[0])
    s = learner.ctx
    pre_wake = copy.deepcopy(learner.net).requires_grad_(False).eval()
    hpc, mem, _ = hippocampal_wake(learner.net, bench.tasks[1], ccfg.memory, cfg, s.rng, progress=False)
    memories = [*learner.memories, mem]
    return copy.deepcopy(hpc), {0: pre_wake, 1: hpc}, memories, s


def test_variants_are_registered_and_validated():
    assert set(CONFIGS) <= set(variants("mygo"))
    assert variants("mygo")[:2] == ("reference", "paper")  # the default variant is unchanged
    entry = check_method("mygo", "consolidate-real", "class")
    assert entry.learner is Consolidate and entry.config == CONFIGS["consolidate-real"] == ConsolidateConfig(
        real_fraction=0.25)
    with pytest.raises(ConfigError, match="unknown variant 'consolidate-nope'; valid choices: reference, paper"):
        check_method("mygo", "consolidate-nope")
    with pytest.raises(ConfigError, match="real_fraction"):
        ConsolidateConfig(real_fraction=1.5)
    with pytest.raises(ConfigError, match="memory"):
        ConsolidateConfig(memory="flow")


def test_extractor_moves_and_sleep_distils(image3):
    r = run(image3, "mygo", "consolidate", SMALL, progress=False)
    drift = r.traces["extractor_drift"]
    assert drift[0] > 0 and drift[1] > drift[0] and drift[2] > drift[1]
    # task 1: the student is the hippocampal copy and the only teacher -- nothing to consolidate
    assert r.traces["sleep_loss"][0] == [] and r.traces["sleep_budget"][0]["steps_saved"] == SMALL.train.sleep_steps
    # later tasks: both teachers' memories are dreamed, the loss is non-zero
    for t in (1, 2):
        assert set(r.traces["sleep_dream_task"][t]) == set(range(t + 1))
        assert sum(r.traces["sleep_loss"][t]) > 0
    assert r.metrics["average_accuracy"] > 75


def test_sleep_loss_decreases_on_average(image3):
    ccfg = ConsolidateConfig()
    student, teachers, memories, s = _two_teachers(image3, ccfg)
    cfg = TrainConfig(batch_size=32, sleep_steps=150, lr_slow=1e-4)
    old = [i for i, t in enumerate([m.task for m in memories]) if t == 0]
    assert old
    log = consolidating_sleep(student, teachers, memories, cfg, ccfg, s.rng, s.host_rng)
    old_losses = [x for x, t in zip(log.loss, log.dream_task, strict=True) if t == 0]
    third = len(old_losses) // 3
    assert sum(old_losses[:third]) / third > 0
    assert sum(old_losses[-third:]) / third < sum(old_losses[:third]) / third


def test_vae_memory_is_a_vae_and_dreams_the_right_shape(image3, text2):
    r_learner = make_learner("mygo", image3, _ctx(image3), "consolidate-vae")
    r_learner.learn(image3.tasks[0])
    mem = r_learner.memories[0]
    assert isinstance(mem, VAEMemory) and mem.kind == "vae"
    dreams, labels = mem.dream(10, torch.Generator(image3.device).manual_seed(0))
    assert dreams.shape == (10, 1, 28, 28) and dreams.min() >= -1 and dreams.max() <= 1
    assert labels.tolist() == [0, 1] * 5
    t_learner = make_learner("mygo", text2, _ctx(text2), "consolidate-vae")
    t_learner.learn(text2.tasks[0])
    assert t_learner.memories[0].dream(7)[0].shape == (7, 128)
    # the VAE itself: an encoder q(z|x,c) and a Generator decoder; the negative ELBO goes down with training
    vae = make_vae((1, 28, 28), 2, 8, 64, image3.device)
    assert isinstance(vae, ConditionalVAE) and param_count(vae.decoder) < param_count(vae)
    x, y = image3.tasks[0].train.x[:64], image3.tasks[0].train.y[:64]
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    rng = torch.Generator(image3.device).manual_seed(0)
    first = sum(vae_step(vae, opt, x, y, rng))
    for _ in range(60):
        last = sum(vae_step(vae, opt, x, y, rng))
    assert float(last) < 0.5 * float(first)


def test_adaptive_sleep_stops_early_and_records_steps_saved(image3):
    ccfg = ConsolidateConfig(patience=1, window=10, min_improvement=0.5)
    student, teachers, memories, s = _two_teachers(image3, ccfg)
    cfg = TrainConfig(batch_size=32, sleep_steps=200)
    log = consolidating_sleep(student, teachers, memories, cfg, ccfg, s.rng, s.host_rng)
    assert log.steps < cfg.sleep_steps and log.steps % ccfg.window == 0
    assert log.steps_saved == cfg.sleep_steps - log.steps and len(log.loss) == log.steps
    fixed = consolidating_sleep(copy.deepcopy(student), teachers, memories, cfg, ConsolidateConfig(), s.rng,
                                s.host_rng)
    assert fixed.steps == cfg.sleep_steps and fixed.steps_saved == 0
    r = run(image3, "mygo", "consolidate-adaptive", SMALL, progress=False)
    budget = r.traces["sleep_budget"]
    assert all(b["steps"] + b["steps_saved"] == b["budget"] == SMALL.train.sleep_steps for b in budget)
    assert [len(x) for x in r.traces["sleep_loss"]] == [b["steps"] for b in budget]


def test_feature_distillation_adds_the_feature_term(image3):
    ccfg = ConsolidateConfig(feature_weight=2.0)
    student, teachers, memories, s = _two_teachers(image3, ccfg)
    cfg = TrainConfig(batch_size=32, sleep_steps=1)
    memories = memories[:1]  # task 1's dreams: the pre-wake teacher, whose features differ from the student's
    rng_state, host_state = s.rng.get_state(), s.host_rng.get_state()
    # recompute step 0 by hand: the same memory choice and the same dreams
    choice = int(torch.randint(len(memories), (1,), generator=s.host_rng)[0])
    mem = memories[choice]
    dreams, _ = mem.dream(cfg.batch_size, s.rng)
    teacher = teachers[mem.task]
    with torch.no_grad():
        fs, ft = student.trunk(dreams), teacher.trunk(dreams)
        logit_mse = F.mse_loss(student.heads[mem.task](fs), teacher.heads[mem.task](ft))
        feat_mse = F.mse_loss(fs, ft)
    assert feat_mse > 0
    s.rng.set_state(rng_state)
    s.host_rng.set_state(host_state)
    log = consolidating_sleep(copy.deepcopy(student), teachers, memories, cfg, ccfg, s.rng, s.host_rng)
    assert log.loss[0] == pytest.approx(float(logit_mse + 2.0 * feat_mse), rel=1e-5)
    s.rng.set_state(rng_state)
    s.host_rng.set_state(host_state)
    plain = consolidating_sleep(copy.deepcopy(student), teachers, memories, cfg, ConsolidateConfig(), s.rng,
                                s.host_rng)
    assert plain.loss[0] == pytest.approx(float(logit_mse), rel=1e-5)


def test_real_mixing_feeds_real_inputs_through_the_embedding(text2):
    """Dreams enter after the EmbeddingBag, so only real current-task inputs can move it during the sleep."""
    moved = {}
    for frac in (0.0, 0.25):
        ccfg = ConsolidateConfig(real_fraction=frac)
        student, teachers, memories, s = _two_teachers(text2, ccfg)
        before = student.embed.bag.weight.detach().clone()
        consolidating_sleep(student, teachers, memories, TrainConfig(batch_size=32, sleep_steps=10), ccfg, s.rng,
                            s.host_rng, real=text2.tasks[1].train)
        moved[frac] = float((student.embed.bag.weight.detach() - before).abs().max())
    assert moved[0.0] == 0.0 and moved[0.25] > 0


def test_same_seed_same_run_on_cpu(image3):
    a = run(image3, "mygo", "consolidate-real", SMALL, seed=5, progress=False)
    b = run(image3, "mygo", "consolidate-real", SMALL, seed=5, progress=False)
    assert a.accuracy_matrix == b.accuracy_matrix and a.traces == b.traces
    c = run(image3, "mygo", "consolidate-real", SMALL, seed=6, progress=False)
    assert c.traces["sleep_loss"] != a.traces["sleep_loss"]


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("variant", ["consolidate", "consolidate-vae"])
def test_checkpoint_resume_equals_uninterrupted_run(image3, variant, tmp_path, monkeypatch):
    ref = run(image3, "mygo", variant, SMALL, seed=3, progress=False)
    save = ckpt_mod.Checkpointer.save

    def crashing_save(self, learner, out):  # type: ignore[no-untyped-def]
        path = save(self, learner, out)
        if len(out.stages) == 2:
            raise _Interrupt
        return path

    with monkeypatch.context() as m:
        m.setattr(ckpt_mod.Checkpointer, "save", crashing_save)
        with pytest.raises(_Interrupt):
            run(image3, "mygo", variant, SMALL, seed=3, progress=False, checkpoint_dir=tmp_path / "ck")
    resumed = run(image3, "mygo", variant, SMALL, seed=3, progress=False, checkpoint_dir=tmp_path / "ck",
                  resume=True)
    assert resumed.accuracy_matrix == ref.accuracy_matrix
    assert resumed.traces == ref.traces and resumed.storage == ref.storage


def test_storage_bytes_match_parameter_counts(image3, text2):
    r = run(image3, "mygo", "consolidate", SMALL, progress=False)
    learner = Consolidate(image3, _ctx(image3), CONFIGS["consolidate"])
    learner.learn(image3.tasks[0])
    g = learner.memories[0].generator
    per_task = r.storage["per_task"]
    assert [p["task"] for p in per_task] == [0, 1, 2]
    for p, t in zip(per_task, image3.tasks, strict=True):
        assert p["generator_bytes"] == 4 * param_count(g) > 0  # float32 generators of one size
        assert p["raw_data_bytes"] == 784 * len(t.train) > 0  # uint8 pixels
        assert p["replay_buffer_bytes"] is None
    ft = run(image3, "finetune-multihead", None, SMALL, progress=False)
    assert [p["generator_bytes"] for p in ft.storage["per_task"]] == [0, 0, 0]
    assert [p["raw_data_bytes"] for p in ft.storage["per_task"]] == [p["raw_data_bytes"] for p in per_task]
    tr = run(text2, "mygo", "reference", SMALL, progress=False)
    bags = text2.tasks[0].train.x
    assert tr.storage["per_task"][0]["raw_data_bytes"] == 4 * (bags.tokens.numel() + len(bags))
    assert isinstance(learner.memories[0], GenerativeMemory)


def test_records_without_storage_still_load(image3):
    d = run(image3, "finetune", None, SMALL, progress=False).to_dict()
    del d["storage"]  # a record written before the field existed
    assert RunResult.from_dict(d).storage == {}
    for path in sorted((ROOT / "results" / "engine").glob("*.json"))[:3]:
        if "storage" not in json.loads(path.read_text(encoding="utf-8")):
            assert RunResult.load(path).storage == {}


def test_records_from_before_a_profile_field_still_match(image3, tmp_path):
    """A record written before a TrainConfig or Profile field existed ran with that field's default; it must
    still load with that value, and be found for the same run (notebooks reuse saved records)."""
    r = run(image3, "finetune", None, SMALL, progress=False)
    d = r.to_dict()
    for key in ("iters_per_task", "net", "vae_depth"):
        del d["config"]["train"][key]
    del d["config"]["task_split"]
    (tmp_path / "old.json").write_text(json.dumps(d), encoding="utf-8")
    assert RunResult.load(tmp_path / "old.json").config == SMALL.to_dict()
    found = find_record(tmp_path, image3, "finetune", None, SMALL, 0, "test")
    assert found is not None and found.average_accuracy == r.average_accuracy
    other = Profile("small", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=30, vae_depth=2))
    assert find_record(tmp_path, image3, "finetune", None, other, 0, "test") is None


def test_prewake_student_sleeps_from_the_first_task(image3):
    """``student_init="pre-wake"``: the student is the pre-wake net plus a fresh head, so even task 1 sleeps."""
    r = run(image3, "mygo", "consolidate-prewake", SMALL, progress=False)
    assert [b["steps"] for b in r.traces["sleep_budget"]] == [SMALL.train.sleep_steps] * 3
    assert set(r.traces["sleep_dream_task"][0]) == {0} and r.traces["sleep_loss"][0][0] > 0


def test_a_config_overrides_the_named_variant(image3, tmp_path):
    """``run(..., config=)`` runs ``mygo/consolidate`` with any ConsolidateConfig (benchmarks/class_il_probes.py):
    given the named config of ``consolidate-vae`` it is the same computation; the record says which config ran;
    a checkpoint made with another config is not resumed."""
    named = run(image3, "mygo", "consolidate-vae", SMALL, progress=False, scenario="class")
    probe = run(image3, "mygo", "consolidate", SMALL, progress=False, scenario="class",
                config=CONFIGS["consolidate-vae"], checkpoint_dir=tmp_path)
    assert probe.accuracy_matrix == named.accuracy_matrix
    assert probe.traces["method_config"] == named.traces["method_config"] == {**CONFIGS["consolidate-vae"].to_dict()}
    with pytest.raises(ckpt_mod.CheckpointError, match="from a different run"):
        run(image3, "mygo", "consolidate", SMALL, progress=False, scenario="class",
            config=ConsolidateConfig(memory="vae", real_fraction=0.25), checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="a ConsolidateConfig does not configure ewc; it takes a EWCConfig"):
        run(image3, "ewc", None, SMALL, progress=False, config=ConsolidateConfig())
    assert check_method("ewc", None, "class", EWCConfig(lam=1.0)).learner is EWC  # any method takes its own config
    with pytest.raises(ConfigError, match="does not configure mygo/reference; it takes a MyGOConfig"):
        run(image3, "mygo", "reference", SMALL, progress=False, config=ConsolidateConfig())
