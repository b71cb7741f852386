"""record_activations on the inputs real users pass: memory, batch axes, dtypes, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset

from topolens.activations import estimate_recording_memory, record_activations
from topolens.exceptions import (
    InvalidInputError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
    TopolensWarning,
)


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))


# --------------------------------------------------------------------------- memory
def test_memory_estimated_before_allocating_points_to_store(tmp_path) -> None:
    model = _mlp()
    xs = torch.randn(100, 5)
    need = estimate_recording_memory(100, {"0": 16, "1": 16, "2": 3})
    assert need == 100 * 35 * 4
    with pytest.raises(MemoryBudgetError, match=r"100 inputs x 35 neurons.*store=DIR.*'0' with 16"):
        record_activations(model, xs, memory_limit=need - 1)
    assert len(record_activations(model, xs, memory_limit=need)) == 3
    # an unknown number of inputs (a generator) is checked batch by batch, concatenation counted
    gen = (xs[i : i + 10] for i in range(0, 100, 10))
    with pytest.raises(MemoryBudgetError, match="unknown"):
        record_activations(model, gen, memory_limit=need)
    half = (xs[i : i + 10] for i in range(0, 50, 10))  # 50 inputs counted twice: exactly the budget
    assert record_activations(model, half, memory_limit=need).n_inputs == 50
    # max_inputs bounds the estimate; the store needs no memory budget
    assert record_activations(model, xs, max_inputs=50, memory_limit=need // 2 + 1).n_inputs == 50
    assert record_activations(model, xs, store=tmp_path / "s", memory_limit=1).n_inputs == 100
    with pytest.raises(InvalidInputError, match="memory_limit"):
        record_activations(model, xs, memory_limit=-5)


@pytest.mark.filterwarnings("ignore:Length of IterableDataset")
def test_dataset_longer_than_its_len_still_records_everything() -> None:
    xs = torch.randn(10, 5)

    class Lying(IterableDataset):
        def __len__(self) -> int:  # our estimate and buffer use this; the data holds more
            return 4

        def __iter__(self):
            return iter(xs)

    acts = record_activations(_mlp(), Lying(), "2", batch_size=3)
    assert acts.n_inputs == 10
    with torch.no_grad():
        np.testing.assert_allclose(acts["2"], _mlp()(xs).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(max_inputs=-3), dict(max_inputs=0), dict(batch_size=0),
                                dict(batch_size=-1), dict(max_inputs=2.5)])
def test_non_positive_counts_are_refused(kw) -> None:
    name = next(iter(kw))
    with pytest.raises(InvalidInputError, match=name):
        record_activations(_mlp(), torch.randn(10, 5), **kw)


# --------------------------------------------------------------------------- batch axis
class SeqFirst(nn.Module):
    """Batch-first data, a sequence-first LSTM inside (its output is (seq, batch, hidden))."""

    def __init__(self, batch_first: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.batch_first = batch_first
        self.lstm = nn.LSTM(3, 4, batch_first=batch_first)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x if self.batch_first else x.transpose(0, 1))
        return self.head(out[:, -1] if self.batch_first else out[-1])


class Raw(nn.Module):
    """A custom module that puts the sequence first (no batch_first attribute to read)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1) * 2.0


def test_sequence_first_lstm_is_recorded_per_input_even_when_seq_equals_batch() -> None:
    xs = torch.randn(8, 4, 3)  # 8 inputs, sequence length 4 == batch size 4
    model = SeqFirst()
    acts = record_activations(model, xs, "lstm", batch_size=4)
    assert acts.shapes["lstm"] == (4, 4)  # (seq, hidden) per input
    with torch.no_grad():
        ref, _ = model.lstm(xs.transpose(0, 1))
    np.testing.assert_allclose(acts["lstm"], ref.transpose(0, 1).reshape(8, -1).numpy(), atol=1e-6)
    # the same weights batch-first give the same rows
    bf = SeqFirst(batch_first=True)
    bf.lstm.load_state_dict(model.lstm.state_dict())
    np.testing.assert_allclose(record_activations(bf, xs, "lstm", batch_size=4)["lstm"], acts["lstm"],
                               atol=1e-6)
    # GRU and MultiheadAttention read batch_first too; tuple outputs use the first element
    gru = nn.GRU(3, 5)
    seq = torch.randn(4, 4, 3)
    wrapped = nn.ModuleDict({"gru": gru})
    wrapped.forward = lambda x: wrapped["gru"](x.transpose(0, 1))  # type: ignore[method-assign]
    acts = record_activations(wrapped, seq, "gru", batch_size=4)
    with torch.no_grad():
        ref, _ = gru(seq.transpose(0, 1))
    np.testing.assert_allclose(acts["gru"], ref.transpose(0, 1).reshape(4, -1).numpy(), atol=1e-6)


def test_custom_sequence_first_output_is_refused_when_lengths_coincide() -> None:
    model = nn.Sequential(Raw())
    xs = torch.randn(8, 4, 3)  # every batch of 4 gives (4, 4, 3): axis 0 looks like the batch
    with pytest.raises(ShapeError, match=r"'0' \(Raw\) is not batch-first.*\(4, 4, 3\).*\(4, 3, 3\)"):
        record_activations(model, xs, "0", batch_size=4)
    with pytest.raises(ShapeError, match="not batch-first"):  # batches of 1: probed with 2
        record_activations(model, torch.randn(3, 1, 2), "0", batch_size=1)
    # no coincidence: the ordinary per-batch check catches it
    with pytest.raises(ShapeError, match="batch dimension first"):
        record_activations(model, torch.randn(8, 5, 3), "0", batch_size=4)
    # a batch-first layer with a coinciding axis is fine and not recorded twice
    conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    acts = record_activations(conv, torch.randn(8, 1, 4, 4), batch_size=4)
    assert acts.n_inputs == 8 and acts.shapes["0"] == (4, 4, 4)


