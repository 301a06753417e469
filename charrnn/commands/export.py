"""`charrnn export RUN --format onnx|web [-o DIR] [--force]`: the flags, then charrnn.export.folder.
Wired into charrnn.commands.main as `add_parsers(commands)` and COMMANDS; onnx and torch are imported
when the command runs."""

from __future__ import annotations

import argparse
import time

from charrnn.commands.arguments import add_run_flags
from charrnn.errors import CharRNNError


def add_parsers(commands) -> None:
    p = commands.add_parser("export", help="export a run: ONNX, or a static web page that writes in the browser",
                            description="Write a folder that runs the model without charrnn: ONNX (for "
                            "onnxruntime and other runtimes) or a static web page (no server, no network).")
    add_run_flags(p, device=False)
    p.add_argument("--format", required=True, metavar="FORMAT", help="onnx or web")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="the folder to write (default: export-onnx or export-web in the run folder)")
    p.add_argument("--force", action="store_true", help="replace the folder if it is not empty")
    p.add_argument("--poems", action="store_true",
                   help="web: offer the poem form (default: when the vocabulary has ， and 。; refused without them)")


def cmd_export(args: argparse.Namespace) -> int:
    from charrnn.export.folder import FORMATS, export_onnx, export_web, folder_size

    if args.format not in FORMATS:
        raise CharRNNError(f"--format {args.format!r}: choose {' or '.join(FORMATS)}")
    start = time.perf_counter()
    if args.format == "onnx":
        out = export_onnx(args.run, args.out, args.force, args.checkpoint)
    else:
        out = export_web(args.run, args.out, args.force, args.checkpoint, poems=args.poems or None)
    print(f"{out} ({folder_size(out) / 1e6:.1f} MB, {time.perf_counter() - start:.1f}s)")
    if args.format == "web":
        print(f"serve it with any static server, e.g. `python -m http.server -d {out}`, and open the page")
    return 0


COMMANDS = {"export": cmd_export}
