"""Topological prior layers: convolutions built on the circle and the Klein bottle.

After Love, Filippenko, Maroulas & Carlsson, "Topological convolutional layers for deep learning"
(JMLR 2023), from the observation of Carlsson et al. (2008) and Gabrielsson & Carlsson (2018)
that natural image patches and learned first-layer filters concentrate on the primary circle
inside a Klein bottle.

* :class:`CircleConv2d` (CF) and :class:`KleinConv2d` (KF): first layers whose kernels are the
  circle or Klein-bottle filters of :mod:`topolens.filters._klein`. **Fixed** by default: the
  kernel is a registered *buffer* (it moves with ``.to()``, is saved in the ``state_dict`` and
  is absent from ``.parameters()``, so no optimiser, weight decay included, can touch it);
  ``trainable=True`` makes it an ``nn.Parameter`` initialised from the same filters.
* :class:`CircleLocalConv2d` and :class:`KleinLocalConv2d` (the second-layer connectivity of
  Love et al.'s COL / KOL layers): ordinary trainable convolutions whose weight from input channel
  ``p`` to output channel ``q`` acts only when the two channels' filters are within ``tau`` on the
  manifold; the bool ``mask`` buffer is applied to the weight in ``forward``, so a masked weight
  never acts and gets zero gradient, whatever the optimiser does to it.

Every layer subclasses :class:`torch.nn.Conv2d` (``weight``, ``bias``, ``stride`` ... as usual, so
hooks, layer selection and :func:`topolens.filters.extract_filters` see ordinary convolutions)
and keeps the angles of its output channels as buffers ``theta1`` and ``theta2``; ``after()``
builds a local layer on top of any of them.

>>> conv1 = KleinConv2d(1, 16, 3, padding=1)                 # doctest: +SKIP
>>> conv2 = KleinLocalConv2d.after(conv1, 32, 3, padding=1)  # doctest: +SKIP
>>> [n for n, _ in conv1.named_parameters()]                 # doctest: +SKIP
['bias']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_int
from ..exceptions import InvalidInputError, ShapeError
from ..filters._klein import circle_angles, grid_angles
from . import _priors as P

__all__ = ["CircleConv2d", "CircleLocalConv2d", "KleinConv2d", "KleinLocalConv2d"]


# --------------------------------------------------------------------------- shared checks
def _conv_pair(value: Any, name: str, minimum: int) -> Any:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidInputError(f"{name} must be an int or a pair of ints; found {tuple(value)!r}.")
        return tuple(check_int(v, name, minimum=minimum) for v in value)
    return check_int(value, name, minimum=minimum)


def _conv_args(in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, bias: Any) -> dict[str, Any]:
    """Validated keyword arguments of ``nn.Conv2d.__init__``."""
    args = {"in_channels": check_int(in_channels, "in_channels", minimum=1),
            "out_channels": check_int(out_channels, "out_channels", minimum=1),
            "kernel_size": P.check_kernel_size(kernel_size),
            "stride": _conv_pair(stride, "stride", 1), "dilation": _conv_pair(dilation, "dilation", 1)}
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise InvalidInputError(f"padding must be an int, a pair, 'same' or 'valid'; found {padding!r}.")
        if padding == "same" and args["stride"] not in (1, (1, 1)):
            raise InvalidInputError(f"padding='same' needs stride 1 (found stride={args['stride']}); pass an "
                                    "int padding, e.g. padding=kernel_size // 2.")
    else:
        padding = _conv_pair(padding, "padding", 0)
    if not isinstance(bias, (bool, np.bool_)):
        raise InvalidInputError(f"bias must be True or False; found {bias!r}.")
    args.update(padding=padding, bias=bool(bias))
    return args


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be True or False; found {value!r}.")
    return bool(value)


def _check_input(layer: nn.Conv2d, x: Any, weight: torch.Tensor) -> None:
    """Refuse, with a fix, the inputs conv2d would fail on with a bare RuntimeError."""
    name = type(layer).__name__
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(f"{name} takes a torch.Tensor (N, {layer.in_channels}, H, W); found "
                                f"{type(x).__name__}. Convert with torch.as_tensor(x, dtype=torch.float32).")
    if x.dim() not in (3, 4) or x.shape[-3] != layer.in_channels:
        raise ShapeError(f"{name} expects input (N, {layer.in_channels}, H, W) or ({layer.in_channels}, H, W); "
                         f"found shape {tuple(x.shape)}. Check in_channels or the layout (channels first).")
    if not x.is_floating_point():
        raise InvalidInputError(f"{name} takes floating-point input; found {x.dtype}. Convert images first, "
                                "e.g. x.float() / 255 for uint8.")
    if x.device != weight.device:
        raise InvalidInputError(f"the input is on {x.device} but {name} is on {weight.device}; move one of them "
                                f"(x.to({str(weight.device)!r}) or layer.to(x.device)).")
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise InvalidInputError(f"the input is {x.dtype} but {name}'s weights are {weight.dtype}; cast one of "
                                f"them (x.to({weight.dtype}) or layer.to({x.dtype})).")
    if layer.padding != "same":
        pad = (0, 0) if layer.padding == "valid" else layer.padding
        k = layer.kernel_size[0]
        for axis, size in enumerate(x.shape[-2:]):
            reach = layer.dilation[axis] * (k - 1) + 1
            if size + 2 * pad[axis] < reach:
                raise ShapeError(f"the input is {tuple(x.shape[-2:])} pixels, smaller than {name}'s kernel reach "
                                 f"{reach} (kernel {k}, dilation {layer.dilation[axis]}, padding "
                                 f"{pad[axis]}); pad the input or use padding='same'.")


def _reset_bias(bias: torch.Tensor | None, fan_in: torch.Tensor | float) -> None:
    """``nn.Conv2d``'s bias initialisation, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (per channel)."""
    if bias is None:
        return
    bound = 1.0 / torch.sqrt(torch.as_tensor(fan_in, dtype=torch.float64))
    with torch.no_grad():
        bias.uniform_(-1.0, 1.0).mul_(bound.to(bias.dtype))


