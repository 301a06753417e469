"""The numpy engine against PyTorch's nn.RNN / nn.LSTM / nn.GRU + nn.Linear, in float64.

Weights go numpy -> torch with `to_torch_state_dict`; the same one-hot inputs (a zero row
for None) and starting state go into both; logits, final state and every gradient must agree.
"""

import numpy as np
import pytest

from charrnn.reference import (
    forward,
    from_torch_state,
    from_torch_state_dict,
    get_cell,
    init_params,
    loss_and_grads,
    to_torch_state,
    to_torch_state_dict,
    torch_names,
)

torch = pytest.importorskip("torch")
nn = torch.nn

V, H = 5, 4
INPUTS = [None, 1, 2, 2, 4, 0, 3]  # None: the zero vector that starts a line
TARGETS = [1, 2, 3, 4, 0, 1, 1]
RTOL, ATOL = 1e-5, 1e-10


def random_model(cell, layers, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0.0, 0.5, v.shape) for k, v in init_params(cell, V, H, layers).items()}
    size = get_cell(cell).state_size
    state = [tuple(rng.normal(0.0, 0.5, (H, 1)) for _ in range(size)) for _ in range(layers)]
    return params, state


def torch_model(cell, layers, state_dict):
    """nn.RNN/LSTM/GRU (batch_first) and nn.Linear in float64, loaded from a CharRNN-style state dict."""
    kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    rnn = kind(input_size=V, hidden_size=H, num_layers=layers, batch_first=True, **extra).double()
    head = nn.Linear(H, V).double()
    for prefix, module in (("rnn.", rnn), ("head.", head)):
        part = {k[len(prefix) :]: torch.from_numpy(v) for k, v in state_dict.items() if k.startswith(prefix)}
        module.load_state_dict(part)
    return rnn, head


def one_hot_batch(inputs):
    x = torch.zeros(1, len(inputs), V, dtype=torch.float64)  # (B=1, T, V)
    for t, i in enumerate(inputs):
        if i is not None:
            x[0, t, i] = 1.0
    return x


def run_torch(cell, rnn, head, state):
    """Loss summed over steps, logits (T, V), final state as numpy; gradients left in .grad."""
    torch_state = tuple(torch.from_numpy(s) for s in to_torch_state(state))  # each (L, 1, H)
    out, final = rnn(one_hot_batch(INPUTS), torch_state if cell == "lstm" else torch_state[0])
    logits = head(out)[0]  # (T, V)
    loss = nn.functional.cross_entropy(logits, torch.tensor(TARGETS), reduction="sum")
    loss.backward()
    final = final if cell == "lstm" else (final,)
    return loss.item(), logits.detach().numpy(), from_torch_state(tuple(f.detach().numpy() for f in final))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_state_and_gradients_match_pytorch(cell, layers):
    params, state = random_model(cell, layers)
    rnn, head = torch_model(cell, layers, to_torch_state_dict(params, cell))
    torch_loss, torch_logits, torch_final = run_torch(cell, rnn, head, state)

    logits, final = forward(params, cell, INPUTS, state)
    loss, grads, final2 = loss_and_grads(params, cell, INPUTS, TARGETS, state)
    np.testing.assert_allclose(logits, torch_logits, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loss, torch_loss, rtol=RTOL)
    for ours, theirs in zip(final, torch_final):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    assert all(np.array_equal(a, b) for s, s2 in zip(final, final2) for a, b in zip(s, s2))

    # Each torch parameter's gradient equals that of the numpy parameter it sums into.
    torch_params = {f"rnn.{k}": p for k, p in rnn.named_parameters()}
    torch_params.update({f"head.{k}": p for k, p in head.named_parameters()})
    for name, parts in torch_names(cell, layers).items():
        for part in parts:
            theirs = torch_params[part].grad.numpy().reshape(grads["d" + name].shape)
            np.testing.assert_allclose(grads["d" + name], theirs, rtol=RTOL, atol=ATOL, err_msg=f"{name} vs {part}")


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_numpy_torch_numpy_round_trip_is_exact(cell, layers):
    params, _ = random_model(cell, layers)
    state_dict = to_torch_state_dict(params, cell)
    rnn, head = torch_model(cell, layers, state_dict)  # through real tensors and back
    back_from_torch = {f"rnn.{k}": v.detach().numpy() for k, v in rnn.state_dict().items()}
    back_from_torch.update({f"head.{k}": v.detach().numpy() for k, v in head.state_dict().items()})
    assert set(back_from_torch) == set(state_dict)
    back = from_torch_state_dict(back_from_torch, cell)
    assert set(back) == set(params)
    for k in params:
        assert back[k].shape == params[k].shape and np.array_equal(back[k], params[k]), k
        assert not np.shares_memory(back[k], back_from_torch[torch_names(cell, layers)[k][0]])


