"""Interactive completion: in-process with scripted input, then as a person would, through a pseudo-terminal."""

import io
import os
import pty
import select
import subprocess
import sys
import time

import charrnn
from charrnn.commands.interactive import command, interactive

SETTINGS = dict(length=20, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, repetition_window=32,
                no_repeat_ngram=0, beam=0, seed=1, stop=None)


def scripted(lines):
    """An `input` that types `lines`, then Ctrl-D."""
    typed = iter(lines)

    def read(prompt):
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    return read


def test_completions_and_settings_between_turns(tiny_run):
    model = charrnn.load(tiny_run)
    out = io.StringIO()
    settings = dict(SETTINGS)
    code = interactive(model, settings, scripted(["ROMEO:", ":temperature 0", ":length 12", "ROMEO:", "ROMEO:",
                                                  ":beam 3", "ROMEO:", ":show", ":help", ":temperature hot",
                                                  ":top-p 2", ":nope"]), out)
    assert code == 0
    shown = out.getvalue()
    lines = shown.splitlines()
    first = model.generate("ROMEO:", length=20, seed=1)
    greedy = model.generate("ROMEO:", length=12, temperature=0)
    beam = model.generate("ROMEO:", length=12, beam=3)
    assert f"ROMEO:{first}\n" in shown and shown.count(f"ROMEO:{greedy}\n") >= 2  # temperature 0: the same twice
    assert f"ROMEO:{beam}\n" in shown
    assert "temperature = 0.0" in lines and "length = 12" in lines and "beam = 3" in lines
    assert "commands:" in lines and any(line.strip().startswith(":repetition-penalty") for line in lines)
    assert "error: :temperature needs a value such as 0.0 (got 'hot')" in lines
    assert any(line.startswith("error: :top-p must be in (0, 1]") for line in lines)
    assert "unknown command :nope (:help lists them)" in lines
    assert settings["top_p"] == 1.0  # a refused value leaves the setting as it was


def test_lines_mode_completes_to_the_end_token(tiny_lines_run):
    out = io.StringIO()
    interactive(charrnn.load(tiny_lines_run), dict(SETTINGS, length=200), scripted(["Tyr", ""]), out)
    completions = out.getvalue().splitlines()[1:]
    assert completions[0].startswith("Tyr") and 3 < len(completions[0]) < 200


def test_command_parsing():
    settings = dict(SETTINGS)
    assert command(":seed none", settings) == "seed = None" and settings["seed"] is None
    assert command(":stop KING", settings) == "stop = KING" and settings["stop"] == "KING"
    assert command(":no_repeat_ngram 3", settings) == "no-repeat-ngram = 3"
    assert command(":length -1", settings).startswith("error: length must be >= 0")


# --- through a pseudo-terminal ----------------------------------------------------------------------------------

class Terminal:
    """`charrnn` on a pseudo-terminal, read and typed into as a person would, with bounded waits."""

    def __init__(self, argv):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited {timeout}s for {text!r}; the terminal shows {self.seen[-500:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the other end closed
                    chunk = b""
                assert chunk, f"the program ended before {text!r}; the terminal shows {self.seen[-500:]!r}"
                self.seen += chunk.decode("utf-8", "replace")
        before, _, self.seen = self.seen.partition(text)
        return before

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)


def test_a_person_at_a_terminal(tiny_run):
    expected = "ROMEO:" + charrnn.load(tiny_run).generate("ROMEO:", length=25, seed=4)
    term = Terminal([sys.executable, "-m", "charrnn", "sample", str(tiny_run), "--interactive", "--length", "25",
                     "--seed", "4", "--device", "cpu"])
    try:
        term.read_until("Ctrl-D to leave")
        term.read_until("> ")
        term.type("ROMEO:\n")
        shown = term.read_until("> ").replace("\r\n", "\n")
        assert shown.count("ROMEO:") >= 2 and expected in shown  # the typed line (echoed), then the completion
        term.type(":temperature 0\n")
        assert "temperature = 0.0" in term.read_until("> ")
        term.type(":help\n")
        assert ":repetition-penalty" in term.read_until("> ")
        term.type("JULIET:\n")
        assert "JULIET:" in term.read_until("> ")
        term.type("\x04")  # Ctrl-D
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_a_seeded_session_replays_and_its_turns_differ(tiny_run):
    model = charrnn.load(tiny_run)
    shown = []
    for _ in range(2):
        out = io.StringIO()
        interactive(model, dict(SETTINGS, seed=5), scripted(["ROMEO:", "ROMEO:"]), out)
        shown.append(out.getvalue())
    assert shown[0] == shown[1]  # the same session again
    first, second = (model.generate("ROMEO:", length=20, seed=s) for s in (5, 6))  # turn k: seed + k
    assert first != second and f"ROMEO:{first}\n" in shown[0] and f"ROMEO:{second}\n" in shown[0]
