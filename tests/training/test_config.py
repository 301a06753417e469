"""TrainConfig and presets: validation, presets fill in only what the user did not give."""

import pytest

from charrnn.training.config import PRESETS, TrainConfig, apply_preset
from charrnn.errors import CharRNNError
from charrnn.training.preparation import prepare


def test_preset_fills_in_and_explicit_flags_win(tmp_path, shakespeare_file):
    setup = prepare({"inputs": [str(shakespeare_file)], "out": str(tmp_path / "r"), "preset": "cpu-2min",
                     "lr": 0.001, "batch_size": 4, "seq_len": 16}, {"layers": 1})
    assert setup.model_config.hidden == PRESETS["cpu-2min"]["hidden"]
    assert setup.model_config.layers == 1 and setup.config.lr == 0.001  # the user's flags win
    assert setup.config.max_time == PRESETS["cpu-2min"]["max_time"]


def test_unknown_preset():
    with pytest.raises(CharRNNError, match="--preset"):
        apply_preset({"preset": "tpu"}, {})


def test_no_budget_means_the_default_step_limit():
    assert TrainConfig().step_limit == 2000
    assert TrainConfig(max_time=60).step_limit == 0


def test_cpu_10min_is_the_defaults_with_a_ten_minute_budget():
    """The defaults are what was measured for ten minutes: the preset only sets the budget."""
    assert apply_preset({"preset": "cpu-10min"}, {}) == ({"preset": "cpu-10min", "max_time": 600}, {})


def test_a_presets_seq_len_is_for_stream_mode(tmp_path, shakespeare_file):
    """Resolved once the corpus is read, so the mode is known without opening the dataset twice."""
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{'Abcdefghij' * (1 + i % 9)}\n" for i in range(60)), encoding="utf-8")
    lines = prepare({"inputs": [str(names)], "mode": "lines", "out": str(tmp_path / "l"), "preset": "cpu-2min"}, {})
    lines.lock.release()
    assert lines.config.seq_len > 64 and lines.config.max_time == 115  # the longest line, the preset's time
    stream = prepare({"inputs": [str(shakespeare_file)], "out": str(tmp_path / "s"), "preset": "cpu-2min"}, {})
    stream.lock.release()
    assert stream.config.seq_len == 64 and "seq_len" not in apply_preset({"preset": "cpu-2min"}, {})[0]


def test_the_engine_choices_are_the_engines():
    from dataclasses import fields

    from charrnn.training.engines import ENGINES

    choices = next(f for f in fields(TrainConfig) if f.name == "engine").metadata["choices"]
    assert set(choices) == set(ENGINES)


def test_the_numpy_engine_runs_unregularised_by_default(tmp_path, shakespeare_file):
    setup = prepare({"inputs": [str(shakespeare_file)], "out": str(tmp_path / "r"), "engine": "numpy",
                     "batch_size": 2, "seq_len": 8}, {"hidden": 8})
    setup.lock.release()
    m = setup.model_config
    assert (m.dropout, m.weight_drop, m.input_dropout, setup.config.weight_decay) == (0, 0, 0, 0)
    assert m.embed == 0


def test_a_preset_leaves_the_numpy_engine_unregularised(tmp_path, shakespeare_file):
    setup = prepare({"inputs": [str(shakespeare_file)], "out": str(tmp_path / "r"), "engine": "numpy",
                     "preset": "cpu-2min"}, {"embed": 0})
    setup.lock.release()
    assert setup.model_config.dropout == setup.model_config.input_dropout == 0 and setup.model_config.hidden == 256


def test_a_fine_tuned_lines_run_keeps_its_lines_whole_under_a_preset(tmp_path, tiny_lines_run):
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{'Abcdefghij' * (1 + i % 9)}\n" for i in range(60)), encoding="utf-8")
    setup = prepare({"inputs": [str(names)], "out": str(tmp_path / "ft"), "init_from": str(tiny_lines_run),
                     "preset": "cpu-2min"}, {})
    setup.lock.release()
    assert setup.config.mode == "lines" and setup.config.seq_len > 64  # the longest line, not the preset's 64
    assert setup.model_config.hidden == 32 and setup.config.max_time == 115  # the base's model, the preset's time
