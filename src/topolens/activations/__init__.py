"""Record the activations of chosen layers of a PyTorch model.

:func:`record_activations` runs a model over a data set with forward hooks on the
chosen modules and returns an :class:`Activations`: a read-only mapping from layer
name to a float32 matrix of shape ``(n_inputs, n_neurons)`` (rows are inputs,
columns are neurons), the one activation layout used throughout topolens. The same
forward pass records the model's own predictions (``Activations.predictions``).

Each layer's output for one input is flattened to one row in C order. For a
convolution output ``(B, C, H, W)`` the neurons are therefore the ``(channel,
position)`` pairs, channel-major, as in Ballester et al. (2024); ``reduce="mean"``
or ``reduce="max"`` pools the spatial positions per channel instead, giving
``(B, C)``. :meth:`Activations.concat` stacks the layers side by side: "all
non-input neurons" of the network. ``transform=`` adapts the inputs to what the
model expects, e.g. :func:`normalize` for a model trained on normalised images.

In memory, the size of the activations (inputs x neurons x 4 bytes) is estimated
from the first batch and refused with :class:`~topolens.exceptions.MemoryBudgetError`
before it would not fit. With ``store=<directory>`` each layer is streamed to a raw
float32 file while the data is processed (nothing is held in memory, the data set
length need not be known) and the result is a set of read-only memory maps. The
on-disk format is::

    <directory>/manifest.json      # written last, atomically; format "topolens.Activations"
    <directory>/0000_<layer>.f32   # little-endian float32, C order, (n_inputs, n_neurons)
    <directory>/labels.npy         # only when labels were collected
    <directory>/predictions.npy    # only when the model output gave predictions

:meth:`Activations.save` writes the same format and :meth:`Activations.load`
reopens it, memory-mapped, after checking the manifest against the file sizes. A
directory holding anything else is refused: topolens never deletes files it did not
write.

The implementation is split by concern: ``_layers`` (layer selection), ``_inputs``
(batches, conversion, transforms), ``_recorder`` (hooks and batch-axis checks),
``_sinks`` (memory with its estimate, or the store), ``_store`` (the format and its
ownership rules), ``_container`` (:class:`Activations`) and ``_record``
(:func:`record_activations`).
"""

from __future__ import annotations

from ._container import Activations
from ._inputs import Normalize, normalize
from ._layers import LayerSpec, list_layers
from ._record import record_activations
from ._sinks import estimate_recording_memory

__all__ = [
    "Activations",
    "LayerSpec",
    "Normalize",
    "estimate_recording_memory",
    "list_layers",
    "normalize",
    "record_activations",
]

# the public objects say where users import them from (docs, reprs, pickles)
for _obj in (Activations, Normalize, normalize, list_layers, record_activations, estimate_recording_memory):
    _obj.__module__ = __name__
del _obj
