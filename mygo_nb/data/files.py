"""Where data lives (chapter 1): the data root, checksums and checked downloads.

Data root resolution: explicit argument > ``MYGO_DATA`` > a per-user cache directory. An existing root is
only read (it may be read-only); missing files are downloaded with torchvision's utilities and md5 checks.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

from ..errors import DataError

__all__ = ["download", "file_md5", "resolve_data_root"]


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Explicit ``root`` > the ``MYGO_DATA`` environment variable > the per-user cache directory."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("MYGO_DATA")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("mygo-nb")) / "data"


def file_md5(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The md5 hex digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, folder: Path, name: str, md5: str) -> None:
    from torchvision.datasets.utils import check_integrity, download_url

    try:
        folder.mkdir(parents=True, exist_ok=True)
        download_url(url, str(folder), name, md5=None)
    except OSError as e:
        raise DataError(f"could not download {name} into {folder} ({e}); check the network, or copy the file "
                        f"there by hand (md5 {md5})") from None
    if not check_integrity(str(folder / name), md5):
        got = file_md5(folder / name)
        (folder / name).unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for downloaded {name}: md5 {got}, expected {md5}; "
                        "the bad file was removed, try again")