def _float_buffer(values: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float64, device=like.device)


#: the angle buffers of the prior and local layers, kept float64 whatever the module's dtype
_ANGLE_BUFFERS = ("theta1", "theta2", "in_theta1", "in_theta2")


class _AngleConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose angle buffers stay float64 under ``.half()``, ``.to(dtype)`` ... (they
    move with the device only): float16 angles are off by up to 1e-3 rad, enough to move a filter
    off the primary circle for :meth:`CircleLocalConv2d.after` or to change a mask."""

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        saved = {n: self._buffers[n] for n in _ANGLE_BUFFERS if self._buffers.get(n) is not None}
        out = super()._apply(fn, recurse)
        for name, old in saved.items():
            new = self._buffers[name]
            if new is not None and new.dtype != torch.float64:
                self._buffers[name] = old.to(device=new.device)
        return out


# --------------------------------------------------------------------------- first layers
class _PriorConv2d(_AngleConv2d):
    """A convolution whose kernel bank comes from ``_make_bank`` (fixed buffer or Parameter)."""

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, bias: Any, trainable: Any, normalize: Any, device: Any, dtype: Any) -> None:
        args = _conv_args(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        trainable = _check_flag(trainable, "trainable")
        normalize = P._check_normalize(normalize)
        P._check_dtype(dtype)
        super().__init__(**args, device=device, dtype=dtype)
        self.trainable = trainable
        self.normalize = normalize
        bank, (t1, t2) = self._make_bank()
        del self.weight  # the Parameter nn.Conv2d made
        if trainable:
            self.weight = nn.Parameter(bank)
        else:
            self.register_buffer("weight", bank)
        self.register_buffer("theta1", t1.to(bank.device))
        self.register_buffer("theta2", t2.to(bank.device))

    def _make_bank(self) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _factory(self) -> dict[str, Any]:
        ref = self.bias if self.bias is not None else self.weight
        return {"dtype": ref.dtype, "device": ref.device}

    def reset_parameters(self) -> None:
        """Restore the prior filters (and re-draw the bias as ``nn.Conv2d`` does)."""
        if "theta1" not in self._buffers:  # nn.Conv2d.__init__, before the bank exists
            super().reset_parameters()
            return
        with torch.no_grad():
            self.weight.copy_(self._make_bank()[0])
        _reset_bias(self.bias, self.in_channels * self.kernel_size[0] ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self, x, self.weight)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, trainable={self.trainable}, normalize={self.normalize!r}"


class CircleConv2d(_PriorConv2d):
    """First layer of primary-circle filters (Love et al.'s CF layer).

    Output channel ``q`` holds the linear filter at ``theta1 = 2 pi q / out_channels``
    (:func:`topolens.filters.circle_filters`: pixel integrals of ``cos(theta1) x + sin(theta1) y``
    over ``[-1, 1]^2``, an edge across the direction ``theta1``), the same kernel for every input
    channel divided by ``in_channels`` (the filter of the channel mean; a grey image copied into
    RGB gives the single-channel response).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (k, k)
        ``k >= 2`` (3 in the papers).
    stride, padding, dilation, bias
        As :class:`torch.nn.Conv2d` (``groups`` is 1).
    trainable : bool, default False
        False: ``weight`` is a buffer, never changed by training. True: an ``nn.Parameter``
        initialised from the filters.
    normalize : {"unit", "dnorm"} or None, default "unit"
        Each filter mean-centred with unit Euclidean norm (``"unit"``) or unit contrast norm
        (``"dnorm"``), or the raw pixel integrals (None).
    device, dtype
        Of the weights, as for ``nn.Conv2d``.

    Attributes
    ----------
    weight : torch.Tensor
        ``(out_channels, in_channels, k, k)``; buffer or Parameter (see ``trainable``).
    theta1, theta2 : torch.Tensor
        float64 buffers (also after ``.half()`` or ``.to(dtype)``, which convert only the weights
        and the bias): the angles of each output channel's filter (``theta2 = pi / 2``). With
        ``trainable=True`` they are the angles the filters started from.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any = 3, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, bias: bool = True, *, trainable: bool = False,
                 normalize: P.Normalize = "unit", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, trainable,
                         normalize, device, dtype)

    def _make_bank(self) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return P.circle_kernels(self.out_channels, self.in_channels, self.kernel_size[0],
                                normalize=self.normalize, return_angles=True, **self._factory())


