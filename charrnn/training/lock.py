"""One trainer per run folder: an OS advisory lock on RUN/.lock, held while the run trains.

A second `charrnn train` on the same folder (new or --resume) is refused in one line that names the
process holding it. The lock belongs to the process, not to the file: the OS drops it when the
trainer exits, however it exits (SIGKILL included), so a killed run never leaves a lock that blocks
its resume. Readers (sample, eval, serve, inspect) take no lock: every file they read is written
atomically, so they only ever see complete files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from charrnn.errors import CharRNNError

LOCK = ".lock"


class RunLock:
    """Held from `acquire` until `release` or the end of the process."""

    def __init__(self, run_dir: Path) -> None:
        self.path, self.fd = Path(run_dir) / LOCK, None

    def acquire(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise CharRNNError(f"could not write {self.path} ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise CharRNNError(f"{self.path.parent}: a charrnn train (pid {holder}) is training this run now; "
                               f"wait for it to finish or stop it, then --resume") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as e:
            os.close(fd)  # and with it the lock
            raise CharRNNError(f"could not write {self.path} ({e.strerror or e})") from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None
