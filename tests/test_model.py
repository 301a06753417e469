"""CharRNN: shapes, carried state, and that every cell type learns."""

import pytest
import torch
import torch.nn.functional as F

from charrnn.errors import CharRNNError
from charrnn.model import CharRNN, ModelConfig, detach_state
from charrnn.model_config import DROPOUTS


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embed", [0, 8])
def test_shapes_and_state(cell, embed):
    model = CharRNN(ModelConfig(cell=cell, layers=2, hidden=16, embed=embed).resolved(11))
    idx = torch.randint(0, 11, (3, 7))
    logits, state = model(idx)
    assert logits.shape == (3, 7, 11)
    assert len(state) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (2, 3, 16) for s in state)
    assert all(a.shape == b.shape for a, b in zip(state, model.init_state(3)))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_chunked_forward_with_carried_state_equals_full_forward(cell):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(cell=cell, layers=2, hidden=16).resolved(9)).eval()
    idx = torch.randint(0, 9, (2, 30))
    full, _ = model(idx)
    state, pieces = None, []
    for chunk in idx.split(7, dim=1):
        logits, state = model(chunk, state)
        state = detach_state(state)
        pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_cell_learns_a_small_corpus(cell, shakespeare_text):
    from charrnn.vocab import Vocabulary

    torch.manual_seed(0)
    text = shakespeare_text[:1100]
    vocab = Vocabulary.from_text(text)
    ids = torch.from_numpy(vocab.encode(text).astype("int64"))
    model = CharRNN(ModelConfig(cell=cell, layers=1, hidden=48).resolved(len(vocab)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
    x, y = ids[:1024].reshape(16, 64), ids[1:1025].reshape(16, 64)
    losses = []
    for _ in range(40):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0], (losses[0], losses[-1])
    assert losses[-1] < 2.9  # below the unigram entropy of English text (~3.3 nats)


def test_one_hot_for_small_vocab_and_embedding_for_large():
    assert ModelConfig().resolved(65).embed == 64
    assert ModelConfig(embed=0).resolved(65).embed == 0
    assert ModelConfig().resolved(5000).embed == 256
    assert ModelConfig(embed=32).resolved(65).embed == 32


def test_tied_output_for_large_vocabularies():
    assert ModelConfig().resolved(65).output == "full"
    assert ModelConfig().resolved(5000).output == "tied"
    assert ModelConfig(embed=0).resolved(5000).output == "full"  # one-hot input: nothing to tie to
    assert ModelConfig(output="full").resolved(5000).output == "full"
    assert ModelConfig(output="tied").resolved(65).output == "tied"
    full = CharRNN(ModelConfig(hidden=64, embed=16, output="full").resolved(1000))
    tied = CharRNN(ModelConfig(hidden=64, embed=16, output="tied").resolved(1000))
    # the output's V x H weights become H x E (the projection) and reuse the embedding's V x E
    assert full.num_parameters() - tied.num_parameters() == 1000 * 64 - 64 * 16
    logits, _ = tied(torch.randint(0, 1000, (2, 5)))
    assert logits.shape == (2, 5, 1000)


def test_the_tied_output_trains_the_embedding_of_targets():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(layers=1, hidden=16, embed=8, output="tied").resolved(50))
    x = torch.full((1, 4), 3)  # input is always id 3, the target always id 7
    logits, _ = model(x)
    F.cross_entropy(logits.flatten(0, 1), torch.full((4,), 7)).backward()
    grad = model.embedding.weight.grad
    assert grad[7].abs().sum() > 0 and grad[3].abs().sum() > 0  # target (output side) and input rows


@pytest.mark.parametrize("kwargs", [{"cell": "transformer"}, {"layers": 0}, {"hidden": -1}, {"dropout": 1.0},
                                    {"embed": -2}, {"output": "shared"}, {"output": "tied", "embed": 0}])
def test_invalid_configs_are_refused(kwargs):
    with pytest.raises(CharRNNError):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("output", ["full", "tied"])
def test_output_prior_is_the_log_unigram_frequency(output):
    model = CharRNN(ModelConfig(layers=1, hidden=16, embed=8, output=output).resolved(6))
    counts = torch.tensor([0, 0, 10, 30, 60, 0])  # ids 0, 1 and 5 never seen: half a count each
    model.set_output_prior(counts)
    bias = model.head.bias if output == "full" else model.output_bias
    expected = torch.tensor([0.5, 0.5, 10, 30, 60, 0.5]) / 100
    assert torch.allclose(bias.detach().exp(), expected, rtol=1e-5)


