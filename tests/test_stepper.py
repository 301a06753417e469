"""The fast single-step path computes exactly what the model's forward computes."""

import pytest
import torch

from charrnn.model import CharRNN, ModelConfig
from charrnn.stepper import Stepper


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embed, layers", [(0, 1), (8, 2), (8, 3)])
def test_steps_equal_the_fused_forward(cell, embed, layers):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(cell=cell, layers=layers, hidden=16, embed=embed).resolved(13)).eval()
    ids = torch.randint(0, 13, (3, 20))
    with torch.no_grad():
        full, full_state = model(ids)
    stepper, state = Stepper(model), model.init_state(3)
    for t in range(ids.shape[1]):
        logits, state = stepper.step(ids[:, t], state)
        assert torch.allclose(logits, full[:, t], atol=1e-5), t
    for a, b in zip(state, full_state):
        assert torch.allclose(a, b, atol=1e-5)


def test_wide_batches_agree_in_bf16():
    from charrnn.stepper import BF16_MIN_BATCH

    torch.manual_seed(1)
    model = CharRNN(ModelConfig(cell="lstm", layers=2, hidden=32, embed=8).resolved(9)).eval()
    stepper = Stepper(model)
    if stepper.wide is None:
        pytest.skip("no native bf16 on this CPU: wide batches use fp32 too")
    ids = torch.randint(0, 9, (BF16_MIN_BATCH, 10))
    with torch.no_grad():
        full, _ = model(ids)
    state = model.init_state(BF16_MIN_BATCH)
    for t in range(10):
        logits, state = stepper.step(ids[:, t], state)
        assert state[0].dtype == torch.float32
        assert torch.allclose(logits, full[:, t], atol=0.05), t  # bf16 products: close, not exact


def test_without_the_input_table(monkeypatch):
    import charrnn.stepper as stepper_module

    monkeypatch.setattr(stepper_module, "TABLE_LIMIT_BYTES", 0)
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(cell="lstm", layers=2, hidden=16, embed=0).resolved(9)).eval()
    ids = torch.randint(0, 9, (2, 5))
    with torch.no_grad():
        full, _ = model(ids)
    stepper, state = Stepper(model), model.init_state(2)
    assert stepper.table is None
    for t in range(5):
        logits, state = stepper.step(ids[:, t], state)
        assert torch.allclose(logits, full[:, t], atol=1e-5)
