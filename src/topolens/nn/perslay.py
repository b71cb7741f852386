"""PersLay (Carrière et al., AISTATS 2020) and Hofer et al.'s structure-element layer as Modules.

Every Module takes a padded batch of persistence diagrams, ``dgms`` (B, N, 2) of
``(birth, death)`` rows and a bool ``mask`` (B, N) (True for real points; see
:func:`topolens.nn._perslay.pad_diagrams`), validates its arguments in ``__init__`` and calls
the functional core :mod:`topolens.nn._perslay` in ``forward``. Parameters are
``nn.Parameter`` initialised from torch's global generator (``torch.manual_seed`` makes them
reproducible).

>>> dgms, mask = pad_diagrams([np.array([[0.0, 1.0], [0.2, 0.5]]), np.empty((0, 2))])  # doctest: +SKIP
>>> layer = PersLay(LandscapePhi(torch.linspace(0, 1, 50)), op="topk", k=3)            # doctest: +SKIP
>>> layer(dgms, mask).shape                                                             # doctest: +SKIP
torch.Size([2, 150])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._validation import check_choice, check_int
from ..exceptions import InvalidInputError, ShapeError
from . import _perslay as F

__all__ = [
    "GaussianMixtureWeight",
    "GaussianPhi",
    "GridWeight",
    "ImagePhi",
    "LandscapePhi",
    "LinePhi",
    "PersLay",
    "PowerWeight",
    "RationalHatPhi",
    "StructureElementLayer",
]

_UNIT = ((0.0, 1.0), (0.0, 1.0))


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise InvalidInputError(f"{name} must be a finite number > 0, found {value!r}.")
    return float(value)


def _uniform_in(bounds: tuple[tuple[float, float], tuple[float, float]], n: int) -> torch.Tensor:
    """``n`` points uniform in the rectangle ``bounds`` (torch's global generator)."""
    lo = torch.tensor([bounds[0][0], bounds[1][0]])
    hi = torch.tensor([bounds[0][1], bounds[1][1]])
    return (lo + torch.rand(n, 2) * (hi - lo)).to(torch.get_default_dtype())


# --------------------------------------------------------------------------- phi Modules
class ImagePhi(nn.Module):
    """Persistence-image ``phi``: a Gaussian per point, sampled on a fixed grid; learnable width.

    In (birth, persistence) coordinates ``(b, d - b)``:
    ``phi(p)_{ij} = exp(-((b - u_j)^2 + (d - b - v_i)^2) / (2 sigma^2)) / (2 pi sigma^2)`` on
    the nodes ``u = linspace(*bounds[0], n_birth)``, ``v = linspace(*bounds[1], n_persistence)``;
    see :func:`topolens.nn._perslay.image_phi`.

    Parameters
    ----------
    bounds : ((birth_min, birth_max), (pers_min, pers_max))
    resolution : int or (n_birth, n_persistence), default (20, 20)
    bandwidth : float, default 0.1
        Initial ``sigma`` (standard deviation).
    learn_bandwidth : bool, default True

    Attributes
    ----------
    out_features : int
        ``n_birth * n_persistence``; output layout ``(n_persistence, n_birth)`` flattened.
    """

    def __init__(self, bounds: Any, resolution: Any = (20, 20), bandwidth: float = 0.1, *,
                 learn_bandwidth: bool = True) -> None:
        super().__init__()
        self.bounds = F._check_bounds(bounds)
        self.resolution = F._check_resolution(resolution)
        bw = torch.tensor(_positive(bandwidth, "bandwidth"))
        self.bandwidth = nn.Parameter(bw, requires_grad=bool(learn_bandwidth))
        xs, ys = F.image_grid(self.bounds, self.resolution, dtype=torch.get_default_dtype())
        self.register_buffer("xs", xs)
        self.register_buffer("ys", ys)
        self.out_features = self.resolution[0] * self.resolution[1]

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N, out_features)``."""
        dgms = F._check_dgms(dgms)
        return F._image_on_grid(dgms, self.bandwidth, self.xs, self.ys)

    def weighted_sum(self, dgms: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """``sum_n coef[:, n] * self(dgms)[:, n]`` without the (B, N, q) tensor (a batched GEMM)."""
        return F._image_weighted_sum(dgms, coef, self.bandwidth, self.xs, self.ys)

    def extra_repr(self) -> str:
        return f"bounds={self.bounds}, resolution={self.resolution}"


class LandscapePhi(nn.Module):
    """Landscape ``phi``: the tent ``max(0, min(t - b, d - t))`` of each point at samples ``t``.

    Uses (birth, death) coordinates. With ``PersLay(..., op="topk", k=k)`` the output holds
    the first ``k`` persistence landscapes at the samples.

    Parameters
    ----------
    samples : 1-D sequence or tensor of q floats
        Sample points, e.g. ``torch.linspace(0, 1, 100)`` (a floating tensor keeps its dtype,
        anything else gets the default dtype).
    learnable : bool, default False
        Make the samples an ``nn.Parameter``.

    Attributes
    ----------
    out_features : int
        ``q``.
    """

    def __init__(self, samples: Any, *, learnable: bool = False) -> None:
        super().__init__()
        try:
            keep = isinstance(samples, torch.Tensor) and samples.is_floating_point()
            dtype = samples.dtype if keep else torch.get_default_dtype()  # type: ignore[union-attr]
            t = torch.as_tensor(samples, dtype=dtype).detach().clone()
        except (TypeError, ValueError, RuntimeError):
            raise InvalidInputError(f"samples must be a 1-D sequence of numbers, found {samples!r}.") from None
        if t.ndim != 1 or t.numel() == 0:
            raise ShapeError(f"samples must be a non-empty 1-D sequence, found shape {tuple(t.shape)}.")
        if not torch.isfinite(t).all():
            raise InvalidInputError("samples must be finite.")
        if learnable:
            self.samples = nn.Parameter(t)
        else:
            self.register_buffer("samples", t)
        self.out_features = int(t.numel())

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N, q)``."""
        return F.landscape_phi(dgms, self.samples)


