"""Forward hooks that copy each chosen layer's output of the current batch.

The batch axis of an output is axis 0, except for sequence-first modules
(``nn.LSTM``/``GRU``/``RNN``, ``nn.MultiheadAttention`` and the ``nn.Transformer``
family with ``batch_first=False``), whose 3-D outputs carry the batch on axis 1 and
are moved to the front. Because a coincidence (sequence length == batch size) can
make a wrong axis look right, :meth:`_Recorder.ambiguous` finds the layers where
another axis has the batch's length and the recording loop verifies them with one
extra forward pass on a batch of another size (see :func:`_verify_batch_axis`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

_SEQ_FIRST_TYPES: tuple[type[nn.Module], ...] = (
    nn.RNNBase,
    nn.MultiheadAttention,
    nn.Transformer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
)
_F32_MAX = float(torch.finfo(torch.float32).max)


def _batch_first(module: nn.Module) -> bool | None:
    """The module's ``batch_first`` setting (found on its attention or first layer if need be)."""
    bf = getattr(module, "batch_first", None)
    if isinstance(bf, bool):
        return bf
    attn = getattr(module, "self_attn", None)
    if isinstance(attn, nn.MultiheadAttention):
        return bool(attn.batch_first)
    layers = getattr(module, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers):
        return _batch_first(layers[0])
    return None


def _batch_axis(module: nn.Module, t: torch.Tensor) -> int:
    """1 for the 3-D output of a sequence-first module, else 0."""
    if isinstance(module, _SEQ_FIRST_TYPES) and t.ndim == 3 and _batch_first(module) is False:
        return 1
    return 0


def _first_tensor(output: Any, label: str) -> torch.Tensor:
    """The tensor to record from a module's output (the first tensor of a tuple or list)."""
    if isinstance(output, torch.Tensor) and not output.is_complex():  # the common case, per batch
        return output
    items = output if isinstance(output, (tuple, list)) and not isinstance(output, PackedSequence) else [output]
    if any(isinstance(o, PackedSequence) for o in items):
        raise InvalidInputError(
            f"{label} returned a PackedSequence, whose rows are time steps of all inputs packed "
            "together, not inputs. Unpack it in the model (torch.nn.utils.rnn.pad_packed_sequence) "
            "and record a layer after that, or feed padded batches."
        )
    t = next((o for o in items if isinstance(o, torch.Tensor)), None)
    if not isinstance(t, torch.Tensor):
        raise InvalidInputError(
            f"{label} returned a {type(output).__name__}, not a tensor, so it has no activations "
            "to record (for a tuple or list output the first tensor element is used). Choose "
            "another layer, e.g. one of its submodules."
        )
    if t.is_complex():
        raise InvalidInputError(
            f"{label} returned complex values ({t.dtype}); topolens records real activations and "
            "will not drop the imaginary part. Record a layer after the complex part, or have it "
            "return the magnitude (x.abs()) or torch.view_as_real(x)."
        )
    return t