REGULARISERS = dict(dropout=0.2, weight_drop=0.5, input_dropout=0.3, embed_dropout=0.2)
NO_DROPOUT = {name: 0.0 for name in DROPOUTS}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_regularisers_act_in_training_and_are_off_at_eval(cell):
    torch.manual_seed(0)
    dropped = CharRNN(ModelConfig(cell=cell, layers=2, hidden=16, embed=8, **REGULARISERS).resolved(9))
    plain = CharRNN(ModelConfig(cell=cell, layers=2, hidden=16, embed=8, **NO_DROPOUT).resolved(9))
    plain.load_state_dict(dropped.state_dict())  # the same weights: the options add none
    idx = torch.randint(0, 9, (3, 12))
    dropped.eval(), plain.eval()
    assert torch.equal(dropped(idx)[0], plain(idx)[0])
    dropped.train()
    first, second = dropped(idx)[0], dropped(idx)[0]
    assert not torch.equal(first, second)  # new masks each call
    before = {k: v.clone() for k, v in dropped.state_dict().items()}
    first.sum().backward()
    assert all(torch.equal(before[k], v) for k, v in dropped.state_dict().items())  # DropConnect leaves weights be
    assert dropped.rnn.weight_hh_l0.grad.abs().sum() > 0  # and the gradient reaches them through the mask


@pytest.mark.parametrize("name", DROPOUTS)
def test_each_regulariser_changes_the_training_forward(name):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(layers=1, hidden=16, embed=8, **{**NO_DROPOUT, name: 0.5}).resolved(9)).train()
    idx = torch.randint(0, 9, (2, 10))
    assert not torch.equal(model(idx)[0], model.eval()(idx)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_regularisation_strength_scales_every_dropout(cell):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(cell=cell, layers=2, hidden=16, embed=8, **REGULARISERS).resolved(9)).train()
    idx = torch.randint(0, 9, (3, 12))
    model.set_regularisation(0.0)  # off: the training forward is the eval forward
    assert torch.equal(model(idx)[0], model.eval()(idx)[0])
    model.train().set_regularisation(0.5)
    assert model.rnn.dropout == pytest.approx(0.1) and model.strength == 0.5
    assert not torch.equal(model(idx)[0], model(idx)[0])
    model.set_regularisation(1.0)
    assert model.rnn.dropout == pytest.approx(0.2) and model.strength == 1.0


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_dropout_masks_drop_p_and_scale_the_rest(p):
    """keep_mask draws four masks' elements from each 64-bit random number (faster than bernoulli_):
    still 0 with probability p and 1/(1 - p) otherwise, so the expected value is unchanged, and
    the same under the same seed."""
    from charrnn.model import dropout, keep_mask

    torch.manual_seed(0)
    like = torch.empty(0, dtype=torch.bfloat16)
    mask = keep_mask(like, (1000, 1001), p)  # an odd number of elements: not a multiple of four
    assert mask.shape == (1000, 1001) and mask.dtype == torch.bfloat16
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / (1 - p), rel=4e-3)]  # bf16's 1/(1 - p)
    assert (mask == 0).float().mean().item() == pytest.approx(p, abs=2e-3)
    assert mask.float().mean().item() == pytest.approx(1.0, abs=5e-3)
    assert not torch.equal(mask, keep_mask(like, (1000, 1001), p))  # new masks each call
    torch.manual_seed(0)
    assert torch.equal(mask, keep_mask(like, (1000, 1001), p))  # the same seed, the same masks
    locked = keep_mask(like, (64, 1, 8), p)  # locked_dropout's (B, 1, F): an element of its own per unit
    assert locked.shape == (64, 1, 8) and 0 < (locked == 0).float().mean().item() < 1
    assert torch.isfinite(keep_mask(like, (64,), 0.999999)).all()  # p just under 1: no division by zero
    x = torch.randn(5, 7)
    assert torch.equal(dropout(x, p, training=False), x) and torch.equal(dropout(x, 0.0, training=True), x)


def test_locked_dropout_keeps_one_mask_along_time():
    from charrnn.model import locked_dropout

    torch.manual_seed(0)
    out = locked_dropout(torch.ones(4, 50, 6), 0.5, training=True)
    assert torch.equal(out, out[:, :1].expand_as(out))  # the same units dropped at every step
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(locked_dropout(torch.ones(2, 3, 4), 0.5, training=False), torch.ones(2, 3, 4))


def test_bad_regulariser_values_are_one_line_errors():
    with pytest.raises(CharRNNError, match="--weight-drop must be in"):
        ModelConfig(weight_drop=1.0)
    with pytest.raises(CharRNNError, match="--embed-dropout drops rows"):
        ModelConfig(embed=0, embed_dropout=0.1)
