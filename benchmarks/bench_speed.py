"""Speed, side by side, in one run: training and sampling chars/s against baselines measured here.

    python benchmarks/bench_speed.py                  # training + sampling tables (~4 min on 2 cores)
    python benchmarks/bench_speed.py --memory         # + encoding speed and peak RSS on a 100 MB corpus
    python benchmarks/bench_speed.py --kernels        # + where a training step goes, kernel by kernel; torch.compile

Every figure is measured in the same run as its baseline, and shown as a ratio to it (each the
best of --rounds interleaved rounds):

  training   the full Trainer (batches, clipping, AdamW, logging)   vs  a bare fused nn.LSTM step
             (forward, backward, AdamW on a ready batch)             vs  a naive nn.LSTMCell loop
             in fp32 and bf16 autocast; GFLOP/s against an fp32 matmul measured here
  optimizer  one AdamW update of the 2x256 and 2x512 models: the fused kernel (charrnn's) and
             foreach  vs  PyTorch's per-parameter loop (its default on CPU)
  dropout    a regularised bf16 step (every dropout at full strength) of the default 2x512 and of
             cpu-2min's 2x256, its masks drawn by keep_mask (charrnn's)  vs  by bernoulli_ (F.dropout's)
  sampling   charrnn's Stepper, 1 and 64 streams, and a whole sampling loop (sampler included)
             vs  calling nn.LSTM one character at a time; prompt ingestion, fp32 and charrnn's

Model: 2x512 LSTM, embedding 64, vocabulary 68 (tinyshakespeare's), batch 32 x 128 characters.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_engines import timed  # the same timing loop for every benchmark here
from charrnn.device import autocast, cpu_has_native_bf16
from charrnn.model import CharRNN, ModelConfig
from charrnn.generation.stepper import Stepper

V, H, LAYERS, EMBED, B, T = 68, 512, 2, 64, 32, 128


def matmul_gflops(seconds: float) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return timed(lambda: a @ b, seconds) * 2 * 1024**3 / 1e9


def training_flops_per_char() -> float:
    """Multiply-adds of the matrix products per character, x2 for flops, x3 for forward + backward."""
    macs = sum(4 * H * (i + H) for i in [EMBED] + [H] * (LAYERS - 1)) + H * V
    return 6 * macs


def make_bare_step(dtype: str, compiled: bool = False) -> Callable[[], None]:
    """One training step of the fused nn.LSTM on a ready batch: forward, loss, backward, AdamW
    (`compiled`: the model's forward through torch.compile)."""
    model = CharRNN(ModelConfig(layers=LAYERS, hidden=H, embed=EMBED).resolved(V))
    forward = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randint(3, V, (B, T)), torch.randint(3, V, (B, T))
    device = torch.device("cpu")

    def step():
        with autocast(device, dtype):
            logits, _ = forward(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bare_step(dtype: str, seconds: float, compiled: bool = False) -> float:
    step = make_bare_step(dtype, compiled)
    step()  # compiles, when compiled
    return timed(step, seconds) * B * T


def kernel_times(dtype: str, steps: int = 4) -> dict[str, float]:
    """ms per bare step spent in each layer's fused LSTM kernel (oneDNN on CPU), forward and
    backward, and in everything else; the best of `steps` profiled steps for each."""
    from torch.profiler import profile

    step = make_bare_step(dtype)
    for _ in range(2):  # warm-up
        step()
    best: dict[str, float] = {}
    for _ in range(steps):
        start = time.perf_counter()
        with profile(record_shapes=True) as prof:
            step()
        times = {"whole step": (time.perf_counter() - start) * 1e3}
        for event in prof.events():
            # Under autocast the op is dispatched twice (the cast wrapper, then the kernel): count the kernel.
            if event.name in ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward") and \
                    not any(child.name == event.name for child in event.cpu_children):
                layer = 0 if event.input_shapes[0][-1] == EMBED else 1
                kind = "backward" if event.name.endswith("backward") else "forward"
                name = f"layer {layer} {kind}"
                times[name] = times.get(name, 0.0) + event.cpu_time_total / 1e3
        times["rest of the step"] = times["whole step"] - sum(v for k, v in times.items() if k.startswith("layer"))
        for name, ms in times.items():
            best[name] = min(best.get(name, float("inf")), ms)
    return best


def kernels_table(seconds: float) -> None:
    """Where the time of a training step goes, fp32 against bf16, with each kernel's GFLOP/s;
    and whether torch.compile speeds the bare step up."""
    steps = {f"bare fused step, {dtype}{', torch.compile' if compiled else ''}":
             (lambda dtype=dtype, compiled=compiled: bare_step(dtype, seconds, compiled))
             for dtype in ("fp32", "bf16") for compiled in (False, True)}
    rates = best_of_rounds(steps, 2)
    table("torch.compile on the bare training step (baseline: eager, fp32)", list(rates.items()),
          rates["bare fused step, fp32"])
    fp32, bf16 = kernel_times("fp32"), kernel_times("bf16")

    def gflops(name: str, ms: float) -> str:
        if not name.startswith("layer"):
            return ""
        inputs = EMBED if name.startswith("layer 0") else H
        flops = 2 * B * T * (inputs + H) * 4 * H * (2 if name.endswith("backward") else 1)
        return f"{flops / ms / 1e6:,.0f}"

    print("\n### Where a bare training step's time goes (2x512 LSTM, batch 32 x 128; ms per step)\n")
    print("| part | fp32 ms | fp32 GFLOP/s | bf16 ms | bf16 GFLOP/s | bf16 speed-up |\n|---|---:|---:|---:|---:|---:|")
    names = [f"layer {k} {kind}" for kind in ("forward", "backward") for k in range(LAYERS)]
    for name in names + ["rest of the step", "whole step"]:
        a, b = fp32.get(name, float("nan")), bf16.get(name, float("nan"))
        print(f"| {name} | {a:,.1f} | {gflops(name, a)} | {b:,.1f} | {gflops(name, b)} | {a / b:.2f}x |")


def naive_cell_step(dtype: str, seconds: float) -> float:
    """The baseline a newcomer writes: nn.LSTMCell called once per time step and layer."""
    embed, head = nn.Embedding(V, EMBED), nn.Linear(H, V)
    cells = nn.ModuleList([nn.LSTMCell(EMBED if k == 0 else H, H) for k in range(LAYERS)])
    params = [*embed.parameters(), *head.parameters(), *cells.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    x, y = torch.randint(3, V, (B, T)), torch.randint(3, V, (B, T))
    device = torch.device("cpu")

    def step():
        with autocast(device, dtype):
            states = [(torch.zeros(B, H), torch.zeros(B, H)) for _ in range(LAYERS)]
            outs = []
            for t in range(T):
                inp = embed(x[:, t])
                for k, cell in enumerate(cells):
                    states[k] = cell(inp, states[k])
                    inp = states[k][0]
                outs.append(inp)
            logits = head(torch.stack(outs, dim=1))
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, seconds) * B * T


def full_trainer(dtype: str, corpus: Path, steps: int) -> float:
    """chars/s as the Trainer itself reports it (its metrics), no evals in the way."""
    import charrnn
    from charrnn.checkpoint import read_metrics

    with tempfile.TemporaryDirectory() as tmp:
        charrnn.train(str(corpus), out=f"{tmp}/run", max_steps=steps, eval_every=10**6, sample_chars=0,
                      log_every=steps // 2, dtype=dtype, hidden=H, layers=LAYERS, embed=EMBED, batch_size=B,
                      seq_len=T, device="cpu", dropout=0.0, weight_drop=0.0, input_dropout=0.0,
                      weight_decay=0.0)  # the same arithmetic as the bare step it is compared with
        rates = [r["chars_per_s"] for r in read_metrics(f"{tmp}/run") if "chars_per_s" in r]
        return rates[-1]  # the second half: past the warm-up


def sampling_measures(seconds: float) -> dict[str, Callable[[], float]]:
    """name -> a function measuring chars/s once (the models are built once, here)."""
    from charrnn.generation.decoding import step
    from charrnn.generation.rows import sample_ids
    from charrnn.generation.network import Network
    from charrnn.generation.options import SamplingOptions
    from charrnn.vocab import Vocabulary

    torch.manual_seed(0)
    model = CharRNN(ModelConfig(layers=LAYERS, hidden=H, embed=EMBED).resolved(V)).eval()
    stepper, exact = Stepper(model), Stepper(model, bf16=False)
    products = "bf16 products" if stepper.bf16 else "fp32"
    vocab = Vocabulary([chr(32 + i) for i in range(V - 3)])
    state1, ids1 = model.init_state(1), torch.tensor([5])
    state64, ids64 = model.init_state(64), torch.full((64,), 5)
    prompt = torch.randint(3, V, (1, 4096))

    def write_text(length=2000):
        generator = torch.Generator().manual_seed(0)
        for _ in sample_ids(Network(model, vocab, "stream"), "ROMEO:", length, SamplingOptions(), generator):
            pass

    @torch.inference_mode()
    def rate(fn, chars, warmup=3):
        return chars * timed(fn, seconds, warmup=warmup)

    return {
        "naive nn.LSTM call, 1 stream": lambda: rate(lambda: model(ids1.view(1, 1), state1), 1),
        "Stepper, 1 stream, fp32": lambda: rate(lambda: exact.step(ids1, state1), 1),
        f"Stepper, 1 stream ({products})": lambda: rate(lambda: stepper.step(ids1, state1), 1),
        f"sampling a text, 1 stream ({products}, sampler included)": lambda: rate(write_text, 2000, warmup=1),
        "naive nn.LSTM call, 64 streams": lambda: rate(lambda: model(ids64.view(64, 1), state64), 64),
        f"Stepper, 64 streams ({products})": lambda: rate(lambda: stepper.step(ids64, state64), 64),
        "prompt ingestion, fused forward fp32 (4096 chars)": lambda: rate(lambda: model(prompt), 4096, warmup=1),
        f"prompt ingestion, charrnn ({'bf16' if stepper.bf16_layers else 'fp32'}, 4096 chars)":
            lambda: rate(lambda: step(model, prompt), 4096, warmup=1),
    }


def adamw_updates(hidden: int, kind: str, seconds: float) -> float:
    """AdamW updates per second of a 2 x `hidden` model (vocabulary 68) with gradients in place:
    PyTorch's per-parameter loop (its CPU default), foreach, or the fused kernel (charrnn's)."""
    model = CharRNN(ModelConfig(hidden=hidden, layers=LAYERS, embed=EMBED).resolved(V))
    options = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[kind]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, **options)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    return timed(optimizer.step, seconds)


def bernoulli_mask(like: torch.Tensor, shape: tuple[int, ...], p: float) -> torch.Tensor:
    """keep_mask's baseline: the mask as F.dropout draws it, with bernoulli_."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1 - p) / (1 - p)


def regularised_step(hidden: int, seq_len: int, masks: str, seconds: float) -> float:
    """chars/s of a bf16 training step with the defaults' dropouts at full strength (all but the
    one between nn.LSTM's layers, which is torch's own, drawn by `masks`: keep_mask or bernoulli)."""
    import charrnn.model

    model = CharRNN(ModelConfig(layers=LAYERS, hidden=hidden, embed=EMBED).resolved(V))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x, y = torch.randint(3, V, (B, seq_len)), torch.randint(3, V, (B, seq_len))

    def step():
        with autocast(torch.device("cpu"), "bf16"):
            logits, _ = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    drawn_by = charrnn.model.keep_mask
    charrnn.model.keep_mask = bernoulli_mask if masks == "bernoulli" else drawn_by
    try:
        return timed(step, seconds) * B * seq_len
    finally:
        charrnn.model.keep_mask = drawn_by


def best_of_rounds(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each measurement once per round, the rounds interleaved, and each one's best. On a shared
    machine slow-downs come and go (10-25% here); interleaving exposes every row to them alike,
    and the best round is the machine without them."""
    best = {name: 0.0 for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    return best


def table(title: str, rows: list[tuple[str, float]], baseline: float, unit: str = "chars/s") -> None:
    print(f"\n### {title}\n\n| what | {unit} | vs baseline |\n|---|---:|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} | {value / baseline:.2f}x |")


MEMORY_CHILD = """
import resource, sys, time, charrnn
from charrnn.data.corpus import encode_files
from pathlib import Path
start = time.time()
ids, vocab, _ = encode_files([Path(sys.argv[1])], "stream")
encode_s = time.time() - start
charrnn.train(sys.argv[1], out=sys.argv[2], max_steps=30, eval_every=10**6, sample_chars=0, hidden=256,
              batch_size=32, seq_len=128, device="cpu", val_frac=0.001)
print(encode_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def memory(megabytes: int = 100) -> None:
    source = Path(os.environ.get("CHARRNN_DATA", "../shared/corpora")) / "tinyshakespeare" / "input.txt"
    text = source.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.txt"
        with open(big, "w", encoding="utf-8") as f:
            for _ in range(megabytes * 10**6 // len(text) + 1):
                f.write(text)
        size = big.stat().st_size / 1e6
        env = {**os.environ, "CHARRNN_CACHE": f"{tmp}/cache"}
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(big), f"{tmp}/run"], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        encode_s, rss_mb = float(out[-2]), float(out[-1])
    print(f"\n### Out-of-core data ({size:.0f} MB corpus)\n\n| what | value |\n|---|---:|")
    print(f"| encoding (two streaming passes, to a memory-mapped token file) | {size / encode_s:.1f} MB/s |")
    print(f"| peak RSS: encode + 30 training steps (2x256 LSTM) | {rss_mb:,.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each row shows its best")
    parser.add_argument("--memory", action="store_true", help="also the 100 MB corpus measurements")
    parser.add_argument("--kernels", action="store_true",
                        help="also where a training step's time goes (each LSTM kernel, fp32 and bf16) and "
                             "what torch.compile does to it (~3 min)")
    args = parser.parse_args()
    corpus = Path(os.environ.get("CHARRNN_DATA", "../shared/corpora")) / "tinyshakespeare" / "input.txt"
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}")
    peak = best_of_rounds({"matmul": lambda: matmul_gflops(args.seconds)}, args.rounds)["matmul"]
    flops = training_flops_per_char()
    training = {}
    for dtype in ("fp32", "bf16"):
        training[f"full trainer, {dtype}"] = lambda dtype=dtype: full_trainer(dtype, corpus, steps=24)
        training[f"bare fused nn.LSTM step, {dtype}"] = lambda dtype=dtype: bare_step(dtype, args.seconds)
        training[f"naive nn.LSTMCell loop, {dtype}"] = lambda dtype=dtype: naive_cell_step(dtype, args.seconds)
    rows = list(best_of_rounds(training, args.rounds).items())
    baseline = dict(rows)["bare fused nn.LSTM step, fp32"]
    table("Training, 2x512 LSTM, batch 32 x 128 (baseline: bare fused step, fp32)", rows, baseline)
    print(f"\nfp32 matmul here: {peak:,.0f} GFLOP/s; the bare fused step reaches {baseline * flops / 1e9:,.0f} "
          f"GFLOP/s fp32 ({baseline * flops / 1e9 / peak:.0%}); the full trainer "
          + ", ".join(f"{v * flops / 1e9:,.0f} GFLOP/s {n.split(', ')[1]}" for n, v in rows if n.startswith("full")))
    updates = {f"AdamW, 2x{h}, {kind}": lambda h=h, kind=kind: adamw_updates(h, kind, args.seconds / 3)
               for h in (256, 512) for kind in ("loop", "foreach", "fused")}
    updates = best_of_rounds(updates, args.rounds)
    print("\n### The optimizer update (baseline: PyTorch's per-parameter loop, its CPU default)\n\n"
          "| what | ms per update | faster than the loop |\n|---|---:|---:|")
    for name, rate in updates.items():
        print(f"| {name} | {1e3 / rate:.2f} | {rate / updates[name.rsplit(', ', 1)[0] + ', loop']:.2f}x |")
    masks = {f"2x{h}, seq {t}, {kind}": lambda h=h, t=t, kind=kind: regularised_step(h, t, kind, args.seconds)
             for h, t in ((512, 128), (256, 64)) for kind in ("bernoulli", "keep_mask")}
    masks = best_of_rounds(masks, args.rounds)
    print("\n### A regularised training step, bf16: dropout masks (baseline: bernoulli_, as F.dropout draws them)"
          "\n\n| what | chars/s | vs baseline |\n|---|---:|---:|")
    for name, rate in masks.items():
        print(f"| {name} | {rate:,.0f} | {rate / masks[name.rsplit(', ', 1)[0] + ', bernoulli']:.2f}x |")
    if args.kernels:
        kernels_table(args.seconds)
    sampling = best_of_rounds(sampling_measures(args.seconds), args.rounds)
    table("Sampling, 2x512 LSTM (baseline: naive nn.LSTM call, 1 stream)", list(sampling.items()),
          sampling["naive nn.LSTM call, 1 stream"])
    if args.memory:
        memory()


if __name__ == "__main__":
    main()
