"""Reading text files in bounded chunks, so a corpus of any size is decoded in constant memory.

    files -> bytes (8 MB at a time) -> strict incremental decoding -> normalised text chunks

Normalising: a leading byte-order mark is dropped, CRLF becomes LF (a CR at the end of one chunk
waits for the next), every file ends with a newline, and in lines mode only the non-empty lines
are kept (an unfinished last line waits for the rest of it). A decode error names the file and
the byte offset in the file, not in the chunk.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from charrnn.errors import CharRNNError

CHUNK_BYTES = 8 << 20
_NUL_SAFE = {"utf16", "utf32", "utf16le", "utf16be", "utf32le", "utf32be"}  # NUL bytes are normal there


def keep_lines(text: str) -> str:
    """Lines mode: the non-empty lines of `text` (which ends at a line end), each ended by a newline."""
    return "".join(line + "\n" for line in text.split("\n") if line.strip())


def file_chunks(path: Path, encoding: str = "utf-8", mode: str = "stream") -> Iterator[str]:
    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
    except LookupError:
        raise CharRNNError(f"--encoding {encoding!r}: unknown text encoding") from None
    check_binary = encoding.replace("-", "").replace("_", "").lower() not in _NUL_SAFE
    offset, pending, first, last_char = 0, "", True, "\n"
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CharRNNError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        while True:
            data = f.read(CHUNK_BYTES)
            if first and check_binary and b"\0" in data[:8192]:
                raise CharRNNError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
            held = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                raise CharRNNError(f"{path}: not valid {encoding} at byte offset {offset - held + e.start} "
                                   f"(pass --encoding, e.g. --encoding latin-1 or gb18030)") from None
            offset += len(data)
            if first:
                text, first = text.removeprefix("\ufeff"), False
            text = pending + text
            pending = ""
            if data and text.endswith("\r"):  # maybe the first half of a CRLF
                text, pending = text[:-1], "\r"
            text = text.replace("\r\n", "\n")
            if mode == "lines":
                cut = text.rfind("\n") + 1
                if data:
                    text, pending = text[:cut], text[cut:] + pending
                text = keep_lines(text if text.endswith("\n") or not text else text + "\n")
            elif not data and text and not text.endswith("\n"):
                text += "\n"
            elif not data and not text and last_char != "\n":
                text = "\n"
            if text:
                last_char = text[-1]
                yield text
            if not data:
                return


def text_chunks(files: list[Path], encoding: str = "utf-8", mode: str = "stream") -> Iterator[str]:
    """The normalised text of all files, in order, a chunk at a time."""
    for path in files:
        yield from file_chunks(path, encoding, mode)