class KleinConv2d(_PriorConv2d):
    """First layer of Klein-bottle filters (Love et al.'s KF layer).

    Output channel ``k * n_theta2 + l`` holds the filter at ``(theta1, theta2) = (pi k / n_theta1,
    2 pi l / n_theta2)`` (:func:`topolens.filters.klein_filters`: pixel integrals of
    ``sin(theta2) u + cos(theta2) (2 u^2 - 1)``, ``u = cos(theta1) x + sin(theta1) y``, over
    ``[-1, 1]^2``), a grid that covers the fundamental domain ``[0, pi) x [0, 2 pi)`` once. The
    kernel is shared by the input channels and divided by ``in_channels``, as in
    :class:`CircleConv2d`.

    Parameters
    ----------
    grid : (n_theta1, n_theta2) or None
        With ``n_theta1 * n_theta2 == out_channels``. None: the most even spacing of the two
        angles (:func:`topolens.nn.functional.klein_grid`: 16 -> (4, 4), 32 -> (4, 8),
        64 -> (8, 8)); a prime ``out_channels`` gets ``(1, out_channels)``, the secondary circle
        ``theta1 = 0`` (one orientation only), with a warning.
    others
        As :class:`CircleConv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any = 3, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, bias: bool = True, *, grid: Any = None,
                 trainable: bool = False, normalize: P.Normalize = "unit", device: Any = None,
                 dtype: Any = None) -> None:
        out_c = check_int(out_channels, "out_channels", minimum=1)
        self._grid = P._check_grid(grid, out_c)  # before nn.Module.__init__: a plain attribute is fine here
        super().__init__(in_channels, out_c, kernel_size, stride, padding, dilation, bias, trainable,
                         normalize, device, dtype)

    @property
    def grid(self) -> tuple[int, int]:
        """``(n_theta1, n_theta2)`` of the filters."""
        return self._grid

    def _make_bank(self) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return P.klein_kernels(self.out_channels, self.in_channels, self.kernel_size[0], grid=self._grid,
                               normalize=self.normalize, return_angles=True, **self._factory())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, grid={self._grid}"


# --------------------------------------------------------------------------- local layers
def _prior_angles(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(theta1, theta2)`` of the output channels of a prior layer, float64."""
    if not isinstance(layer, nn.Module) or not all(n in getattr(layer, "_buffers", {}) for n in ("theta1", "theta2")):
        raise InvalidInputError(
            f"after() takes a CircleConv2d, KleinConv2d, CircleLocalConv2d or KleinLocalConv2d (a layer "
            f"with theta1/theta2 buffers); found {type(layer).__name__}. For other layers pass the input "
            "angles yourself (in_theta= / in_angles=)."
        )
    return (layer.theta1.detach().to("cpu", torch.float64).numpy(),
            layer.theta2.detach().to("cpu", torch.float64).numpy())


