"""The datasets: the catalog, mirror lookup, verified downloads from a local server, preparation rules."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import socket
import threading
import urllib.error
from pathlib import Path

import pytest

from charrnn.data import catalog, downloads
from charrnn.data.catalog import (
    DATASETS,
    Dataset,
    dataset_names,
    get_dataset,
    prepare_dart_names,
    prepare_lf,
    prepare_names,
    prepare_nietzsche,
    prepare_tang_poems,
)
from charrnn.data.downloads import dataset_files
from charrnn.errors import CharRNNError

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI sets CHARRNN_DATA or places shared/ next to the clone; read it before any test changes the env.
MIRROR = Path(os.environ.get("CHARRNN_DATA") or REPO_ROOT.parent / "shared" / "corpora")
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no corpora mirror at {MIRROR}")
FILE_DATASETS = [name for name in dataset_names() if DATASETS[name].sources]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no mirror unless a test asks for one, and short network timeouts."""
    monkeypatch.setenv("CHARRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CHARRNN_DATA", raising=False)
    monkeypatch.setattr(downloads, "DOWNLOAD_TIMEOUT_S", 5.0)


def cache_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def toy_dataset(monkeypatch, *, sources, sha256, prepare=None, size=None) -> Dataset:
    toy = Dataset(
        name="toy", description="a test corpus", mirror_path="toy/toy.txt", sha256=sha256,
        default_mode="lines", sources=tuple(sources), prepare=prepare, license="test", size=size,
    )
    monkeypatch.setitem(DATASETS, "toy", toy)
    return toy


