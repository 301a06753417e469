"""`charrnn serve PATH`: the flags, then uvicorn on charrnn.serve's app factory. Wired into
charrnn.commands.main as `add_parsers(commands)` and COMMANDS; FastAPI and torch are imported when
it runs."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys

from charrnn.commands.arguments import add_run_flags
from charrnn.errors import CharRNNError
from charrnn.serve.limits import Limits

KEY_ENV = "CHARRNN_API_KEY"  # the key when --api-key is not given (docs/serve.md)


def add_parsers(commands) -> None:
    defaults = Limits()
    p = commands.add_parser(
        "serve", help="serve the writer's web page and an HTTP API (OpenAI-compatible) over trained runs",
        description="Serve one run folder, or a folder of runs (one model per sub-folder, named by the folder): "
        "the page at /, the API at /api and /v1, its documentation at /docs. See docs/serve.md.")
    p.add_argument("path", metavar="PATH", help="a run folder, or a folder whose sub-folders are runs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only; on any other address, give --api-key)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free port)")
    p.add_argument("--max-rows", type=int, default=defaults.max_rows, metavar="N",
                   help=f"rows each model writes together, one forward per character for all (a request takes "
                   f"one per sample); more requests wait in the queue (default: {defaults.max_rows})")
    p.add_argument("--max-queue", type=int, default=defaults.max_queue, metavar="N",
                   help=f"requests waiting for rows, per model, first come first served; past the rows and the "
                   f"queue, 429 with Retry-After (default: {defaults.max_queue})")
    p.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency, metavar="N",
                   help=f"inspect and neurons requests under way at once (worker threads, beside the writing); "
                   f"more are answered 429 with Retry-After (default: {defaults.max_concurrency})")
    p.add_argument("--timeout", type=float, default=defaults.timeout, metavar="SECONDS",
                   help=f"time limit of one request, its wait for rows included, answered 503 past it "
                   f"(default: {defaults.timeout:g})")
    p.add_argument("--max-body", type=int, default=defaults.max_body, metavar="BYTES",
                   help=f"largest request body, answered 413 above it (default: {defaults.max_body})")
    p.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="allow cross-origin requests from this origin (e.g. http://localhost:3000); repeatable; "
                   "default: none")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help=f"require `Authorization: Bearer KEY` on /api and /v1 (default: ${KEY_ENV}, else none)")
    p.add_argument("--allow-training", action="store_true",
                   help="let the page train models on an address beyond this machine without --api-key "
                   "(training is on by default only on 127.0.0.1 or with a key: it takes the cores for minutes)")
    p.add_argument("--max-upload", type=int, default=defaults.max_upload, metavar="BYTES",
                   help=f"largest text to train on (a POST /api/train body), 413 above it (default: {defaults.max_upload})")
    p.add_argument("--max-train-time", type=float, default=defaults.max_train_time, metavar="SECONDS",
                   help=f"longest a training job trains (default: {defaults.max_train_time:g})")
    p.add_argument("--max-train-jobs", type=int, default=defaults.max_train_jobs, metavar="N",
                   help=f"training jobs at once; the others wait (default: {defaults.max_train_jobs})")
    p.add_argument("--train-queue", type=int, default=defaults.train_queue, metavar="N",
                   help=f"training jobs waiting; past it, 429 (default: {defaults.train_queue})")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch threads for each product of a model's batch (default: 1: on 2 cores, 2 threads "
                   "wrote less under load, the other core being busy with HTTP; each served model's batch has a "
                   "thread of its own; 0 = torch's choice)")
    add_run_flags(p, run=None)
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default: info)")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from charrnn.device import pick_device
    from charrnn.serve.app import create_app
    from charrnn.serve.registry import check_runs

    if not 0 <= args.port <= 65535:
        raise CharRNNError(f"--port must be in [0, 65535] (got {args.port})")
    if args.threads < 0:
        raise CharRNNError(f"--threads must be >= 0 (got {args.threads})")
    limits = Limits(args.max_rows, args.max_queue, args.max_concurrency, args.timeout, args.max_body,
                    max_upload=args.max_upload, max_train_time=args.max_train_time,
                    max_train_jobs=args.max_train_jobs, train_queue=args.train_queue)
    pick_device(args.device)  # an unavailable device is one line now, not a failed start-up
    runs = check_runs(args.path)  # a bad run is one line now; the weights are loaded at start-up
    api_key = args.api_key if args.api_key is not None else os.environ.get(KEY_ENV) or None
    if api_key is not None and not api_key.strip():
        raise CharRNNError("--api-key: the key is empty")
    if not _is_loopback(args.host) and not api_key:
        print(f"charrnn: warning: listening on {args.host} without --api-key: anyone who can reach it can use "
              f"the models", file=sys.stderr)
    training = bool(_is_loopback(args.host) or api_key or args.allow_training)
    served = ", ".join(runs) or "no model yet" + (" (train one on the page)" if training else "")
    print(f"charrnn: serving {served} on http://{args.host}:{args.port}/ (API docs at /docs)",
          file=sys.stderr, flush=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    app = create_app(args.path, limits=limits, cors=args.cors, device=args.device, which=args.checkpoint,
                     api_key=api_key, training=training)
    config = uvicorn.Config(app, host=args.host, port=args.port, lifespan="on", log_level=args.log_level,
                            timeout_graceful_shutdown=5, server_header=False)
    server = _graceful_server_class()(config)
    # uvicorn re-raises the stop signal after its shutdown: handled here, so a requested stop exits 0
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 2


def _graceful_server_class():
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """On SIGTERM or Ctrl-C, first end the requests under way (streams get an `error` event), so
        the shutdown does not wait for them; then uvicorn's own shutdown."""

        def handle_exit(self, sig, frame) -> None:
            server = getattr(self.config.app.state, "server", None)
            if server is not None:
                server.stop()
            super().handle_exit(sig, frame)

    return GracefulServer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


COMMANDS = {"serve": cmd_serve}
