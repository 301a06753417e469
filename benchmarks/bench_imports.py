"""Start-up time: `charrnn --help` and the light imports against `python -c "import torch"`.

    python benchmarks/bench_imports.py [--rounds 7]

Each command runs in a fresh interpreter; the rows are measured in interleaved rounds (a slow
moment of the machine hits every row alike) and each row shows its median and best wall time.
The baseline is importing torch, which `charrnn --help` used to wait for. Goal: at most a third.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHARRNN = Path(sys.executable).parent / "charrnn"  # the console script beside this interpreter
ROWS = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "charrnn --help": [str(CHARRNN), "--help"] if CHARRNN.exists() else [sys.executable, "-m", "charrnn", "--help"],
    'python -c "import charrnn"': [sys.executable, "-c", "import charrnn"],
    'python -c "import charrnn.reference"': [sys.executable, "-c", "import charrnn.reference"],
    'python -c "pass"': [sys.executable, "-c", "pass"],
}
BASELINE = 'python -c "import torch"'


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: 7)")
    args = parser.parse_args()
    for command in ROWS.values():  # warm the file cache: the first start of each reads from disk
        wall_time(command)
    times: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(args.rounds):
        for name, command in ROWS.items():
            times[name].append(wall_time(command))
    base = statistics.median(times[BASELINE])
    print(f"### Start-up, {args.rounds} rounds (baseline: {BASELINE})\n")
    print("| what | median s | best s | vs baseline |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {min(values):.3f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