@pytest.fixture
def server(tmp_path):
    """A static file server on 127.0.0.1 for tmp_path/www; yields (root folder, base URL, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # keep pytest output clean, but remember the paths
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- catalog and mirror ------------------------------------------------------------------------


def test_catalog_names_and_modes():
    assert dataset_names() == [
        "tinyshakespeare", "tang-poems", "dinosaurs", "nietzsche", "jinyong-names", "gulong-names", "wuxia-names",
        "sonnets", "tianlongbabu-names", "python-stdlib"
    ]
    modes = {name: DATASETS[name].default_mode for name in dataset_names()}
    assert modes == {
        "tinyshakespeare": "stream", "nietzsche": "stream", "python-stdlib": "stream",
        "tang-poems": "lines", "dinosaurs": "lines", "jinyong-names": "lines", "gulong-names": "lines",
        "wuxia-names": "lines", "sonnets": "stream", "tianlongbabu-names": "lines",
    }
    for name in FILE_DATASETS:
        d = DATASETS[name]
        assert all(url.startswith("https://raw.githubusercontent.com/") for url in d.sources)
        assert "\n" not in d.description and "\n" not in d.license
    assert len(DATASETS["tang-poems"].sources) == 58


def test_unknown_name_lists_known_names():
    with pytest.raises(CharRNNError) as e:
        get_dataset("tinyshakespear")
    message = str(e.value)
    assert "'tinyshakespear'" in message and "did you mean 'tinyshakespeare'" in message
    assert all(name in message for name in dataset_names())


@needs_mirror
def test_catalog_checksums_and_sizes_match_the_mirror():
    lines = (MIRROR / "SHA256SUMS").read_text().splitlines()
    sums = {path: digest for digest, path in (line.split() for line in lines if line.strip())}
    for name in FILE_DATASETS:
        d = DATASETS[name]
        assert sums[d.mirror_path] == d.sha256, name
        assert (MIRROR / d.mirror_path).stat().st_size == d.size, name


@needs_mirror
@pytest.mark.parametrize("name", FILE_DATASETS)
def test_every_file_dataset_resolves_from_the_mirror(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARRNN_DATA", str(MIRROR))
    assert dataset_files(name) == [MIRROR / DATASETS[name].mirror_path]
    assert cache_files(tmp_path) == []  # the mirror is used in place, not copied


def test_mirror_file_of_the_wrong_size_is_refused(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "dinosaurs").mkdir(parents=True)
    (mirror / "dinosaurs" / "dinos.txt").write_text("Zuul\n")
    monkeypatch.setenv("CHARRNN_DATA", str(mirror))
    with pytest.raises(CharRNNError, match=r"dinos\.txt.*5 bytes, expected 19,909"):
        dataset_files("dinosaurs")


def test_python_stdlib_is_offline_and_top_level(monkeypatch):
    monkeypatch.setenv("CHARRNN_DATA", "/nonexistent")
    files = dataset_files("python-stdlib")
    assert len(files) > 10 and files == sorted(files)
    assert all(f.suffix == ".py" and f.parent == files[0].parent for f in files)
    assert not any("site-packages" in f.parts for f in files)


def test_python_stdlib_without_sources_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    with pytest.raises(CharRNNError, match="python-stdlib.*no \\*.py files"):
        dataset_files("python-stdlib")


# --- download -----------------------------------------------------------------------------------


def test_offline_error_names_url_and_mirror_variable(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError(OSError("Temporary failure in name resolution"))

    monkeypatch.setattr(downloads.urllib.request, "urlopen", no_network)
    monkeypatch.setenv("CHARRNN_DATA", str(tmp_path / "empty-mirror"))
    with pytest.raises(CharRNNError) as e:
        dataset_files("tinyshakespeare")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("dataset 'tinyshakespeare' is not available offline")
    assert DATASETS["tinyshakespeare"].sources[0] in message
    assert "name resolution" in message and "$CHARRNN_DATA/tinyshakespeare/input.txt" in message
    assert cache_files(tmp_path) == []


def test_connection_refused_is_one_line_error(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago, and now has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/toy.txt"
    toy_dataset(monkeypatch, sources=[url], sha256="0" * 64)
    with pytest.raises(CharRNNError) as e:
        dataset_files("toy")
    message = str(e.value)
    assert "\n" not in message and url in message and "$CHARRNN_DATA/toy/toy.txt" in message
    assert cache_files(tmp_path) == []


def test_download_verifies_and_caches(server, tmp_path, monkeypatch):
    root, base, requests = server
    body = "Aachenosaurus\nZuul".encode()
    (root / "toy.txt").write_bytes(body)
    toy_dataset(monkeypatch, sources=[f"{base}/toy.txt"], sha256=hashlib.sha256(body).hexdigest(), size=len(body))

    (path,) = dataset_files("toy")
    assert path == tmp_path / "cache" / "datasets" / "toy" / "toy.txt"
    assert path.read_bytes() == body
    assert cache_files(tmp_path) == [path]  # no temporary files left behind
    assert requests == ["/toy.txt"]

    assert dataset_files("toy") == [path]
    assert requests == ["/toy.txt"]  # the second call is served from the cache


def test_download_runs_prepare_over_every_source(server, monkeypatch):
    root, base, _ = server
    (root / "a.txt").write_text("段誉、钟灵\n", encoding="utf-8")
    (root / "b.txt").write_text("钟灵、阿朱", encoding="utf-8")
    expected = "段誉\n钟灵\n阿朱\n".encode()

    def names_of_all(sources: list[bytes]) -> str:
        return prepare_names([b"\n".join(sources)])

    toy_dataset(monkeypatch, sources=[f"{base}/a.txt", f"{base}/b.txt"],
                sha256=hashlib.sha256(expected).hexdigest(), prepare=names_of_all)
    (path,) = dataset_files("toy")
    assert path.read_bytes() == expected


def test_checksum_mismatch_leaves_the_cache_clean(server, tmp_path, monkeypatch):
    root, base, _ = server
    (root / "toy.txt").write_text("not the expected text\n")
    toy_dataset(monkeypatch, sources=[f"{base}/toy.txt"], sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(CharRNNError, match="checksum mismatch.*nothing was cached") as e:
        dataset_files("toy")
    assert "\n" not in str(e.value)
    assert cache_files(tmp_path) == []


def test_unwritable_cache_is_reported(server, tmp_path, monkeypatch):
    root, base, _ = server
    (root / "toy.txt").write_bytes(b"x\n")
    toy_dataset(monkeypatch, sources=[f"{base}/toy.txt"], sha256=hashlib.sha256(b"x\n").hexdigest())
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CHARRNN_CACHE", str(blocker))
    with pytest.raises(CharRNNError, match="could not write .*set CHARRNN_CACHE to a writable folder"):
        dataset_files("toy")


def test_http_error_is_reported(server, monkeypatch):
    _, base, _ = server
    toy_dataset(monkeypatch, sources=[f"{base}/missing.txt"], sha256="0" * 64)
    with pytest.raises(CharRNNError, match=r"missing\.txt failed \(HTTP 404"):
        dataset_files("toy")


def test_unpreparable_download_is_reported(server, monkeypatch):
    root, base, _ = server
    (root / "page.html").write_text("<html>rate limited</html>")
    toy_dataset(monkeypatch, sources=[f"{base}/page.html"], sha256="0" * 64, prepare=prepare_tang_poems)
    with pytest.raises(CharRNNError, match="could not be prepared"):
        dataset_files("toy")


# --- preparation --------------------------------------------------------------------------------


def tang_json(*bodies: list[str]) -> bytes:
    poems = [{"author": "某", "title": "题", "paragraphs": paragraphs} for paragraphs in bodies]
    return json.dumps(poems, ensure_ascii=False).encode("utf-8")


def test_tang_poems_filter():
    wuyan = ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"]
    qiyan = ["朝辞白帝彩云间，千里江陵一日还。"]
    mixed = ["床前明月光，疑是地上霜。", "朝辞白帝彩云间，千里江陵一日还。"]
    text = prepare_tang_poems([
        tang_json(wuyan, mixed, ["床前明月光？疑是地上霜。"], ["床前明月光，疑是地上霜"]),
        tang_json(wuyan, qiyan, ["床前明月光。"], ["白日A山尽，黄河入海流。"]),
    ])
    # kept: 五言 and 七言, once each, in file order; dropped: mixed lengths, `？`, no final `。`,
    # the repeat of the first poem, a single line, a non-Han character
    assert text.splitlines(keepends=True) == [
        "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n",
        "朝辞白帝彩云间，千里江陵一日还。\n",
    ]


def test_tang_poems_accept_extension_ideographs_and_keep_the_first_40000(monkeypatch):
    rare = "㮰𥳇一二三，四五六七八。"  # extension A and B characters count as Han
    assert prepare_tang_poems([tang_json([rare])]) == rare + "\n"
    monkeypatch.setattr(catalog, "TANG_POEMS_KEPT", 2)
    poems = [[f"{a}二三四五，六七八九十。"] for a in "甲乙丙"]
    kept = prepare_tang_poems([tang_json(*poems)]).splitlines()
    assert kept == ["甲二三四五，六七八九十。", "乙二三四五，六七八九十。"]


def test_nietzsche_mojibake_fix():
    text = "PREFACE\nJenseits von Gut und Böse: Æsop, naïve.\n"
    source = text.encode("utf-8").decode("latin-1").encode("utf-8")  # double-encoded, as upstream
    assert "Ã¶".encode() in source
    assert prepare_nietzsche([source]) == text


def test_names_split_strip_and_dedupe():
    source = "段誉、 段正明 、、段誉\r\n钟灵、\n\n阿朱".encode("utf-8")
    assert prepare_names([source]) == "段誉\n段正明\n钟灵\n阿朱\n"


@needs_mirror
def test_prepare_reproduces_mirror_nietzsche():
    prepared = (MIRROR / DATASETS["nietzsche"].mirror_path).read_bytes()
    source = prepared.decode("utf-8").encode("utf-8").decode("latin-1").encode("utf-8")  # re-mojibake
    assert len(source) == 600_917  # the size of the upstream blob, per the corpora README
    assert hashlib.sha256(prepare_nietzsche([source]).encode()).hexdigest() == DATASETS["nietzsche"].sha256


@needs_mirror
def test_prepare_reproduces_mirror_names():
    prepared = (MIRROR / DATASETS["tianlongbabu-names"].mirror_path).read_bytes()
    names = prepared.decode("utf-8").splitlines()
    # re-create the upstream layout: `、`-separated, a few names per line, no final newline
    source = "\n".join("、".join(names[i:i + 30]) for i in range(0, len(names), 30)).encode("utf-8")
    assert hashlib.sha256(prepare_names([source]).encode()).hexdigest() == DATASETS["tianlongbabu-names"].sha256


def test_dataset_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["dinosaurs"].name = "x"  # type: ignore[misc]


def test_dart_names_each_once_in_first_seen_order():
    first = "const List<String> a = [\n  '楚留香',\n  '胡铁花', ' 姬冰雁 ',\n];\n".encode()
    second = "const b = ['胡铁花', '纳斯尔丁•阿凡提'];\n".encode()
    assert prepare_dart_names([first, second]) == "楚留香\n胡铁花\n姬冰雁\n纳斯尔丁•阿凡提\n"


def test_prepare_lf_makes_every_line_end_lf():
    assert prepare_lf([b"a\r\nb\rc\n"]) == "a\nb\nc\n"


def test_the_mirror_lists_match_their_description(monkeypatch):
    monkeypatch.setenv("CHARRNN_DATA", str(MIRROR))
    jinyong, gulong = (MIRROR / "wuxia-names" / f"{n}.txt" for n in ("jinyong", "gulong"))
    if not jinyong.exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")
    names = [jinyong.read_text(encoding="utf-8").splitlines(), gulong.read_text(encoding="utf-8").splitlines()]
    assert [len(n) for n in names] == [1372, 1058] and len(set(names[0]) & set(names[1])) == 5
    assert dataset_files("wuxia-names") == dataset_files("jinyong-names") + dataset_files("gulong-names")
    assert prepare_lf([(MIRROR / "sonnets" / "sonnets.txt").read_bytes()]).encode() == \
        (MIRROR / "sonnets" / "sonnets.txt").read_bytes()  # LF already: the prepared file is the file
