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
