"""Text for a pretrained transformer: the model's own token ids in a `TokenMatrix`, tokenised once and cached.

A pretrained encoder reads the ids of its own tokenizer, padded to a rectangle, with an attention mask.
`TokenMatrix` stores the ids (``N x L``) and one length per document; ``take(idx)`` gives the batch the
encoder consumes, ``(ids, mask)``, trimmed to the batch's longest document. `tokenize_texts` runs the
model's tokenizer once per set of texts and keeps the result in a safetensors file whose name is a sha256
of the model's files (`model_checksum`), the length limit and the texts: a second call reads the file
and never loads the tokenizer. Needs the ``mygo-nb[pretrained]`` extra (``transformers``, ``tokenizers``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import platformdirs
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, DataError, check_int
from .models import weight_files
from .types import TokenMatrix

try:
    import transformers
except ImportError:  # the optional extra is not installed: everything else in the package still works
    transformers = None

__all__ = ["MODEL_FILES", "TOKEN_CACHE_FORMAT", "TokenMatrix", "default_token_cache", "model_checksum",
           "require_pretrained", "tokenize_texts", "weight_files"]

#: The files of a model folder that decide its outputs (configuration, weights and tokenizer).
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
               "sentencepiece.bpe.model", "tokenizer.model")
#: Part of every cache key (a change of the file layout below gives new names, never a misread file).
TOKEN_CACHE_FORMAT = "mygo-nb-tokens-1"


def require_pretrained(what: str, available: bool = True) -> None:
    """Raise one `ConfigError` line naming the extra when ``transformers`` (or, with ``available`` False,
    another of its packages) is not installed."""
    if transformers is None or not available:
        raise ConfigError(f"{what} needs the optional packages transformers, peft and tokenizers; "
                          "install them with: pip install 'mygo-nb[pretrained]'")


# --------------------------------------------------------------------------------------------------
# Model folders and their checksum
# --------------------------------------------------------------------------------------------------


def model_checksum(path: str | os.PathLike[str]) -> str:
    """sha256 over a model folder's configuration, weight and tokenizer files: for each, sorted by name, its
    name, its size and its bytes. A folder without ``config.json`` or weights is one `DataError` line."""
    folder = Path(path)
    if not (folder / "config.json").is_file() or not weight_files(folder):
        raise DataError(f"{folder} is not a model folder: it needs config.json and *.safetensors weights")
    files = sorted({*weight_files(folder), *(p for n in MODEL_FILES if (p := folder / n).is_file())},
                   key=lambda p: p.name)
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + p.stat().st_size.to_bytes(8, "little"))
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _config_vocab_size(folder: Path) -> int:
    try:
        vocab = json.loads((folder / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{folder / 'config.json'} has no readable vocab_size ({type(e).__name__}: {e})") from None
    if not isinstance(vocab, int):
        raise DataError(f"{folder / 'config.json'}: vocab_size is {vocab!r}, not an integer")
    return vocab


# --------------------------------------------------------------------------------------------------
# Tokenisation, cached
# --------------------------------------------------------------------------------------------------


def default_token_cache() -> Path:
    """Where tokenised texts are kept unless told otherwise: the user cache's ``mygo-nb/tokens``."""
    return Path(platformdirs.user_cache_dir("mygo-nb")) / "tokens"


def texts_sha256(texts: Sequence[str]) -> str:
    """sha256 of a sequence of texts (each length-prefixed, so no two sequences share a digest)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


def token_cache_key(checksum: str, max_length: int, texts: Sequence[str]) -> str:
    """The cache file's name: sha256 of the format, the model's checksum, ``max_length`` and the texts."""
    return hashlib.sha256(f"{TOKEN_CACHE_FORMAT}\n{checksum}\n{max_length}\n{texts_sha256(texts)}".encode()
                          ).hexdigest()


def _read_cache(path: Path, n: int) -> TokenMatrix | None:
    try:
        t = load_file(str(path))
        m = TokenMatrix(t["ids"], t["lengths"].long())
    except (SafetensorError, OSError, KeyError, ValueError):
        return None  # absent, or unreadable: tokenise again and overwrite it
    return m if len(m) == n and m.ids.ndim == 2 else None


def _write_cache(path: Path, m: TokenMatrix) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({"ids": m.ids.contiguous(), "lengths": m.lengths.to(torch.int32)}, str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    """The folder's own tokenizer, checked against the model: a tokenizer with more tokens than the model's
    embedding table (config.json's vocab_size) is one `DataError` line."""
    require_pretrained("tokenising for a pretrained model")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{folder} has no usable tokenizer ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    vocab = _config_vocab_size(folder)
    if len(tok) > vocab:
        raise DataError(f"{folder}: the tokenizer has {len(tok)} tokens but the model's vocab_size is {vocab}; "
                        "the tokenizer files belong to another model")
    return tok


def tokenize_texts(texts: Sequence[str], model_path: str | os.PathLike[str], max_length: int = 64,
                   cache_dir: str | os.PathLike[str] | None = None) -> TokenMatrix:
    """``texts`` as the model's own token ids (special tokens added, cut at ``max_length``), int32.

    The result is kept in ``cache_dir`` (default `default_token_cache`) under a name keyed by the model's
    checksum, ``max_length`` and the texts: a hit reads that file and does not load the tokenizer."""
    check_int("max_length", max_length, minimum=2)
    folder = Path(model_path)
    texts = list(texts)
    if not texts:
        raise DataError("tokenize_texts got no texts")
    cache = Path(cache_dir) if cache_dir is not None else default_token_cache()
    path = cache / f"{token_cache_key(model_checksum(folder), max_length, texts)}.safetensors"
    if (hit := _read_cache(path, len(texts))) is not None:
        return hit
    tok = load_tokenizer(folder)
    tok.padding_side = "right"  # the layout TokenMatrix stores: ids first, pad ids after
    if tok.pad_token is None:  # e.g. GPT-2's: any id will do, padded positions are masked out
        tok.pad_token = tok.eos_token or tok.unk_token
    enc = tok(texts, truncation=True, max_length=max_length, padding="longest", return_tensors="pt",
              return_attention_mask=True, return_token_type_ids=False)
    lengths = enc["attention_mask"].sum(1).long()
    if int(lengths.min()) < 1:
        raise DataError(f"{folder}: the tokenizer gave an empty sequence for a text")
    ids = enc["input_ids"].to(torch.int32)
    m = TokenMatrix(ids, lengths)
    _write_cache(path, m)
    return m
