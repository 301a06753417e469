"""The dataset registry: where each named corpus comes from, how it is prepared, and its checksum.

`dataset_files(name)` finds a dataset's text in this order:

    $CHARRNN_DATA/<mirror_path>            a local mirror (tests and CI point it at shared/corpora)
    <cache>/datasets/<name>/<file>         an earlier download, verified when it was written
    download -> prepare -> sha256 -> cache  the public sources, pinned to exact git commits

A download that does not reproduce the recorded sha256 is refused and nothing is cached, so a
cached file always holds exactly the text the README's numbers were measured on.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import sysconfig
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from charrnn.data.cache import cache_dir
from charrnn.errors import CharRNNError
from charrnn.files import write_atomic

log = logging.getLogger(__name__)

DATA_ENV = "CHARRNN_DATA"
DOWNLOAD_TIMEOUT_S = 30.0
USER_AGENT = "charrnn-dataset-download (Python urllib)"
_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str  # one line, for --help and the README
    mirror_path: str  # relative to a mirror folder ($CHARRNN_DATA); "" for python-stdlib
    sha256: str | None  # of the prepared file; None where there is no single file
    default_mode: str  # "stream" (one long text) or "lines" (one example per line)
    sources: tuple[str, ...]  # public URLs at pinned commits
    prepare: Callable[[list[bytes]], str] | None  # sources -> final text; None: the one source as is
    license: str
    size: int | None = None  # bytes of the prepared file: a cheap check of mirror and cache copies


# --- preparation: each follows shared/corpora/README.md exactly, so the sha256 matches ---------


def prepare_nietzsche(sources: list[bytes]) -> str:
    """Undo the double UTF-8 encoding: the source shows `ä` as `Ã¤`.

    Each of those characters is the UTF-8 bytes of the real letter read back as Latin-1, so
    encoding the text as Latin-1 gives the original UTF-8 bytes again. Pure ASCII is unchanged.
    """
    (raw,) = sources
    return raw.decode("utf-8").encode("latin-1").decode("utf-8")


def prepare_names(sources: list[bytes]) -> str:
    """A `、`-separated list (over several lines) -> one name per line, in first-seen order."""
    (raw,) = sources
    names: list[str] = []
    seen: set[str] = set()
    for line in raw.decode("utf-8-sig").splitlines():
        for name in line.split("、"):
            name = name.strip()
            if name and name not in seen:
                seen.add(name)
                names.append(name)
    return "".join(name + "\n" for name in names)


# Han ideographs: the URO, extension A, the compatibility block and the supplementary planes
# (extensions B..G). The Tang file uses extension A/B characters, so the URO alone is not enough.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_POEM_CHARS = re.compile(f"[{_HAN}，。]+")
TANG_POEMS_KEPT = 40_000


def is_regular_poem(body: str) -> bool:
    """五言 or 七言 with only Han characters and `，`/`。`, ending in `。`, at least two lines."""
    if not _POEM_CHARS.fullmatch(body) or not body.endswith("。"):
        return False
    lines = re.split("[，。]", body[:-1])  # the final `。` would only add an empty piece
    lengths = {len(line) for line in lines}
    return len(lines) >= 2 and (lengths == {5} or lengths == {7})


def prepare_tang_poems(sources: list[bytes]) -> str:
    """chinese-poetry JSON files, in order -> one poem body per line, first 40,000 regular ones."""
    poems: list[str] = []
    seen: set[str] = set()
    for raw in sources:
        for poem in json.loads(raw.decode("utf-8")):
            body = "".join(poem.get("paragraphs", []))  # title and author are dropped
            if body not in seen and is_regular_poem(body):
                seen.add(body)
                poems.append(body)
    return "".join(poem + "\n" for poem in poems[:TANG_POEMS_KEPT])


# --- the registry -------------------------------------------------------------------------------

_TANG_COMMIT = "67c4aa745a92b7863cbca88012536ae4960e7e2f"
_TANG_SOURCES = tuple(
    f"{_RAW}/Provinm/chinese-poetry-simplified/{_TANG_COMMIT}/chinese-poetry/json/poet.tang.{start}.json"
    for start in range(0, 58_000, 1000)
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="tinyshakespeare",
            description="Karpathy's tiny Shakespeare: 1.1 MB of plays, the classic char-RNN corpus",
            mirror_path="tinyshakespeare/input.txt",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            default_mode="stream",
            sources=(
                f"{_RAW}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
                "/data/tinyshakespeare/input.txt",
            ),
            prepare=None,
            license="public domain text (Shakespeare); karpathy/char-rnn is MIT",
            size=1_115_394,
        ),
        Dataset(
            name="tang-poems",
            description="40,000 regular Tang poems (五言/七言), simplified Chinese, one poem per line",
            mirror_path="tang-poems/poems.txt",
            sha256="f82e4fa8d5b227c92e67d4c0e13cd1b13afb785b79f2d3b7d84e96c89549bc8b",
            default_mode="lines",
            sources=_TANG_SOURCES,
            prepare=prepare_tang_poems,
            license="public domain poems; chinese-poetry digitisation MIT (c) 2016 JackeyGao",
            size=7_221_898,
        ),
        Dataset(
            name="dinosaurs",
            description="1,536 dinosaur genus names, one per line (deeplearning.ai 'Dinosaurus Island')",
            mirror_path="dinosaurs/dinos.txt",
            sha256="ad6465621cf56c08f71d4fbb40cf7eab763f9df42c54cc460d6c4d86e9c927fb",
            default_mode="lines",
            sources=(
                f"{_RAW}/prateekb1912/dinosaur-island/881521cb5431586bb513e9eddc92a8915c52a884/dinos.txt",
            ),
            prepare=None,
            license="none stated (course material; a list of genus names, factual data)",
            size=19_909,
        ),
        Dataset(
            name="nietzsche",
            description="Nietzsche in English (Beyond Good and Evil + part of Human, All Too Human), 600 KB",
            mirror_path="nietzsche/nietzsche.txt",
            sha256="23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647",
            default_mode="stream",
            sources=(
                f"{_RAW}/rupeshbharambe24/DL-Practical/e8ec7def4934423cda1d6a8cf9bb665ea4a2ca9c/nietzsche.txt",
            ),
            prepare=prepare_nietzsche,
            license="public domain (Zimmern 1907 and Harvey 1908 translations; Project Gutenberg)",
            size=600_901,
        ),
        Dataset(
            name="jinyong-names",
            description="226 character names from Jin Yong's 天龙八部, one per line",
            mirror_path="wuxia-names/jinyong_tianlongbabu.txt",
            sha256="527879ac72de51b66f99ba728f0af8b2cb35736e428af7e139541a89cb4b32da",
            default_mode="lines",
            sources=(
                f"{_RAW}/hustqb/PythonWork/7e7fe2dab3407290bbb4f56145eb2d34b293c1ac"
                "/dailycoding/TextStatistics/tlbb_characters.txt",
            ),
            prepare=prepare_names,
            license="none stated; names from a novel still under copyright (check before redistributing)",
            size=2_164,
        ),
        Dataset(
            name="python-stdlib",
            description="the top-level *.py files of this Python's standard library (offline, no download)",
            mirror_path="",
            sha256=None,
            default_mode="stream",
            sources=(),
            prepare=None,
            license="PSF License (the Python standard library)",
        ),
    )
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> Dataset:
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise CharRNNError(f"unknown dataset {name!r}: {hint}known datasets: {', '.join(DATASETS)}")


def dataset_files(name: str) -> list[Path]:
    """The local file(s) holding the dataset's text: mirror, then cache, then a verified download."""
    dataset = get_dataset(name)
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