class GaussianPhi(nn.Module):
    """Gaussian ``phi`` with learnable centres: ``exp(-sum_a (p_a - c_{i,a})^2 / (2 sigma_{i,a}^2))``.

    ``p = (birth, death)``; centres start uniform in ``bounds``, the per-centre, per-axis
    ``sigma`` at ``bandwidth``.

    Parameters
    ----------
    n_elements : int
        Number of Gaussians ``q``.
    bounds : ((birth_min, birth_max), (death_min, death_max)), default ((0, 1), (0, 1))
        Where the centres are initialised.
    bandwidth : float, default 0.1
    learn_bandwidth : bool, default True

    Attributes
    ----------
    out_features : int
    """

    def __init__(self, n_elements: int, bounds: Any = _UNIT, bandwidth: float = 0.1, *,
                 learn_bandwidth: bool = True) -> None:
        super().__init__()
        n = check_int(n_elements, "n_elements", minimum=1)
        self.bounds = F._check_bounds(bounds)
        bw = _positive(bandwidth, "bandwidth")
        self.centres = nn.Parameter(_uniform_in(self.bounds, n))  # type: ignore[arg-type]
        self.bandwidth = nn.Parameter(torch.full((n, 2), bw), requires_grad=bool(learn_bandwidth))  # type: ignore[arg-type]
        self.out_features = n

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N, n_elements)``."""
        return F.gaussian_phi(dgms, self.centres, self.bandwidth)


class LinePhi(nn.Module):
    """Line ``phi``: learnable projections ``<p, w_i> + beta_i`` of ``p = (birth, death)``.

    Initialised like ``nn.Linear(2, n_lines)`` (uniform in ``+-1/sqrt(2)``).

    Attributes
    ----------
    out_features : int
    """

    def __init__(self, n_lines: int, *, bias: bool = True) -> None:
        super().__init__()
        n = check_int(n_lines, "n_lines", minimum=1)
        bound = 1.0 / math.sqrt(2.0)
        self.directions = nn.Parameter(torch.empty(n, 2).uniform_(-bound, bound))  # type: ignore[arg-type]
        self.bias = nn.Parameter(torch.empty(n).uniform_(-bound, bound)) if bias else None  # type: ignore[arg-type]
        self.out_features = n

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N, n_lines)``."""
        return F.line_phi(dgms, self.directions, self.bias)

    def weighted_sum(self, dgms: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """``sum_n coef[:, n] * self(dgms)[:, n]``: the lines applied to the weighted point sum."""
        return F._line_weighted_sum(dgms, coef, self.directions, self.bias)


class RationalHatPhi(nn.Module):
    """Rational hat ``phi`` (Hofer et al. 2019): ``1/(1 + ||p - c_i||_p) - 1/(1 + ||r_i| - ||p - c_i||_p|)``.

    ``p = (birth, death)``; centres start uniform in ``bounds``, radii at ``radius``.

    Parameters
    ----------
    n_elements : int
    bounds : default ((0, 1), (0, 1))
    radius : float, default 1.0
    p : float, default 1.0
        Norm order (>= 1).
    learn_radius : bool, default True

    Attributes
    ----------
    out_features : int
    """

    def __init__(self, n_elements: int, bounds: Any = _UNIT, radius: float = 1.0, p: float = 1.0, *,
                 learn_radius: bool = True) -> None:
        super().__init__()
        n = check_int(n_elements, "n_elements", minimum=1)
        self.bounds = F._check_bounds(bounds)
        r = _positive(radius, "radius")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (1 <= p < math.inf):
            raise InvalidInputError(f"p must be a finite number >= 1 (the order of a norm), found {p!r}.")
        self.p = float(p)
        self.centres = nn.Parameter(_uniform_in(self.bounds, n))  # type: ignore[arg-type]
        self.radius = nn.Parameter(torch.full((n,), r), requires_grad=bool(learn_radius))  # type: ignore[arg-type]
        self.out_features = n

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N, n_elements)``."""
        return F.rational_hat_phi(dgms, self.centres, self.radius, self.p)


# --------------------------------------------------------------------------- weight Modules
class PowerWeight(nn.Module):
    """Power weight ``w(b, d) = c * |d - b|^p``; ``c`` learnable (optional), ``p`` fixed."""

    def __init__(self, power: float = 1.0, constant: float = 1.0, *, learn_constant: bool = True) -> None:
        super().__init__()
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not (0 <= power < math.inf):
            raise InvalidInputError(f"power must be a finite number >= 0, found {power!r}.")
        if isinstance(constant, bool) or not isinstance(constant, (int, float)) or not math.isfinite(constant):
            raise InvalidInputError(f"constant must be a finite number, found {constant!r}.")
        self.power = float(power)
        self.constant = nn.Parameter(torch.tensor(float(constant)), requires_grad=bool(learn_constant))

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N)``."""
        return F.power_weight(dgms, self.constant, self.power)


