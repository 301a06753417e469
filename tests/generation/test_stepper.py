"""The fast single-step path computes what the model's forward computes: exactly in fp32, and
within bf16 rounding with bf16 products."""

import pytest
import torch

import charrnn.generation.stepper as stepper_module
from charrnn.model import CharRNN, ModelConfig
from charrnn.generation.stepper import Stepper, packed_bf16_works

CELLS = ["rnn", "lstm", "gru"]


def run_steps(model, stepper, ids):
    """Feed ids (B, T) a column at a time; every step's logits (B, T, V) and the final state."""
    state, logits = model.init_state(ids.shape[0]), []
    for t in range(ids.shape[1]):
        out, state = stepper.step(ids[:, t], state)
        logits.append(out)
    return torch.stack(logits, dim=1), state


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed, layers, batch, output", [(0, 1, 3, "full"), (8, 2, 3, "full"), (8, 3, 3, "full"),
                                                           (8, 2, 1, "full"), (8, 2, 3, "tied"), (8, 2, 1, "tied")])
def test_fp32_steps_equal_the_fused_forward(cell, embed, layers, batch, output):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(cell=cell, layers=layers, hidden=16, embed=embed, output=output).resolved(13)).eval()
    ids = torch.randint(0, 13, (batch, 20))
    with torch.no_grad():
        full, full_state = model(ids)
    logits, state = run_steps(model, Stepper(model, bf16=False), ids)
    assert torch.allclose(logits, full, atol=1e-5)
    for a, b in zip(state, full_state):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.skipif(not packed_bf16_works(), reason="no native bf16 on this CPU: steps are fp32")
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch, output", [(1, "full"), (16, "full"), (1, "tied")])
def test_bf16_products_stay_close_along_the_text(cell, batch, output, monkeypatch):
    monkeypatch.setattr(stepper_module, "BF16_MIN_WEIGHTS", 0)  # this small model's products in bf16 too
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(cell=cell, layers=2, hidden=32, embed=8, output=output).resolved(9)).eval()
    ids = torch.randint(0, 9, (batch, 60))
    with torch.no_grad():
        full, _ = model(ids)
    stepper = Stepper(model)
    assert stepper.bf16 and all(p.bf16 for p in stepper.recurrent)
    logits, state = run_steps(model, stepper, ids)
    assert state[0].dtype == torch.float32  # the state stays fp32: no rounding builds up
    assert (logits - full).abs().max() < 0.05  # bf16 products: close, not exact


def test_small_products_stay_fp32():
    model = CharRNN(ModelConfig(cell="lstm", layers=2, hidden=16, embed=8).resolved(9)).eval()
    stepper = Stepper(model)
    assert not any(p.bf16 for p in [*stepper.recurrent, stepper.head])  # below BF16_MIN_WEIGHTS


def test_without_the_input_table(monkeypatch):
    monkeypatch.setattr(stepper_module, "TABLE_LIMIT_BYTES", 0)
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(cell="lstm", layers=2, hidden=16, embed=0).resolved(9)).eval()
    ids = torch.randint(0, 9, (2, 5))
    with torch.no_grad():
        full, _ = model(ids)
    stepper = Stepper(model, bf16=False)
    assert stepper.table is None
    logits, _ = run_steps(model, stepper, ids)
    assert torch.allclose(logits, full, atol=1e-5)


@pytest.mark.parametrize("bf16", [False, True])
def test_a_prime_is_read_in_one_call_and_comes_back_fp32(bf16, monkeypatch):
    from charrnn.generation.decoding import step

    if bf16 and not packed_bf16_works():
        pytest.skip("no native bf16 on this CPU")
    monkeypatch.setattr(stepper_module, "BF16_MIN_WEIGHTS", 0 if bf16 else 1 << 40)
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(cell="lstm", layers=2, hidden=32, embed=8).resolved(9)).eval()
    ids = torch.randint(0, 9, (2, 50))
    with torch.no_grad():
        full, full_state = model(ids)
    logits, state = step(model, ids)  # in bf16 when the Stepper's layers are
    assert logits.dtype == torch.float32 and all(s.dtype == torch.float32 for s in state)
    tolerance = 0.05 if bf16 else 1e-5
    assert (logits - full[:, -1]).abs().max() < tolerance
    assert bool((logits - full[:, -1]).abs().max() > 1e-4) == bf16  # bf16 did run (and only when asked)
    assert all((a - b).abs().max() < tolerance for a, b in zip(state, full_state))


def test_decoding_rebuilds_the_stepper_when_the_weights_change():
    from charrnn.generation.decoding import step

    torch.manual_seed(3)
    model = CharRNN(ModelConfig(cell="lstm", layers=1, hidden=16, embed=8).resolved(9)).eval()
    ids, state = torch.tensor([[4]]), model.init_state(1)
    before, _ = step(model, ids, state)
    with torch.no_grad():
        model.head.bias.add_(1.0)  # in place: a new version
    assert torch.allclose(step(model, ids, state)[0], before + 1.0, atol=1e-5)
    for p in model.parameters():
        p.data = p.data * 2  # new storage, as model.to(...) makes: no new version
    with torch.no_grad():
        expected, _ = model(ids, state)
    assert torch.allclose(step(model, ids, state)[0], expected[:, -1], atol=1e-5)
