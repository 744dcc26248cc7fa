import pytest
import torch

from mygo_nb.config import TrainConfig
from mygo_nb.core.memories import (
    GAN_RECIPES,
    MEMORY_KINDS,
    GANRecipe,
    GenerativeMemory,
    VAEMemory,
    balanced_labels,
    gan_step,
    make_gan,
    make_vae,
    memory_trainer,
)
from mygo_nb.core.net import adam, extractor_parameters, make_net, param_count
from mygo_nb.core.store import load_memory, load_net, save_memory, save_net
from mygo_nb.errors import ConfigError


def test_image_net_shapes_and_sizes():
    net = make_net("image")
    net.add_head()
    net.add_head()
    x = torch.randn(5, 1, 28, 28)
    assert net.features(x).shape == (5, 256)
    assert net(x, 1).shape == (5, 2)
    # Conv(1->16,3): 160, Conv(16->32,3): 4640, Linear(1568->256): 401664
    assert sum(p.numel() for p in extractor_parameters(net)) == 160 + 4640 + 401_664
    assert param_count(net.heads[0]) == 514
    assert torch.equal(net.dream_forward(x, 0), net(x, 0))  # images: dreams enter where inputs do


def test_text_net_shapes_and_sizes():
    net = make_net("text", vocab_size=101)
    net.add_head(3)
    tokens = torch.tensor([1, 2, 3, 4, 5, 100])
    offsets = torch.tensor([0, 2, 2])  # the middle document is empty
    assert net((tokens, offsets), 0).shape == (3, 3)
    assert net.embed((tokens, offsets)).shape == (3, 128)
    assert sum(p.numel() for p in extractor_parameters(net)) == 101 * 128 + 128 * 256 + 256


def test_generator_shapes_and_balance():
    g, _ = make_gan((1, 28, 28), 2, 64)
    mem = GenerativeMemory(0, g)
    x, y = mem.dream(10)
    assert x.shape == (10, 1, 28, 28) and x.abs().max() <= 1
    assert torch.equal(y, balanced_labels(10, 2)) and int(y.sum()) == 5
    g2, _ = make_gan((128,), 2, 64)
    assert GenerativeMemory(0, g2).dream(4)[0].shape == (4, 128)


def test_gan_step_trains_both_players():
    torch.manual_seed(0)
    g, d = make_gan((128,), 2, 16)
    before_g = [p.clone() for p in g.parameters()]
    before_d = [p.clone() for p in d.parameters()]
    real = torch.randn(32, 128)
    labels = torch.randint(0, 2, (32,))
    opt_g, opt_d = adam(g.parameters(), 1e-3), adam(d.parameters(), 1e-3)
    gan_step(g, d, opt_g, opt_d, real, labels, torch.Generator().manual_seed(0))
    assert all(not torch.equal(a, b) for a, b in zip(before_g, g.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, d.parameters(), strict=True))
    assert all(p.requires_grad for p in d.parameters())  # D is re-enabled after the G step


def test_safetensors_round_trip(tmp_path):
    net = make_net("text", vocab_size=50)
    net.add_head()
    net.add_head(3)
    path = save_net(net, tmp_path / "net.safetensors")
    back = load_net(path)
    batch = (torch.tensor([1, 2, 49]), torch.tensor([0, 1]))
    assert torch.equal(back(batch, 1), net(batch, 1))
    g, _ = make_gan((1, 28, 28), 2, 64)
    mem = load_memory(save_memory(GenerativeMemory(3, g), tmp_path / "g.safetensors"))
    z, c = torch.randn(4, 64), torch.tensor([0, 1, 1, 0])
    assert mem.task == 3 and torch.equal(mem.generator(z, c), g(z, c))
    # a VAE's memory comes back as a VAE's memory, with the same decoder
    vae = make_vae((128,), 3, 8, 16)
    back = load_memory(save_memory(VAEMemory(1, vae.decoder), tmp_path / "v.safetensors"))
    z, c = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    assert isinstance(back, VAEMemory) and back.kind == "vae" and back.task == 1 and back.n_classes == 3
    assert torch.equal(back.generator(z, c), vae.decoder(z, c))


def test_gan_recipes_train_and_store_as_plain_generators(tmp_path):
    cfg = TrainConfig(batch_size=16)
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    y = torch.arange(32) % 2
    assert set(GAN_RECIPES) <= set(MEMORY_KINDS)
    for kind, recipe in GAN_RECIPES.items():
        torch.manual_seed(0)
        trainer = memory_trainer(kind, (1, 28, 28), 2, cfg, "cpu")
        sn = any("parametrizations" in name for name, _ in trainer.d.named_modules())
        assert sn == recipe.spectral_norm, kind
        assert trainer.opt_g.param_groups[0]["betas"][0] == recipe.beta1
        before = [p.detach().clone() for p in trainer.g.parameters()]
        rng = torch.Generator().manual_seed(1)
        d_loss, g_loss = trainer.step(x, y, rng)
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
        assert any(not torch.equal(a, b) for a, b in zip(before, trainer.g.parameters(), strict=True))
        memory = trainer.memory(0)
        path = save_memory(memory, tmp_path / f"{kind}.safetensors")
        loaded = load_memory(path)
        assert type(loaded) is GenerativeMemory
        a, _ = memory.dream(8, torch.Generator().manual_seed(2))
        b, _ = loaded.dream(8, torch.Generator().manual_seed(2))
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="GAN loss"):
        GANRecipe(loss="wasserstein")