class _Recorder:
    """Forward hooks that copy each chosen layer's output of the current batch."""

    def __init__(self, model: nn.Module, names: list[str], reduce: str, check_finite: bool,
                 skip_reused: bool = False) -> None:
        wanted = set(names)
        self.skip_reused = skip_reused
        self.reused: set[str] = set()
        self.modules = {n: m for n, m in model.named_modules() if n in wanted}
        self.types = {n: type(m).__name__ for n, m in self.modules.items()}
        self.reduce = reduce
        self.check_finite = check_finite
        self.current: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.full_shapes: dict[str, tuple[int, ...]] = {}  # batch-first shape, first batch
        self.axes: dict[str, int] = {}
        self.probe: dict[str, tuple[int, ...]] | None = None  # set while verifying batch axes
        self.batch = 0
        self.offset = 0
        self.size = 0

    def hook(self, name: str) -> Callable[[nn.Module, Any, Any], None]:
        def _hook(module: nn.Module, args: Any, output: Any) -> None:
            self.capture(name, output)

        return _hook

    def _where(self) -> str:
        return f"batch {self.batch} (inputs {self.offset}..{self.offset + self.size - 1})"

    def label(self, name: str) -> str:
        return f"layer {name!r} ({self.types[name]})"

    def capture(self, name: str, output: Any) -> None:
        label = self.label(name)
        t = _first_tensor(output, label)
        axis = _batch_axis(self.modules[name], t)
        if self.probe is not None:  # verification pass: shapes only
            self.probe.setdefault(name, tuple(int(s) for s in t.movedim(axis, 0).shape)
                                  if t.ndim > axis else tuple(t.shape))
            return
        if name in self.current or name in self.reused:
            if self.skip_reused:  # default selection: leave reused modules out (warned once)
                self.reused.add(name)
                self.current.pop(name, None)
                return
            raise InvalidInputError(
                f"{label} ran more than once in one forward pass ({self._where()}), so its "
                "activations are ambiguous (a module reused in forward, e.g. one shared ReLU). Leave "
                f"it out, e.g. layers=lambda name, module: name != {name!r}, or give each call its "
                "own module."
            )
        t = self._batch_first(name, t, axis)
        self._check_finite(name, t)
        self.current[name] = self._rows(t)

    def _batch_first(self, name: str, t: torch.Tensor, axis: int) -> torch.Tensor:
        """The output with the batch axis first, its shape checked against earlier batches."""
        label, b = self.label(name), self.size
        if t.ndim <= axis or t.shape[axis] != b:
            where = "axis 1 (the module has batch_first=False)" if axis else "first"
            raise ShapeError(
                f"{label} returned shape {tuple(t.shape)} for {self._where()} of {b} input(s); "
                f"expected the batch dimension {where} with {b} entries. Layers that mix inputs "
                "or put the batch elsewhere cannot be recorded per input; for a custom "
                "sequence-first module record a layer whose output is batch-first."
            )
        t = t.movedim(axis, 0) if axis else t
        shape = tuple(int(s) for s in t.shape[1:])
        if math.prod(shape) == 0:
            raise ShapeError(
                f"{label} produced an empty output of per-input shape {shape} (0 neurons). "
                "Choose another layer."
            )
        prev = self.shapes.setdefault(name, shape)
        self.full_shapes.setdefault(name, tuple(int(s) for s in t.shape))
        self.axes.setdefault(name, axis)
        if prev != shape:
            raise ShapeError(
                f"{label} produced per-input shape {shape} in {self._where()} but {prev} in the "
                "first batch; every input must give the same shape. Resize or pad the inputs to "
                "one size."
            )
        return t.detach()

    def _check_finite(self, name: str, t: torch.Tensor) -> None:
        if not self.check_finite or not t.is_floating_point():
            return
        b = self.size
        if not bool(torch.isfinite(t).all()):
            bad = ~torch.isfinite(t.reshape(b, -1))
            n_nan = int(torch.isnan(t).sum())
            n_inf = int(bad.sum()) - n_nan
            rows = (torch.nonzero(bad.any(dim=1)).flatten() + self.offset)[:5].tolist()
            raise NonFiniteError(
                f"{self.label(name)} produced {n_nan} NaN and {n_inf} infinite value(s) in "
                f"{self._where()}; first affected inputs: {rows}. Check the model and these "
                "inputs for overflow (e.g. exploding weights, log of zero), or pass "
                "check_finite=False to record them anyway."
            )
        if torch.finfo(t.dtype).max > _F32_MAX:
            over = t.reshape(b, -1).abs() > _F32_MAX
            if bool(over.any()):
                rows = (torch.nonzero(over.any(dim=1)).flatten() + self.offset)[:5].tolist()
                raise NonFiniteError(
                    f"{self.label(name)} produced {int(over.sum())} finite value(s) in {t.dtype} "
                    f"beyond float32's largest finite value ({_F32_MAX:.3g}; largest here "
                    f"{float(t.abs().max()):.3g}) in {self._where()}, first inputs {rows}. "
                    "Activations are stored as float32, where these would become inf (they are "
                    "not inf in the model). Rescale the model or inputs, or pass "
                    "check_finite=False to store them as inf."
                )

    def _rows(self, t: torch.Tensor) -> np.ndarray:
        """One float32 row per input (pooled over positions for reduce='mean'/'max')."""
        if self.reduce != "flatten" and t.ndim >= 3:
            t = t.float()
            dims = tuple(range(2, t.ndim))
            t = t.mean(dim=dims) if self.reduce == "mean" else t.amax(dim=dims)
        # copy now: a later in-place op (e.g. ReLU(inplace=True)) may overwrite the output
        return t.reshape(self.size, -1).to(device="cpu", dtype=torch.float32, copy=True).numpy()

    def ambiguous(self, names: list[str]) -> list[str]:
        """Layers of the first batch whose batch axis is not certain: another axis has its length."""
        out = []
        for k in names:
            full = self.full_shapes.get(k)
            if full is not None and self.axes.get(k, 0) == 0 and self.size in full[1:]:
                out.append(k)
        return out


def _probe_inputs(x: torch.Tensor) -> torch.Tensor:
    """A batch of another size from the same inputs: one input fewer, or the input twice."""
    return x[:-1] if x.shape[0] >= 2 else torch.cat([x, x])


def _verify_batch_axis(recorder: _Recorder, names: list[str], forward: Callable[[torch.Tensor], Any],
                       x: torch.Tensor) -> None:
    """Check with one extra forward pass that axis 0 of each ambiguous layer follows the batch size.

    Raises
    ------
    ShapeError
        If a layer's output does not have the probe batch's size on axis 0 (a
        sequence-first or batch-mixing layer whose other axis happened to match).
    """
    suspects = recorder.ambiguous(names)
    if not suspects:
        return
    xp = _probe_inputs(x)
    b, bp = recorder.size, int(xp.shape[0])
    recorder.probe = {}
    try:
        forward(xp)
        got = recorder.probe
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"the batch axis of {', '.join(recorder.label(k) for k in suspects)} is ambiguous (an "
            f"output axis has the batch size {b}), and the check with a batch of {bp} input(s) "
            f"failed: {exc} If the model only accepts batches of {b}, pass a batch_size that no "
            "output axis of these layers equals."
        ) from exc
    finally:
        recorder.probe = None
    for k in suspects:
        shape = got.get(k)
        full = recorder.full_shapes[k]
        if shape is None or (shape[:1] == (bp,) and shape[1:] == full[1:]):
            continue
        raise ShapeError(
            f"{recorder.label(k)} is not batch-first: its output has shape {full} for a batch of "
            f"{b} input(s) but {shape} for {bp}, so axis 0 is not the batch axis (another axis "
            f"merely had length {b}, e.g. a sequence-first RNN whose sequence length equals the "
            "batch size). Use batch_first=True in the module, or record a layer whose output "
            "puts the batch first."
        )
