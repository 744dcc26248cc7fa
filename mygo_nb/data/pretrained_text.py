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
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..errors import ConfigError, DataError, check_int
from .models import weight_files

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
# Token matrices
# --------------------------------------------------------------------------------------------------


@dataclass
class TokenMatrix:
    """Documents as rows of token ids (``ids``, ``N x L``, padded) and their ``lengths``; the attention mask
    is derived (``arange(L) < lengths``), so only ids and lengths are stored.

    Duck-types `mygo_nb.data.TokenBags`: ``len``, ``device``, ``to``, ``take``, ``subset``, ``concat``.
    """

    ids: Tensor  # (N, L) int32 or int64; positions at or past a row's length hold the pad id
    lengths: Tensor  # (N,) int64, each in 1..L

    def __len__(self) -> int:
        return int(self.lengths.numel())

    @property
    def device(self) -> torch.device:
        return self.ids.device

    def to(self, device: torch.device | str) -> TokenMatrix:
        return TokenMatrix(self.ids.to(device), self.lengths.to(device))

    def take(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's batch for documents ``idx``: ``(ids, mask)``, int64 ids and a bool mask, both
        ``len(idx) x longest``, where ``longest`` is the longest of these documents."""
        lens = self.lengths[idx]
        longest = int(lens.max()) if lens.numel() else 0
        ids = self.ids[idx, :longest].long()
        mask = torch.arange(longest, device=lens.device) < lens[:, None]
        return ids, mask

    def subset(self, idx: Tensor) -> TokenMatrix:
        """Documents ``idx`` as a matrix of their own (as wide as the longest of them)."""
        lens = self.lengths[idx]
        longest = int(lens.max()) if lens.numel() else 0
        return TokenMatrix(self.ids[idx, :longest].clone(), lens.clone())

    @classmethod
    def concat(cls, parts: Sequence[TokenMatrix]) -> TokenMatrix:
        """Several matrices as one, padded to the widest (with the first one's pad id)."""
        if not parts:
            raise ValueError("TokenMatrix.concat needs at least one matrix")
        width = max(p.ids.shape[1] for p in parts)
        pad = _pad_id(parts[0])
        rows = [torch.nn.functional.pad(p.ids, (0, width - p.ids.shape[1]), value=pad) for p in parts]
        return cls(torch.cat(rows), torch.cat([p.lengths for p in parts]))

    def doc_nbytes(self, idx: Tensor) -> Tensor:
        """Raw bytes of each document ``idx``: its int32 ids and one int32 length (as `TokenBags` counts)."""
        return 4 * (self.lengths[idx] + 1)

    def raw_bytes(self) -> int:
        """Raw bytes of all documents: the int32 ids each uses plus one int32 length per document."""
        return int(4 * (self.lengths.sum() + len(self)))


def _pad_id(m: TokenMatrix) -> int:
    """The id that fills a matrix's padded positions (0 where no row is padded)."""
    padded = torch.arange(m.ids.shape[1], device=m.device) >= m.lengths[:, None]
    return int(m.ids[padded][0]) if bool(padded.any()) else 0


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
