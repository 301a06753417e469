"""`make run`: train the default model for a few minutes and print samples.

Uses tinyshakespeare when it can be had (the CHARRNN_DATA mirror, the cache or a download),
else the built-in offline corpus python-stdlib, and says which in one line. Running it again
continues the same run folder instead of starting over.
"""

from __future__ import annotations

import sys

from charrnn import checkpoint
from charrnn.data.downloads import dataset_files
from charrnn.errors import CharRNNError
from charrnn.trained import load
from charrnn.training.launch import train

MAX_TIME = 150  # seconds of training: with install and sampling, under 5 minutes on 2 cores


def pick_dataset() -> str:
    try:
        dataset_files("tinyshakespeare")
        print("make run: training on tinyshakespeare", flush=True)
        return "tinyshakespeare"
    except CharRNNError as e:
        print(f"make run: tinyshakespeare is not available ({e}); training on python-stdlib instead", flush=True)
        return "python-stdlib"


def main() -> int:
    try:
        dataset = pick_dataset()
        out = f"runs/demo-{dataset}"
        if checkpoint.is_run(out):
            result = train(out=out, resume=True)
        else:
            result = train(dataset=dataset, out=out, max_time=MAX_TIME, eval_every=100)
        model = load(result.run_dir)
        prime = "ROMEO:" if dataset == "tinyshakespeare" else "def "
        for temperature in (0.6, 0.9):
            print(f"\n--- sample, temperature {temperature} ---")
            print(prime + model.generate(prime, length=400, temperature=temperature, seed=1))
    except CharRNNError as e:
        print(f"charrnn: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