def test_packed_sequence_is_refused() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, h = self.gru(pack_padded_sequence(x, [x.shape[1]] * len(x), batch_first=True))
            return h[-1]

    with pytest.raises(InvalidInputError, match="PackedSequence"):
        record_activations(Packed(), torch.randn(4, 5, 3), "gru")


# --------------------------------------------------------------------------- dtypes, devices
def test_complex_inputs_and_outputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="complex"):
        record_activations(_mlp(), torch.randn(4, 5, dtype=torch.complex64))
    with pytest.raises(InvalidInputError, match="complex"):
        record_activations(_mlp(), np.ones((4, 5), dtype=np.complex128))

    class ToComplex(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.complex(x, x)

    with pytest.raises(InvalidInputError, match=r"'0' \(ToComplex\) returned complex"):
        record_activations(nn.Sequential(ToComplex()), torch.randn(4, 5))


def test_uint8_inputs_cast_to_model_dtype_with_one_warning() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    imgs = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8)
    with pytest.warns(TopolensWarning, match="uint8.*not scaled") as rec:
        acts = record_activations(model, imgs, "1", batch_size=3)
    assert len([w for w in rec if "uint8" in str(w.message)]) == 1
    with torch.no_grad():
        np.testing.assert_allclose(acts["1"], model(imgs.float()).numpy(), rtol=1e-6)
    # numpy uint8 too; a transform means the user handles the scaling: no warning
    scaled = record_activations(model, imgs.numpy(), "1", transform=lambda x: x / 255)
    with torch.no_grad():
        np.testing.assert_allclose(scaled["1"], model(imgs.float() / 255).numpy(), rtol=1e-5, atol=1e-6)
    # 0/1 masks do not warn; int64 token ids are not cast (an embedding needs them)
    with _no_warning():
        record_activations(model, (imgs > 128).to(torch.uint8))
    emb = nn.Sequential(nn.Embedding(10, 3))
    assert record_activations(emb, torch.arange(10).reshape(5, 2))["0"].shape == (5, 6)


class _no_warning:
    def __enter__(self):
        import warnings

        self.ctx = warnings.catch_warnings()
        self.ctx.__enter__()
        warnings.simplefilter("error", TopolensWarning)

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc)


def test_meta_model_and_meta_device_are_refused() -> None:
    with torch.device("meta"):
        model = nn.Linear(3, 2)
    with pytest.raises(InvalidInputError, match=r"'meta' device.*to_empty"):
        record_activations(model, torch.randn(4, 3))
    with pytest.raises(InvalidInputError, match="meta"):
        record_activations(_mlp(), torch.randn(4, 5), device="meta")
    with pytest.raises(InvalidInputError, match="meta"):
        record_activations(_mlp(), torch.empty(4, 5, device="meta"))


def test_every_module_reused_gives_a_useful_message() -> None:
    class AllShared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.act(x) - 1)

    with pytest.warns(TopolensWarning), pytest.raises(InvalidInputError, match=r"every layer.*\['act'\].*layers="):
        record_activations(AllShared(), torch.randn(4, 3))


def test_float32_overflow_is_reported_distinctly_from_inf() -> None:
    model = nn.Sequential(nn.Linear(2, 2).double())
    with torch.no_grad():
        model[0].weight.fill_(1e300)
        model[0].bias.zero_()
    xs = torch.ones(4, 2, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match=r"4 finite value\(s\) in torch.float64 beyond float32's largest") as info:
        record_activations(model, xs, batch_size=2)
    assert "infinite value" not in str(info.value)
    stored = record_activations(model, xs, check_finite=False)
    assert np.isinf(stored["0"]).all()
    with torch.no_grad():
        model[0].weight.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="NaN and 8 infinite"):
        record_activations(model, xs)


def test_model_errors_come_back_as_topolens_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"raised RuntimeError on batch 0 \(inputs of shape \(4, 7\)"):
        record_activations(_mlp(), torch.randn(4, 7))


def test_batches_with_and_without_labels_say_which_had_them() -> None:
    xs = torch.randn(4, 5)
    with pytest.raises(InvalidInputError, match=r"batch 1 has no labels but the first batch had some.*"
                                                r"every batch \(inputs, labels\), or none"):
        record_activations(_mlp(), [(xs, torch.arange(4)), (xs,)])
    with pytest.raises(InvalidInputError, match="batch 1 has labels but the first batch had none"):
        record_activations(_mlp(), [(xs,), (xs, torch.arange(4))])


def test_a_model_that_fails_on_the_verification_batch_says_so() -> None:
    class FixedBatch(nn.Module):  # accepts batches of exactly 4 and outputs (4, 4)
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(4, 4)

    model = nn.Sequential(FixedBatch())
    with pytest.raises(InvalidInputError, match=r"'0' \(FixedBatch\) is ambiguous.*batch of 3 input\(s\) "
                                                r"failed.*pass a batch_size that no output axis"):
        record_activations(model, torch.randn(8, 4), batch_size=4)