def test_torch_biases_both_count_and_embedding_folds_into_the_input_weight():
    """A torch-initialised model with an embedding and two nonzero biases: same logits in numpy."""
    torch.manual_seed(0)
    embed = 3
    embedding = nn.Embedding(V, embed).double()
    rnn = nn.LSTM(input_size=embed, hidden_size=H, num_layers=2, batch_first=True).double()
    head = nn.Linear(H, V).double()
    state_dict = {"embedding.weight": embedding.weight.detach().numpy()}
    state_dict.update({f"rnn.{k}": v.detach().numpy() for k, v in rnn.state_dict().items()})
    state_dict.update({f"head.{k}": v.detach().numpy() for k, v in head.state_dict().items()})

    ids = [0, 3, 1, 4, 2]
    with torch.no_grad():
        out, _ = rnn(embedding(torch.tensor([ids])))
        torch_logits = head(out)[0].numpy()
    params = from_torch_state_dict(state_dict, "lstm")
    assert params["Wx"].shape == (4 * H, V)
    logits, _ = forward(params, "lstm", ids)
    np.testing.assert_allclose(logits, torch_logits, rtol=RTOL, atol=ATOL)


def test_from_torch_state_dict_refuses_another_cell_or_depth():
    params, _ = random_model("gru", 2)
    state_dict = to_torch_state_dict(params, "gru")
    with pytest.raises(ValueError, match="unexpected"):
        from_torch_state_dict(state_dict, "gru", layers=1)
    with pytest.raises(ValueError, match="another cell"):
        from_torch_state_dict(to_torch_state_dict(random_model("lstm", 1)[0], "lstm"), "gru")


@pytest.mark.parametrize("cell, embed", [("rnn", 0), ("lstm", 3), ("gru", 0)])
def test_the_packages_char_rnn_loads_into_numpy_and_back(cell, embed):
    """Against charrnn.model.CharRNN itself: its state dict's names are the ones in the table."""
    model_module = pytest.importorskip("charrnn.model")
    torch.manual_seed(0)
    config = model_module.ModelConfig(vocab_size=V, cell=cell, layers=2, hidden=H, embed=embed, dropout=0.0)
    model = model_module.CharRNN(config).double().eval()
    state_dict = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    params = from_torch_state_dict(state_dict, cell)

    ids = [0, 3, 1, 4, 2, 2]
    with torch.no_grad():
        torch_logits = model(torch.tensor([ids]))[0][0].numpy()
    logits, _ = forward(params, cell, ids)
    np.testing.assert_allclose(logits, torch_logits, rtol=RTOL, atol=ATOL)

    if embed == 0:  # and back: a fresh one-hot CharRNN gives the same logits
        fresh = model_module.CharRNN(config).double().eval()
        fresh.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(params, cell).items()})
        with torch.no_grad():
            np.testing.assert_allclose(fresh(torch.tensor([ids]))[0][0].numpy(), torch_logits, rtol=RTOL, atol=ATOL)
