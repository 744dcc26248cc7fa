"""The ``vandeven`` profile: van de Ven, Tuytelaars & Tolias (2022)'s Split-MNIST protocol for the baselines."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mygo_nb.config import PROFILES, Profile, TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.loops import epoch_loop
from mygo_nb.core.memories import (
    VAE_NOISE,
    Generator,
    VAEMemory,
    make_vae,
    memory_from_meta,
    memory_meta,
    memory_nbytes,
    vae_step,
)
from mygo_nb.core.net import make_net
from mygo_nb.core.store import load_net, save_net
from mygo_nb.data import MNIST_TASKS, load_benchmark, vandeven_split
from mygo_nb.errors import ConfigError
from mygo_nb.learners import check_method, make_learner, variants
from mygo_nb.learners.ewc import EWC, EWCConfig
from mygo_nb.learners.replay import ExperienceReplay
from mygo_nb.learners.sequential import train_supervised
from mygo_nb.reproduce.spec import expand_spec, load_spec
from mygo_nb.running.experiment import load_for_profile, profile_split, run
from mygo_nb.running.records import RunResult

VDV = PROFILES["vandeven"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 12345])
def test_the_split_relabels_digits_by_numpys_seeded_permutation(seed):
    split = vandeven_split(seed)
    assert sorted(d for task in split for d in task) == list(range(10))
    # the public code: np.random.seed(seed); p = np.random.permutation(10); digit d gets label p[d];
    # context k holds labels 2k and 2k+1
    np.random.seed(seed)
    p = np.random.permutation(list(range(10)))
    for k, task in enumerate(split):
        assert [int(p[d]) for d in task] == [2 * k, 2 * k + 1]


def test_seed_zero_keeps_the_digits_in_order_and_other_seeds_differ():
    assert vandeven_split(0) == MNIST_TASKS
    assert len({vandeven_split(s) for s in range(1, 6)}) == 5


def test_the_profile_is_the_published_protocol():
    cfg = VDV.train
    assert (cfg.batch_size, cfg.iters_per_task, cfg.lr_fast) == (128, 2000, 1e-3)
    net = make_net("image", arch=cfg.net)
    net.add_head(10)
    linear = [m for m in net.trunk if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 400), (400, 400)]
    assert net.feature_dim == 400 and net.heads[0].in_features == 400
    assert net(torch.zeros(3, 1, 28, 28), 0).shape == (3, 10)
    # their net reads pixels in [0, 1]; the package's images are in [-1, 1]
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    first = linear[0]
    assert torch.allclose(net.trunk[:3](x), first(((x + 1) / 2).flatten(1)))
    # their VAE: 784-400-400 encoder to z = 100 (mean and log-variance), 100-400-400-784 decoder
    theirs = (784 * 400 + 400) + (400 * 400 + 400) + (400 * 200 + 200)
    theirs += (100 * 400 + 400) + (400 * 400 + 400) + (400 * 784 + 784)
    vae = make_vae((1, 28, 28), 1, cfg.z_dim, cfg.gan_hidden, "cpu", cfg.vae_depth)
    ours = sum(p.numel() for p in vae.parameters())
    assert theirs < ours <= theirs + 1_000  # ours: a 1-class label embedding in both halves


def test_the_profile_rejects_what_it_has_no_split_for():
    with pytest.raises(ConfigError, match="Split-MNIST"):
        profile_split(VDV, "split-agnews", 0)
    with pytest.raises(ValueError, match="for images"):
        make_net("text", 50, "mlp400")
    with pytest.raises(ConfigError, match="net"):
        TrainConfig(net="resnet")
    with pytest.raises(ConfigError, match="task_split"):
        Profile("x", task_split="random")
    assert profile_split(PROFILES["paper"], "split-mnist", 3) is None


def test_epoch_loop_runs_exactly_n_steps_reshuffling_each_pass():
    seen: list[torch.Tensor] = []

    def step(idx):
        seen.append(idx.clone())
        return torch.ones(1)

    rng = torch.Generator().manual_seed(0)
    means = epoch_loop(10, 99, 4, rng, step, n_steps=7)  # passes of 3 batches: 3 + 3 + 1
    assert len(seen) == 7 and len(means) == 3
    for first in (0, 3):
        assert sorted(torch.cat(seen[first:first + 3]).tolist()) == list(range(10))
    assert not torch.equal(torch.cat(seen[:3]), torch.cat(seen[3:6]))  # a fresh shuffle
    # without n_steps: `epochs` whole passes, the same batches as before n_steps existed
    seen.clear()
    epoch_loop(10, 2, 4, torch.Generator().manual_seed(0), step)
    rng = torch.Generator().manual_seed(0)
    perms = [torch.randperm(10, generator=rng) for _ in range(2)]
    assert [s.tolist() for s in seen] == [p[i:i + 4].tolist() for p in perms for i in (0, 4, 8)]


def test_train_supervised_counts_the_samples_of_its_iteration_budget(tiny_bench):
    task = tiny_bench.tasks[0]  # 96 training images: 3 batches of 32 a pass
    cfg = TrainConfig(batch_size=32, iters_per_task=5)
    ctx = RunContext(cfg, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1), False, 2, "task")
    net = make_net("image", arch="mlp400")
    head = net.add_head(2)
    calls = []

    def loss_fn(idx, xb, feats):
        calls.append(len(idx))
        return torch.nn.functional.cross_entropy(head(feats), task.train.y[idx])

    log = train_supervised(net, torch.optim.Adam(net.parameters()), task.train.x, task.train.y, loss_fn, ctx, "t")
    assert calls == [32] * 5 and log["samples"] == 160 and len(log["loss"]) == 2


def test_generator_depth_keeps_the_one_layer_weights_and_is_saved(tmp_path):
    g1 = Generator(8, 2, (1, 4, 4), 16)
    assert list(g1.state_dict()) == ["embed.weight", "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    g2 = Generator(8, 2, (1, 4, 4), 16, depth=2)
    assert sum(isinstance(m, torch.nn.Linear) for m in g2.net) == 3
    assert memory_nbytes((1, 4, 4), 2, 8, 16, depth=2) == 4 * sum(p.numel() for p in g2.parameters())
    mem = VAEMemory(0, g2)
    meta = memory_meta(mem)
    assert meta["depth"] == 2
    back = memory_from_meta(meta, g2.state_dict())
    z, c = torch.randn(3, 8), torch.tensor([0, 1, 1])
    assert torch.equal(back.generator(z, c), g2(z, c))


def test_an_mlp400_net_is_saved_and_loaded(tmp_path):
    net = make_net("image", arch="mlp400")
    net.add_head(2)
    back = load_net(save_net(net, tmp_path / "net.safetensors"))
    x = torch.randn(2, 1, 28, 28)
    assert back.feature_dim == 400 and torch.equal(back(x, 0), net(x, 0))


def test_the_vandeven_variants_and_the_plain_methods():
    assert variants("replay") == ("vandeven",) and variants("ewc") == ("vandeven", "vandeven-task")
    assert check_method("replay").config.bytes_per_task is None  # the plain method stays storage-fair
    assert check_method("replay", "vandeven").config.bytes_per_task == 2 * 100 * 784
    assert check_method("ewc", "vandeven").config.lam == 1e9 and check_method("ewc").config.lam == 1e4
    # the plain method weighs every label (exact expectation); the class-incremental variant keeps the sampled
    # estimator its five-seed peer rows were measured with
    assert check_method("ewc").config.fisher_labels == "all"
    assert check_method("ewc", "vandeven").config.fisher_labels == "sample"
    vdv_task = check_method("ewc", "vandeven-task", "task").config  # their task-incremental default and estimator
    assert vdv_task.lam == 1e5 and vdv_task.offline and vdv_task.fisher_labels == "all"
    assert vdv_task.fisher_samples is None
    with pytest.raises(ConfigError, match="variant"):
        check_method("replay", "nope")


def test_replay_vandeven_keeps_100_images_per_class(tiny_bench):
    # the tiny benchmark has 48 images a class: a budget of 100 a class keeps all of them, 20 a class keeps 20
    prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=3), task_split="default")
    ctx = RunContext(prof.train, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1), False, 2,
                     "class")
    learner = make_learner("replay", tiny_bench, ctx, "vandeven")
    assert isinstance(learner, ExperienceReplay)
    learner.learn(tiny_bench.tasks[0])
    _, _, y = learner.buffer[0]
    assert torch.bincount(y).tolist() == [48, 48]
    small = dataclasses.replace(learner.config, bytes_per_task=2 * 20 * 784)
    learner = make_learner("replay", tiny_bench, ctx, config=small)
    learner.learn(tiny_bench.tasks[0])
    assert torch.bincount(learner.buffer[0][2]).tolist() == [20, 20]


@pytest.mark.parametrize("method,variant", [("joint", None), ("finetune", None), ("ewc", "vandeven"),
                                            ("lwf", None), ("replay", "vandeven"), ("dgr", None)])
def test_every_preset_method_runs_under_the_profile(tiny_bench, method, variant):
    prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=30), task_split="default")
    r = run(tiny_bench, method, variant, prof, seed=0, scenario="class", progress=False)
    assert r.config["train"]["net"] == "mlp400" and r.config["train"]["iters_per_task"] == 30
    assert r.average_accuracy > 45.0  # above chance (25 %) on four learnable classes


def test_a_run_refuses_a_benchmark_cut_otherwise_than_its_profile_says(tiny_bench, data_root):
    with pytest.raises(ConfigError, match="no task split for tiny"):
        run(tiny_bench, "finetune", None, VDV, seed=1, scenario="class", progress=False)
    default = load_benchmark("split-mnist", data_root, max_train_per_class=5)
    with pytest.raises(ConfigError, match="load_for_profile"):
        run(default, "finetune", None, VDV, seed=1, scenario="class", progress=False)
    bench = load_for_profile("split-mnist", data_root, dataclasses.replace(VDV, max_train_per_class=5), 2)
    assert tuple(t.classes for t in bench.tasks) == vandeven_split(2)
    assert bench.tasks[0].class_names == tuple(str(d) for d in vandeven_split(2)[0])


def test_vae_step_averages_each_samples_terms_with_its_weight():
    vae = make_vae((1, 4, 4), 1, 3, 8)
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    c = torch.zeros(4, dtype=torch.long)
    w = torch.tensor([1.0, 1.0, 3.0, 3.0])
    with torch.no_grad():
        recon, mu, logvar = vae(x, c, torch.Generator().manual_seed(1))
    noise_var = VAE_NOISE * x.flatten(1).var(0, unbiased=False).mean()
    rec = (recon - x).flatten(1).pow(2).sum(1) / (2 * noise_var)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    frozen = torch.optim.SGD(vae.parameters(), lr=0.0)
    got = vae_step(vae, frozen, x, c, torch.Generator().manual_seed(1), w)
    assert torch.allclose(got[0], (w * rec).sum() / w.sum()) and torch.allclose(got[1], (w * kl).sum() / w.sum())
    plain = vae_step(vae, frozen, x, c, torch.Generator().manual_seed(1))
    assert torch.allclose(plain[0], rec.mean()) and not torch.allclose(plain[0], got[0])


def test_the_vandeven_preset_runs_every_baseline_five_seeds_under_the_profile(tmp_path):
    runs = expand_spec(load_spec("vandeven")[0], data_roots={None: str(tmp_path)})
    assert len(runs) == 35 and {r.profile for r in runs} == {"vandeven"} and {r.scenario for r in runs} == {"class"}
    task = expand_spec(load_spec("vandeven-task")[0], data_roots={None: str(tmp_path)})
    assert len(task) == 35 and {r.scenario for r in task} == {"task"} and {r.profile for r in task} == {"vandeven"}
    assert {(r.method, r.variant) for r in task} == {("joint", None), ("finetune-multihead", None), ("lwf", None),
                                                     ("ewc", "vandeven-task"), ("replay", "vandeven"), ("dgr", None),
                                                     ("agem", "vandeven")}
    assert {(r.method, r.variant) for r in runs} == {("joint", None), ("finetune", None), ("ewc", "vandeven"),
                                                    ("lwf", None), ("replay", "vandeven"), ("dgr", None),
                                                    ("agem", "vandeven")}
    assert {r.seed for r in runs} == set(range(5)) and {r.eval_on for r in runs} == {"test"}
    # A-GEM keeps one Adam for the stream, as their code does (the class preset's other methods do not)
    agem = [r for r in runs + task if r.method == "agem"]
    assert all(dict(r.train_options).get("stream_optimizer") is True or r.scenario == "task" for r in agem)


def test_vae_step_with_a_bernoulli_decoder_scores_pixels_as_probabilities_of_ink():
    vae = make_vae((1, 4, 4), 1, 3, 8)
    x = (torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 2 - 1  # {-1, 1}
    c = torch.zeros(5, dtype=torch.long)
    with torch.no_grad():
        recon, _, _ = vae(x, c, torch.Generator().manual_seed(1))
    p, target = (recon.flatten(1) + 1) / 2, (x.flatten(1) + 1) / 2
    nll = -(target * p.log() + (1 - target) * (1 - p).log()).sum(1).mean()
    frozen = torch.optim.SGD(vae.parameters(), lr=0.0)
    rec, _ = vae_step(vae, frozen, x, c, torch.Generator().manual_seed(1), bernoulli=True)
    assert torch.allclose(rec, nll, rtol=1e-5)
    trained = torch.optim.Adam(vae.parameters(), lr=1e-2)
    losses = [vae_step(vae, trained, x, c, torch.Generator().manual_seed(s), bernoulli=True)[0] for s in range(60)]
    assert losses[-1] < 0.75 * losses[0]  # it learns to reconstruct


@pytest.mark.slow
def test_peer_table_sets_our_records_beside_the_public_codes_logs(tiny_bench, tmp_path):
    ours, peer = tmp_path / "ours", tmp_path / "peer"
    ours.mkdir(), peer.mkdir()
    prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=20), task_split="default")
    for seed in (0, 1):
        r = run(tiny_bench, "finetune", None, prof, seed=seed, scenario="class", progress=False)
        r.save(ours / f"finetune_seed{seed}.json")
    mine = {s: RunResult.load(ours / f"finetune_seed{s}.json").average_accuracy for s in (0, 1)}
    # what their main.py prints at the end, as benchmarks/peer_vandeven.sh keeps it
    (peer / "class_none_seed0.txt").write_text(
        "# GMvandeVen/continual-learning @ abc\n - Context 1: 0.0000\n"
        "=> average accuracy over all 5 contexts: 0.1975\n", encoding="utf-8")
    (peer / "class_none_seed1.txt.part").write_text("unfinished", encoding="utf-8")
    p = subprocess.run([sys.executable, "benchmarks/peer_table.py", "--ours", str(ours), "--peer", str(peer),
                        "--out", str(tmp_path / "t.md")], capture_output=True, text=True, cwd=ROOT, check=True)
    text = (tmp_path / "t.md").read_text(encoding="utf-8")
    assert text.strip() == p.stdout.strip()  # printed and written alike
    row = next(line for line in text.splitlines() if line.startswith("| finetune | "))
    mean = (mine[0] + mine[1]) / 2
    assert f"{mean:.2f} ± " in row and "19.75 (n=1)" in row and f"{mine[0] - 19.75:.2f} (n=1)" in row
    seeds = next(line for line in text.splitlines() if line.startswith("| finetune / none |"))
    assert f"{mine[0]:.2f} / 19.75" in seeds and f"{mine[1]:.2f} / —" in seeds


@pytest.mark.slow
def test_peer_table_in_the_task_scenario_pairs_a_head_per_task_with_their_masked_none(tiny_bench, tmp_path):
    ours, peer = tmp_path / "ours", tmp_path / "peer"
    ours.mkdir(), peer.mkdir()
    prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=20), task_split="default")
    run(tiny_bench, "finetune-multihead", None, prof, seed=0, scenario="task", progress=False).save(ours / "r.json")
    run(tiny_bench, "finetune", None, prof, seed=0, scenario="class", progress=False).save(ours / "c.json")
    mine = RunResult.load(ours / "r.json").average_accuracy
    (peer / "task_none_seed0.txt").write_text("=> average accuracy over all 5 contexts: 0.9512\n", encoding="utf-8")
    (peer / "class_none_seed0.txt").write_text("=> average accuracy over all 5 contexts: 0.1975\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "benchmarks/peer_table.py", "--scenario", "task", "--ours", str(ours),
                        "--peer", str(peer)], capture_output=True, text=True, cwd=ROOT, check=True)
    row = next(line for line in p.stdout.splitlines() if line.startswith("| finetune-multihead | "))
    assert f"{mine:.2f} (n=1)" in row and "95.12 (n=1)" in row and f"{mine - 95.12:.2f} (n=1)" in row
    assert "19.75" not in p.stdout and "reproduce vandeven-task" in p.stdout  # the class logs and runs stay out
    assert not any(line.startswith("| finetune | ") for line in p.stdout.splitlines())
    bad = subprocess.run([sys.executable, "benchmarks/peer_table.py", "--scenario", "domain", "--ours", str(ours),
                          "--peer", str(peer)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_stream_optimizer_keeps_one_adam_that_each_new_head_joins(tiny_bench):
    for stream in (False, True):
        prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=3,
                                                                  stream_optimizer=stream), task_split="default")
        ctx = RunContext(prof.train, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1), False, 2,
                         "task")
        learner = make_learner("finetune-multihead", tiny_bench, ctx)
        opts = []
        for task in tiny_bench.tasks:
            learner.scenario.ensure_heads(learner.net, task.index)
            opts.append(learner.optimizer_for(task))
        held = [{id(p) for g in o.param_groups for p in g["params"]} for o in opts]
        heads = [{id(p) for p in h.parameters()} for h in learner.net.heads]
        if stream:
            assert opts[0] is opts[1] and len(opts[1].param_groups) == 2 and heads[0] | heads[1] <= held[1]
        else:
            assert opts[0] is not opts[1] and heads[0] <= held[0] and not heads[0] & held[1]
    with pytest.raises(ConfigError, match="stream_optimizer"):
        dataclasses.replace(VDV.train, stream_optimizer="yes")


def _ewc(tiny_bench, config: EWCConfig) -> EWC:
    prof = dataclasses.replace(VDV, train=dataclasses.replace(VDV.train, iters_per_task=5), task_split="default")
    ctx = RunContext(prof.train, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1), False, 2,
                     "task")
    learner = make_learner("ewc", tiny_bench, ctx, config=config)
    assert isinstance(learner, EWC)
    return learner


def test_ewc_expected_fisher_weighs_every_label_by_its_probability(tiny_bench):
    learner = _ewc(tiny_bench, EWCConfig(fisher_samples=None, fisher_labels="all"))
    task = tiny_bench.tasks[0]
    learner.scenario.ensure_heads(learner.net, 0)
    got = learner.task_fisher(task)
    net, want = learner.net, {k: torch.zeros_like(p) for k, p in learner.net.named_parameters()}
    net.eval()
    for i in range(len(task.train)):  # by hand: sum over labels of p(c) * grad(log p(c))^2, averaged
        x = task.train.x[i: i + 1]
        for c in range(2):
            net.zero_grad()
            logp = torch.log_softmax(net(x, 0), 1)[0]
            logp[c].backward()
            for k, p in net.named_parameters():
                if p.grad is not None:
                    want[k] += logp[c].exp().detach() * p.grad.pow(2) / len(task.train)
    assert all(torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-9) for k in want)
    assert float(sum(f.sum() for f in got.values())) > 0


def test_offline_ewc_keeps_one_penalty_per_task_around_its_own_weights(tiny_bench):
    learner = _ewc(tiny_bench, EWCConfig(lam=10.0, fisher_samples=20, offline=True))
    ends = []
    for task in tiny_bench.tasks:
        learner.learn(task)
        ends.append({k: p.detach().clone() for k, p in learner.net.named_parameters()})
    assert len(learner.penalties) == 2 and not learner.fisher
    for (_, anchor), end in zip(learner.penalties, ends, strict=True):
        assert all(torch.equal(anchor[k], end[k]) for k in anchor)
    params = dict(learner.net.named_parameters())
    want = 5.0 * sum((fi[k] * (params[k] - an[k]).pow(2)).sum() for fi, an in learner.penalties for k in fi)
    feats = learner.net.features(tiny_bench.tasks[1].train.x[:2])
    assert torch.allclose(learner.extra_loss(tiny_bench.tasks[1], None, feats), want)
    # the first penalty is around task 1's weights, which the second task moved away from
    assert float(sum((params[k].detach() - a).abs().sum() for k, a in learner.penalties[0][1].items())) > 0
    with pytest.raises(ConfigError, match="fisher_labels"):
        EWCConfig(fisher_labels="true")
