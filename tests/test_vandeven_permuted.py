"""Van de Ven et al.'s permuted-MNIST protocol: MNIST padded to 32 x 32 (benchmark parameter ``pad``), their
permutations of its 1024 pixels, their 1024-1000-1000 net (``mlp1000``), the profile ``vandeven-permuted`` and
its preset (GMvandeVen/continual-learning at e6d795a)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mygo_nb.data.mnist as mnist_mod
from mygo_nb.config import NETS, PROFILES, Profile, TrainConfig, with_options
from mygo_nb.core.memories import make_vae
from mygo_nb.core.net import NET_ARCHS, make_mlp_net, make_net
from mygo_nb.core.store import _meta, load_net, save_net, write_safetensors
from mygo_nb.data import PixelPermutation, benchmark_entry, load_benchmark, permutations, take
from mygo_nb.errors import ConfigError, StoreError
from mygo_nb.learners.ewc import EWCConfig
from mygo_nb.reproduce.aggregate import stream_label
from mygo_nb.reproduce.spec import expand_spec, load_spec
from mygo_nb.running.experiment import run

from .conftest import TEST_DEVICE, _synthetic
from .test_reliability import _interrupted_then_resumed, _same_run

VDP = PROFILES["vandeven-permuted"]


def _linear_shapes(net: torch.nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in net.trunk if isinstance(m, torch.nn.Linear)]


@pytest.fixture
def fake_mnist(monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, torch.Tensor]:
    """`mnist_arrays` replaced by ten synthetic digits (8 training and 3 test images each, 28 x 28 in [-1, 1],
    their border pixels not background), so that the padded stream is built without the real files."""
    xtr, ytr = _synthetic(8, 10, 0)
    xte, yte = _synthetic(3, 10, 1)

    def arrays(root: Any = None, *, download: bool = True) -> tuple[Any, ...]:
        return xtr.clone(), ytr.clone(), xte.clone(), yte.clone(), {"source": "synthetic"}

    monkeypatch.setattr(mnist_mod, "mnist_arrays", arrays)
    return xtr, xte


def _padded_stream(tasks: int = 3, **params: Any):  # type: ignore[no-untyped-def]
    return load_benchmark("permuted-mnist", tasks=tasks, device=TEST_DEVICE, params={"seed": 0, **params})


# ------------------------------------------------------------------------------------------------ the images


def test_pad_gives_32_px_images_with_a_background_border_and_an_unpermuted_first_task(fake_mnist):
    xtr, xte = fake_mnist
    bench = _padded_stream(3, pad=2)
    assert bench.provenance["params"] == {"seed": 0, "first_unpermuted": True, "pad": 2}
    assert all(t.split(s).x.shape[1:] == (1, 32, 32) for t in bench.tasks for s in ("train", "test"))
    assert len({id(t.split(s).x.base) for t in bench.tasks for s in ("train", "test")}) == 2  # padded once
    first = take(bench.tasks[0].train.x, torch.arange(len(xtr), device=bench.device)).cpu()
    assert torch.equal(first, F.pad(xtr, (2, 2, 2, 2), value=-1.0))  # the first task: padded MNIST itself
    inner = torch.zeros(32, 32, dtype=torch.bool)
    inner[2:30, 2:30] = True
    assert bool((first[:, 0, ~inner] == -1).all()) and not bool((xtr[:, 0, 0, :] == -1).all())
    # task k: the padded images through the k-th permutation of all 1024 pixels (border pixels move too)
    order = permutations(3, 0, 1024)[2]
    moved = take(bench.tasks[2].test.x, torch.arange(len(xte), device=bench.device)).cpu()
    assert torch.equal(moved, PixelPermutation(order, 0, 2)(F.pad(xte, (2, 2, 2, 2), value=-1.0)))
    assert bool((moved[:, 0, ~inner] > -1).any())


def test_pad_zero_keeps_28_px_and_records_no_pad_and_bad_pads_are_one_line_errors(fake_mnist):
    assert benchmark_entry("permuted-mnist").params["pad"] == 0
    bench = _padded_stream(2)
    assert bench.provenance["params"] == {"seed": 0, "first_unpermuted": True}  # as streams recorded before
    assert bench.tasks[1].train.x.shape[1:] == (1, 28, 28)
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="pad"):
            _padded_stream(2, pad=bad)


def test_permutations_of_1024_pixels_are_their_codes_draws():
    rows = permutations(10, 0, 32 * 32)
    assert rows.shape == (10, 1024) and torch.equal(rows[0], torch.arange(1024))
    assert all(torch.equal(torch.sort(r).values, torch.arange(1024)) for r in rows)
    # their data/load.py L99-L107 for seed 0 (main.py seeds numpy's global generator): the first context
    # unpermuted, then numpy's draws of permutations of size**2 = 1024 pixels
    np.random.seed(0)
    theirs = [np.random.permutation(32 ** 2) for _ in range(9)]
    assert all(np.array_equal(rows[k + 1].numpy(), theirs[k]) for k in range(9))


def test_the_padded_first_task_is_padded_mnist(data_root: Path):
    plain = load_benchmark("permuted-mnist", data_root, tasks=2, params={"seed": 0})
    padded = load_benchmark("permuted-mnist", data_root, tasks=2, params={"seed": 0, "pad": 2})
    idx = torch.arange(0, 60_000, 997)
    a, b = take(plain.tasks[0].train.x, idx), take(padded.tasks[0].train.x, idx)
    assert b.shape == (len(idx), 1, 32, 32) and torch.equal(b, F.pad(a, (2, 2, 2, 2), value=-1.0))
    assert padded.tasks[1].test.x.base.nbytes == 10_000 * 1024 * 4  # one padded float copy of the test images


# ------------------------------------------------------------------------------------------------ the net


def test_the_mlp1000_net_reads_28_and_32_px_inputs():
    assert "mlp1000" in NETS and NETS == NET_ARCHS
    for side in (28, 32):
        net = make_net("image", arch="mlp1000", image_shape=(1, side, side))
        net.add_head(10)
        assert _linear_shapes(net) == [(side * side, 1000), (1000, 1000)]
        assert net.feature_dim == 1000 and net.dream_shape == (1, side, side)
        assert net(torch.zeros(3, 1, side, side), 0).shape == (3, 10)
        # their net reads pixels in [0, 1]: the package's -1 background is their 0
        x = torch.rand(2, 1, side, side) * 2 - 1
        assert torch.allclose(net.trunk[:3](x), net.trunk[2](((x + 1) / 2).flatten(1)))
    assert _linear_shapes(make_net("image", arch="mlp1000")) == [(784, 1000), (1000, 1000)]  # no shape: MNIST's
    assert _linear_shapes(make_net("image", arch="mlp400", image_shape=(1, 32, 32))) == [(1024, 400), (400, 400)]
    assert _linear_shapes(make_mlp_net()) == [(784, 400), (400, 400)]  # chapter 13's net, unchanged
    with pytest.raises(ConfigError, match="1 x 28 x 28"):
        make_net("image", image_shape=(1, 32, 32))  # the paper's CNN
    with pytest.raises(ConfigError, match="for images"):
        make_net("text", 50, "mlp1000")


def test_an_mlp1000_net_on_32_px_is_saved_and_loaded(tmp_path: Path):
    net = make_net("image", arch="mlp1000", image_shape=(1, 32, 32))
    net.add_head(10)
    path = save_net(net, tmp_path / "net.safetensors")
    assert _meta(path)["arch"] == "mlp1000" and _meta(path)["image_shape"] == [1, 32, 32]
    back = load_net(path)
    x = torch.randn(4, 1, 32, 32)
    assert _linear_shapes(back) == [(1024, 1000), (1000, 1000)] and torch.equal(back(x, 0), net(x, 0))
    # a file written without an image shape (every net saved before padded streams) holds a 28 x 28 net
    small = make_net("image", arch="mlp400")
    small.add_head(2)
    meta = {"kind": "neocortex-net", "modality": "image", "vocab_size": None, "arch": "mlp400", "heads": [2]}
    old = write_safetensors(tmp_path / "old.safetensors", small.state_dict(), meta)
    assert load_net(old).dream_shape == (1, 28, 28)
    with pytest.raises(StoreError, match="300 hidden units"):
        save_net(make_mlp_net(300), tmp_path / "odd.safetensors")


def test_a_run_on_the_padded_stream_builds_the_32_px_net_and_resumes_bit_for_bit(fake_mnist, tmp_path, monkeypatch):
    bench = _padded_stream(3, pad=2)
    tiny = Profile("tiny-permuted", dataclasses.replace(VDP.train, iters_per_task=4, batch_size=16, z_dim=8,
                                                         gan_hidden=32))
    ewc = EWCConfig(lam=100.0, fisher_samples=5, fisher_labels="all", offline=True)
    for method, config in (("finetune", None), ("ewc", ewc), ("dgr", None)):
        ref = run(bench, method, None, tiny, seed=3, progress=False, scenario="domain", config=config)
        assert ref.config["train"]["net"] == "mlp1000" and ref.data["params"]["pad"] == 2
        resumed = _interrupted_then_resumed(bench, method, None, tmp_path / method, 2, monkeypatch, "domain",
                                            profile=tiny, config=config)
        _same_run(ref, resumed)
    with pytest.raises(ConfigError, match="1 x 28 x 28"):
        run(bench, "finetune", None, Profile("cnn", TrainConfig(iters_per_task=2)), progress=False)


# ------------------------------------------------------------------------------------------------ profile, preset


def test_the_profile_is_their_permuted_mnist_protocol():
    cfg = VDP.train
    assert (cfg.iters_per_task, cfg.lr_fast, cfg.batch_size, cfg.net) == (5000, 1e-4, 128, "mlp1000")
    assert cfg.stream_optimizer is True and VDP.task_split == "default" and VDP.max_train_per_class is None
    assert with_options(cfg, {"iters_per_task": "5000"}) == cfg  # a valid config: its checks ran and pass
    # their generator (g_fc_lay = fc_lay = 3, g_fc_uni = 1000, z = 100): 1024-1000-1000 to the mean and
    # log-variance of 100 latents, 100-1000-1000-1024 back
    theirs = (1024 * 1000 + 1000) + (1000 * 1000 + 1000) + (1000 * 200 + 200)
    theirs += (100 * 1000 + 1000) + (1000 * 1000 + 1000) + (1000 * 1024 + 1024)
    ours = sum(p.numel() for p in make_vae((1, 32, 32), 1, cfg.z_dim, cfg.gan_hidden, "cpu", cfg.vae_depth)
               .parameters())
    assert theirs < ours <= theirs + 2_500  # ours: a 1-class label embedding in both halves


def test_the_preset_runs_their_protocol_three_seeds(tmp_path: Path):
    runs = expand_spec(load_spec("vandeven-permuted")[0], data_roots={None: str(tmp_path)})
    assert len(runs) == 27 and {r.seed for r in runs} == {0, 1, 2}
    assert {(r.benchmark, r.tasks, r.scenario, r.profile, r.eval_on, r.benchmark_options) for r in runs} == {
        ("permuted-mnist", 10, "domain", "vandeven-permuted", "test", (("pad", 2),))}
    assert {(r.method, r.variant) for r in runs} == {
        ("joint", None), ("finetune", None), ("ewc", None), ("lwf", None), ("replay", None), ("agem", None),
        ("dgr", None), ("mygo", "internal"), ("mygo", "consolidate-vae")}
    options = {r.method: dict(r.options) for r in runs if r.options}
    assert options["ewc"] == {"lam": 100, "fisher_samples": None, "fisher_labels": "all", "offline": True}
    assert options["replay"] == options["agem"] == {"bytes_per_task": 10 * 10 * 32 * 32}  # 10 per class


def test_a_padded_runs_stream_is_labelled_by_its_pad(fake_mnist):
    bench = _padded_stream(2, pad=2)
    r = run(bench, "finetune", None, Profile("t", TrainConfig(iters_per_task=1, net="mlp400")), seed=0,
            progress=False)
    assert stream_label(r) == "permuted-mnist, 2 tasks, pad=2"
