"""Where a named dataset's text is found: `dataset_files(name)` looks in this order:

    $CHARRNN_DATA/<mirror_path>            a local mirror (tests and CI point it at shared/corpora)
    <cache>/datasets/<name>/<file>         an earlier download, verified when it was written
    download -> prepare -> sha256 -> cache  the public sources, pinned to exact git commits

A download that does not reproduce the recorded sha256 is refused and nothing is cached, so a
cached file always holds exactly the text the README's numbers were measured on. The datasets
themselves, their sources and their preparation are the catalog (catalog.py).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import sysconfig
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from charrnn.data.cache import cache_dir
from charrnn.data.catalog import Dataset, get_dataset
from charrnn.errors import CharRNNError
from charrnn.files import write_atomic

log = logging.getLogger(__name__)

DATA_ENV = "CHARRNN_DATA"
DOWNLOAD_TIMEOUT_S = 30.0
USER_AGENT = "charrnn-dataset-download (Python urllib)"


def dataset_files(name: str) -> list[Path]:
    """The local file(s) holding the dataset's text: mirror, then cache, then a verified download."""
    dataset = get_dataset(name)
    if dataset.parts:
        return [path for part in dataset.parts for path in dataset_files(part)]
    if not dataset.sources:
        return _stdlib_files()
    mirror = os.environ.get(DATA_ENV)
    if mirror:
        path = Path(mirror).expanduser() / dataset.mirror_path
        if path.is_file():
            # The mirror is trusted (hashing 7 MB on every run is wasted time); the size catches
            # the likely mistake of a different file under the expected name.
            _check_size(dataset, path, f"${DATA_ENV}")
            return [path]
    cached = cache_dir() / "datasets" / dataset.name / Path(dataset.mirror_path).name
    if cached.is_file():
        _check_size(dataset, cached, "the cache")
        return [cached]
    _download(dataset, cached)
    return [cached]


def _stdlib_files() -> list[Path]:
    # Top level only: that leaves out test/, site-packages/ and the vendored packages.
    folder = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in folder.glob("*.py") if p.is_file())
    if not files:
        raise CharRNNError(
            f"dataset 'python-stdlib': no *.py files in this Python's standard library ({folder}); "
            "it may ship compiled modules only: train on a folder of .py files instead"
        )
    return files


def _check_size(dataset: Dataset, path: Path, where: str) -> None:
    size = path.stat().st_size
    if dataset.size is not None and size != dataset.size:
        raise CharRNNError(
            f"dataset {dataset.name!r}: {path} in {where} has {size:,} bytes, expected "
            f"{dataset.size:,}: it is not this dataset's file; remove or replace it"
        )


def _download(dataset: Dataset, dest: Path) -> None:
    """Fetch every source, prepare, verify the sha256, then write `dest` atomically.

    The sources go to a temporary folder outside the cache, so a failure at any step leaves the
    cache exactly as it was.
    """
    log.info("downloading dataset %r (%d file(s))", dataset.name, len(dataset.sources))
    with tempfile.TemporaryDirectory(prefix="charrnn-download-") as tmp:
        raws: list[bytes] = []
        for i, url in enumerate(dataset.sources):
            part = Path(tmp) / f"{i}.part"
            try:
                _fetch(url, part)
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise CharRNNError(
                    f"dataset {dataset.name!r} is not available offline: download from {url} failed "
                    f"({_reason(e)}); put a copy at ${DATA_ENV}/{dataset.mirror_path} "
                    "or check your connection"
                ) from None
            raws.append(part.read_bytes())

    try:
        data = raws[0] if dataset.prepare is None else dataset.prepare(raws).encode("utf-8")
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # bad JSON or text
        raise CharRNNError(
            f"dataset {dataset.name!r}: the download from {_source_label(dataset)} could not be prepared "
            f"({type(e).__name__}); put a copy at ${DATA_ENV}/{dataset.mirror_path} instead"
        ) from None

    digest = hashlib.sha256(data).hexdigest()
    if dataset.sha256 is not None and digest != dataset.sha256:
        raise CharRNNError(
            f"dataset {dataset.name!r}: checksum mismatch for the download from {_source_label(dataset)} "
            f"(sha256 {digest}, expected {dataset.sha256}); nothing was cached; "
            f"put a verified copy at ${DATA_ENV}/{dataset.mirror_path}"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, data)
    except OSError as e:
        raise CharRNNError(
            f"dataset {dataset.name!r}: could not write {dest} ({_reason(e)}); "
            "set CHARRNN_CACHE to a writable folder"
        ) from None


def _reason(e: BaseException) -> str:
    """A short one-line cause: "HTTP 404 Not Found", "[Errno 111] Connection refused", "timed out"."""
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        text = str(e.reason)
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


def _source_label(dataset: Dataset) -> str:
    first = dataset.sources[0]
    return first if len(dataset.sources) == 1 else f"{first} and {len(dataset.sources) - 1} more files"


def _fetch(url: str, dest: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, length=1 << 20)  # to disk in 1 MiB pieces, not one big read