def _check_length(values: np.ndarray, n: int, name: str, channels: str) -> None:
    if len(values) != n:
        raise ShapeError(f"{name} has {len(values)} angles but {channels} is {n}; give one angle per channel "
                         "(e.g. a prior layer's theta1), or None for the default grid.")


class _LocalConv2d(_AngleConv2d):
    """A trainable convolution whose (out, in) connections are cut by the ``mask`` buffer in forward."""

    def __init__(self, args: dict[str, Any], mask: torch.Tensor, angles: dict[str, np.ndarray], tau: float,
                 device: Any, dtype: Any) -> None:
        P._check_dtype(dtype)
        super().__init__(**args, device=device, dtype=dtype)
        self.tau = tau
        self.register_buffer("mask", mask.to(self.weight.device))
        for name, values in angles.items():
            self.register_buffer(name, _float_buffer(values, self.weight))
        self.reset_parameters()

    @property
    def masked_weight(self) -> torch.Tensor:
        """The weight that acts: ``weight`` with the masked connections set to zero."""
        return torch.where(self.mask[:, :, None, None], self.weight, torch.zeros((), dtype=self.weight.dtype,
                                                                                  device=self.weight.device))

    @property
    def density(self) -> float:
        """The fraction of (output, input) connections kept."""
        return float(self.mask.float().mean())

    def reset_parameters(self) -> None:
        """``nn.Conv2d``'s initialisation with each output channel's fan-in counted over its kept
        inputs only (``U(-b_q, b_q)``, ``b_q = 1 / sqrt(n_q k^2)``); masked weights start at zero."""
        if "mask" not in self._buffers:  # nn.Conv2d.__init__, before the mask exists
            super().reset_parameters()
            return
        fan_in = self.mask.sum(dim=1).to(torch.float64) * self.kernel_size[0] * self.kernel_size[1]
        bound = (1.0 / torch.sqrt(fan_in)).to(self.weight.dtype)
        with torch.no_grad():
            self.weight.uniform_(-1.0, 1.0).mul_(bound[:, None, None, None]).mul_(self.mask[:, :, None, None])
        _reset_bias(self.bias, fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self, x, self.weight)
        return F.conv2d(x, self.masked_weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        kept = int(self.mask.sum())
        return f"{super().extra_repr()}, tau={self.tau:.4g}, connections={kept}/{self.mask.numel()}"


class CircleLocalConv2d(_LocalConv2d):
    """Second layer with circle connectivity (the COL layer of Love et al.).

    An ordinary trainable convolution whose weight from input channel ``p`` to output channel ``q``
    acts only when ``in_theta[p]`` and ``out_theta[q]`` are within angular distance ``tau``
    (:func:`topolens.nn.functional.circle_mask`), through the bool ``mask`` buffer applied to the
    weight in ``forward``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (k, k)
    tau : float, default pi / 3
        Largest angular distance kept (filters with cosine similarity >= 1/2), in ``(0, pi]``.
    in_theta, out_theta : array-like, optional
        Angles of the input and output channels; None: ``2 pi k / n`` (the grid of
        :class:`CircleConv2d`). :meth:`after` takes ``in_theta`` from a prior layer.
    stride, padding, dilation, bias, device, dtype
        As :class:`torch.nn.Conv2d`.

    Attributes
    ----------
    mask : torch.Tensor
        bool ``(out_channels, in_channels)`` buffer.
    theta1, theta2 : torch.Tensor
        float64 angles of the output channels (``theta2 = pi / 2``), so another local layer can
        follow; ``in_theta1`` those of the inputs.
    masked_weight, density
        The weight that acts, and the share of connections kept.

    Raises
    ------
    InvalidInputError
        If an output channel would have no input within ``tau`` (the message gives the ``tau``
        that connects every output channel).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any = 3, tau: float = P.CIRCLE_TAU, *,
                 in_theta: Any = None, out_theta: Any = None, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        args = _conv_args(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        n_in, n_out = args["in_channels"], args["out_channels"]
        a = circle_angles(n_in) if in_theta is None else P._angle_vector(in_theta, "in_theta")
        b = circle_angles(n_out) if out_theta is None else P._angle_vector(out_theta, "out_theta")
        _check_length(a, n_in, "in_theta", "in_channels")
        _check_length(b, n_out, "out_theta", "out_channels")
        mask = P.circle_mask(a, b, tau)
        angles = {"theta1": b, "theta2": np.full(n_out, math.pi / 2), "in_theta1": a}
        super().__init__(args, mask, angles, float(tau), device, dtype)

    @classmethod
    def after(cls, prior_layer: nn.Module, out_channels: int, kernel_size: Any = 3, tau: float = P.CIRCLE_TAU,
              **kwargs: Any) -> CircleLocalConv2d:
        """A circle-local layer on the outputs of ``prior_layer`` (a :class:`CircleConv2d`, a circle
        local layer, or a Klein layer whose filters all lie on the primary circle: ``theta2`` of
        ``pi / 2``, angle ``theta1``, or ``3 pi / 2``, angle ``theta1 + pi``). ``kwargs`` go to
        the constructor (``out_theta``, ``stride``, ``padding`` ...)."""
        t1, t2 = _prior_angles(prior_layer)
        t2 = np.mod(t2, P._TWO_PI)
        up, down = np.abs(t2 - math.pi / 2) < 1e-6, np.abs(t2 - 3 * math.pi / 2) < 1e-6
        if not (up | down).all():
            raise InvalidInputError(
                f"{type(prior_layer).__name__} has {int((~(up | down)).sum())} filters off the primary circle "
                "(theta2 other than pi/2 or 3pi/2), which have no circle angle; use KleinLocalConv2d.after."
            )
        theta = np.where(down, t1 + math.pi, t1)
        return cls(len(theta), out_channels, kernel_size, tau, in_theta=theta, **kwargs)


class KleinLocalConv2d(_LocalConv2d):
    """Second layer with Klein-bottle connectivity (the KOL layer of Love et al.).

    The weight from input channel ``p`` to output channel ``q`` acts only when the
    ``filter_size x filter_size`` Klein filters of ``in_angles[p]`` and ``out_angles[q]``, each
    mean-centred with unit Euclidean norm, are within Euclidean distance ``tau``
    (:func:`topolens.nn.functional.klein_mask`; ``d^2 = 2 - 2 cos``, and on the primary circle
    ``d = 2 sin(delta / 2)`` for an angle difference ``delta``).

    Parameters
    ----------
    tau : float, default 1.0
        Largest filter distance kept (cosine similarity >= 1/2), in ``(0, 2]``.
    in_angles, out_angles : tuple or array-like, optional
        ``(theta1, theta2)`` arrays or ``(n, 2)`` rows; None: the grid of :class:`KleinConv2d`
        (:func:`topolens.nn.functional.klein_grid`). :meth:`after` takes ``in_angles`` from a
        prior layer.
    filter_size : int, default 3
        Size of the filters compared (independent of ``kernel_size``).
    others
        As :class:`CircleLocalConv2d`; ``in_theta1``/``in_theta2`` hold the input angles.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any = 3, tau: float = P.KLEIN_TAU, *,
                 in_angles: Any = None, out_angles: Any = None, filter_size: int = 3, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        args = _conv_args(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        n_in, n_out = args["in_channels"], args["out_channels"]
        a = self._default_angles(n_in) if in_angles is None else P._klein_angles(in_angles, "in_angles")
        b = self._default_angles(n_out) if out_angles is None else P._klein_angles(out_angles, "out_angles")
        _check_length(a[0], n_in, "in_angles", "in_channels")
        _check_length(b[0], n_out, "out_angles", "out_channels")
        fs = check_int(filter_size, "filter_size", minimum=2)
        mask = P.klein_mask(a, b, tau, fs)
        angles = {"theta1": b[0], "theta2": b[1], "in_theta1": a[0], "in_theta2": a[1]}
        super().__init__(args, mask, angles, float(tau), device, dtype)
        self.filter_size = fs

    @staticmethod
    def _default_angles(n: int) -> tuple[np.ndarray, np.ndarray]:
        return grid_angles(*P.klein_grid(n))

    @classmethod
    def after(cls, prior_layer: nn.Module, out_channels: int, kernel_size: Any = 3, tau: float = P.KLEIN_TAU,
              **kwargs: Any) -> KleinLocalConv2d:
        """A Klein-local layer on the outputs of ``prior_layer`` (any prior or local layer of this
        module: circle filters are the Klein points ``(theta1, pi / 2)``). ``kwargs`` go to the
        constructor (``out_angles``, ``filter_size``, ``stride``, ``padding`` ...)."""
        t1, t2 = _prior_angles(prior_layer)
        return cls(len(t1), out_channels, kernel_size, tau, in_angles=(t1, t2), **kwargs)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, filter_size={self.filter_size}"