class GridWeight(nn.Module):
    """Learnable piecewise-constant weight over a grid of (birth, death) cells.

    See :func:`topolens.nn._perslay.grid_weight`. The values start at ``init`` (1: the
    unweighted layer). Points outside ``bounds`` take the nearest cell's value
    (``outside="clamp"``, the default, so that test points slightly outside the training range
    are not silently dropped) or 0 (``outside="zero"``).

    Parameters
    ----------
    bounds : ((birth_min, birth_max), (death_min, death_max))
    resolution : int or (n_birth, n_death), default (10, 10)
    outside : {"clamp", "zero"}, default "clamp"
    init : float, default 1.0
    """

    def __init__(self, bounds: Any, resolution: Any = (10, 10), *, outside: str = "clamp",
                 init: float = 1.0) -> None:
        super().__init__()
        self.bounds = F._check_bounds(bounds)
        self.resolution = F._check_resolution(resolution)
        self.outside = check_choice(outside, "outside", ("clamp", "zero"))
        if isinstance(init, bool) or not isinstance(init, (int, float)) or not math.isfinite(init):
            raise InvalidInputError(f"init must be a finite number, found {init!r}.")
        self.grid = nn.Parameter(torch.full(self.resolution, float(init)))

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N)``."""
        return F.grid_weight(dgms, self.grid, self.bounds, self.outside)


class GaussianMixtureWeight(nn.Module):
    """Learnable Gaussian-mixture weight ``w(p) = sum_k exp(-sum_a (p_a - m_{k,a})^2 / s_{k,a}^2)``.

    ``p = (birth, death)`` (gudhi's convention); means start uniform in ``bounds``, scales
    at ``bandwidth``.
    """

    def __init__(self, n_components: int, bounds: Any = _UNIT, bandwidth: float = 0.1) -> None:
        super().__init__()
        n = check_int(n_components, "n_components", minimum=1)
        self.bounds = F._check_bounds(bounds)
        bw = _positive(bandwidth, "bandwidth")
        self.means = nn.Parameter(_uniform_in(self.bounds, n))  # type: ignore[arg-type]
        self.bandwidths = nn.Parameter(torch.full((n, 2), bw))  # type: ignore[arg-type]

    def forward(self, dgms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2) -> (B, N)``."""
        return F.gaussian_mixture_weight(dgms, self.means, self.bandwidths)


# --------------------------------------------------------------------------- PersLay
def _rho_out_features(rho: nn.Module, in_features: int) -> int:
    """Width after ``rho``: its ``out_features`` if it has one, else probed on zeros (eval mode)."""
    out = getattr(rho, "out_features", None)
    if isinstance(out, int):
        return out
    modes = {m: m.training for m in rho.modules()}
    ref = next(iter(rho.parameters()), None)
    probe = torch.zeros(2, in_features, dtype=ref.dtype if ref is not None else torch.get_default_dtype(),
                        device=ref.device if ref is not None else None)
    try:
        rho.eval()
        with torch.no_grad():
            y = rho(probe)
    except Exception as exc:  # a rho that rejects (2, in_features) inputs
        raise InvalidInputError(
            f"rho could not be applied to a (batch, {in_features}) tensor, the output of the "
            f"PersLay op: {exc}"
        ) from exc
    finally:
        for m, mode in modes.items():
            m.training = mode
    if not isinstance(y, torch.Tensor) or y.ndim != 2:
        raise InvalidInputError("rho must map (batch, features) to (batch, out_features).")
    return int(y.shape[1])


class PersLay(nn.Module):
    """PersLay: ``rho(op({w(p) * phi(p) : p in D}))`` for each diagram ``D`` of a padded batch.

    Parameters
    ----------
    phi : nn.Module
        Point transformation ``(B, N, 2) -> (B, N, q)`` with an ``out_features`` attribute
        (:class:`ImagePhi`, :class:`LandscapePhi`, :class:`GaussianPhi`, :class:`LinePhi`,
        :class:`RationalHatPhi` or your own).
    weight : nn.Module, optional
        Point weight ``(B, N, 2) -> (B, N)`` (:class:`PowerWeight`, :class:`GridWeight`,
        :class:`GaussianMixtureWeight`); None means 1.
    op : {"sum", "mean", "max", "topk"}, default "sum"
        See :func:`topolens.nn._perslay.perslay`. Padding never changes the result; empty
        diagrams give 0.
    k : int, optional
        Number of largest values per coordinate, required for (and only for) ``op="topk"``.
    rho : nn.Module, optional
        Applied to the ``(B, q)`` (or ``(B, q * k)``) result.

    Notes
    -----
    Padding rows are set to (0, 0) before ``phi`` and ``weight`` see them (so a custom
    ``phi`` must be finite there). For ``sum``/``mean``, a ``phi`` that defines
    ``weighted_sum(dgms, coef) -> (B, q)``, equal to ``sum_n coef[:, n] * phi(dgms)[:, n]``,
    is called instead of materialising the ``(B, N, q)`` values (:class:`ImagePhi` does it
    with one batched matrix product, :class:`LinePhi` by projecting the weighted sum of the
    points).

    Attributes
    ----------
    out_features : int
        Width of the output: ``q`` (``q * k`` for topk), or ``rho``'s output width.
    """

    def __init__(self, phi: nn.Module, weight: nn.Module | None = None, op: str = "sum",
                 k: int | None = None, rho: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(phi, nn.Module):
            raise InvalidInputError(f"phi must be an nn.Module (e.g. ImagePhi), found {type(phi).__name__}.")
        q = getattr(phi, "out_features", None)
        if isinstance(q, bool) or not isinstance(q, int) or q < 1:
            raise InvalidInputError(
                f"phi ({type(phi).__name__}) must have an int attribute out_features >= 1 (the q of "
                f"its (B, N, q) output), found {q!r}."
            )
        if weight is not None and not isinstance(weight, nn.Module):
            raise InvalidInputError(f"weight must be an nn.Module or None, found {type(weight).__name__}.")
        if rho is not None and not isinstance(rho, nn.Module):
            raise InvalidInputError(f"rho must be an nn.Module or None, found {type(rho).__name__}.")
        self.op = check_choice(op, "op", F.OPS)
        if op == "topk":
            if k is None:
                raise InvalidInputError("op='topk' needs k, the number of largest values to keep per coordinate.")
            self.k: int | None = check_int(k, "k", minimum=1)
        elif k is not None:
            raise InvalidInputError(f"k is only used by op='topk'; found k={k!r} with op={op!r}.")
        else:
            self.k = None
        self.phi = phi
        self.weight = weight
        self.rho = rho
        self.op_features = q * (self.k or 1)
        self.out_features = self.op_features if rho is None else _rho_out_features(rho, self.op_features)

    def forward(self, dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Vectorise a padded batch: ``(B, N, 2), (B, N) -> (B, out_features)``.

        Raises
        ------
        ShapeError
            Wrong shapes of ``dgms`` or ``mask``.
        NonFiniteError
            A real point with a NaN or infinite coordinate.
        """
        dgms, mask = F.check_batch(dgms, mask)
        dgms = F._zero_padding(dgms, mask)
        w = self.weight(dgms) if self.weight is not None else None
        if w is not None and (not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(mask.shape)):
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ShapeError(f"weight returned {shape}, expected (B, N) = {tuple(mask.shape)}.")
        if self.op in ("sum", "mean") and hasattr(self.phi, "weighted_sum"):
            out = self.phi.weighted_sum(dgms, F._coefficients(mask, w, dgms.dtype))
            if self.op == "mean":
                out = out / mask.sum(1, keepdim=True).clamp(min=1).to(out.dtype)
            return self.rho(out) if self.rho is not None else out
        values = self.phi(dgms)
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != (*dgms.shape[:2], self.phi.out_features):
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise ShapeError(
                f"phi returned {shape}, expected (B, N, out_features) = "
                f"{(*dgms.shape[:2], self.phi.out_features)}."
            )
        out = F._reduce(values, mask, w, self.op, self.k)
        return self.rho(out) if self.rho is not None else out

    def extra_repr(self) -> str:
        return f"op={self.op!r}, k={self.k}, out_features={self.out_features}"


# --------------------------------------------------------------------------- Hofer et al.
class StructureElementLayer(nn.Module):
    """Hofer et al. (NeurIPS 2017) input layer: ``n_elements`` learnable Gaussian structure elements.

    Output ``k`` is ``sum_{p in D} exp(-sigma_{k,0}^2 (x0 - mu_{k,0})^2 - sigma_{k,1}^2 (t - mu_{k,1})^2)``
    over the points rotated to ``(x0, x1) = ((b + d) / sqrt 2, (d - b) / sqrt 2)``, with
    ``t = x1`` for ``x1 >= nu``, ``nu log(x1 / nu) + nu`` below, and 0 for points on the
    diagonal; see :func:`topolens.nn._perslay.structure_elements`.

    Parameters
    ----------
    n_elements : int
    nu : float, default 0.1
        Log-stretch threshold on the persistence axis ``x1``.
    centre_bounds : ((x0_min, x0_max), (t_min, t_max)), default ((0, 1), (0, 1))
        Centres ``mu`` start uniform in this rectangle of the (x0, t) plane.
    sharpness : float, default 3.0
        Initial ``sigma`` (torchph's and torch-topological's default).

    Attributes
    ----------
    out_features : int
        ``n_elements``.
    """

    def __init__(self, n_elements: int, nu: float = 0.1, *, centre_bounds: Any = _UNIT,
                 sharpness: float = 3.0) -> None:
        super().__init__()
        n = check_int(n_elements, "n_elements", minimum=1)
        self.nu = _positive(nu, "nu")
        bounds = F._check_bounds(centre_bounds, "centre_bounds")
        if isinstance(sharpness, bool) or not isinstance(sharpness, (int, float)) or not math.isfinite(sharpness):
            raise InvalidInputError(f"sharpness must be a finite number, found {sharpness!r}.")
        self.n_elements = n
        self.out_features = n
        self.centres = nn.Parameter(_uniform_in(bounds, n))  # type: ignore[arg-type]
        self.sharpness = nn.Parameter(torch.full((n, 2), float(sharpness)))  # type: ignore[arg-type]

    def forward(self, dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2), (B, N) -> (B, n_elements)``."""
        return F.structure_elements(dgms, mask, self.centres, self.sharpness, self.nu)

    def extra_repr(self) -> str:
        return f"n_elements={self.n_elements}, nu={self.nu}"
