"""Layer selection: which modules of a model :func:`record_activations` hooks."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from ..exceptions import InvalidInputError, LayerNotFoundError

__all__ = ["LayerSpec", "list_layers"]

#: What ``layers`` accepts: a name or glob pattern, a module type, a module of the
#: model, a predicate ``(name, module) -> bool``, or a list mixing these.
_OneLayerSpec = str | type[nn.Module] | nn.Module | Callable[[str, nn.Module], bool]
LayerSpec = _OneLayerSpec | Sequence[_OneLayerSpec]

_GLOB_CHARS = frozenset("*?[")

# Leaf modules whose output merely repeats (or reshapes) their input in eval mode.
# They are left out of the default selection so that ``concat`` holds no duplicate neurons.
_PASSTHROUGH: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules selectable by pattern, type or predicate: all but the root, or the root if a leaf."""
    mods = [(n, m) for n, m in model.named_modules() if n != ""]
    return mods if mods else [("", model)]


def list_layers(model: nn.Module) -> list[tuple[str, str]]:
    """List the layers of a model that :func:`record_activations` can hook.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    list of (str, str)
        ``(qualified name, type name)`` for every module of ``model.named_modules()``
        except the model itself, in that order. A model without submodules gives
        ``[("", type name)]``: the model itself, under the empty name.

    Examples
    --------
    >>> from torch import nn
    >>> list_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    [('0', 'Linear'), ('1', 'ReLU')]
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model must be a torch.nn.Module, found {type(model).__name__}. Pass the network itself."
        )
    return [(n, type(m).__name__) for n, m in _candidates(model)]


def _describe_available(model: nn.Module, limit: int = 40) -> str:
    layers = list_layers(model)
    shown = ", ".join(f"{n!r} ({t})" for n, t in layers[:limit])
    more = f", ... ({len(layers) - limit} more; see topolens.activations.list_layers(model))" \
        if len(layers) > limit else ""
    return f"Available layers (name (type)): {shown}{more}."


_SPEC_HELP = (
    "Pass an exact name from model.named_modules(), a glob pattern such as 'layer1.*', "
    "a module type such as torch.nn.Conv2d, a submodule of the model, a callable "
    "(name, module) -> bool, or a list of these."
)


def _match_spec(spec: Any, model: nn.Module, named: dict[str, nn.Module]) -> list[str]:
    """Names matched by one layer specification (raises when it matches nothing)."""
    cands = _candidates(model)
    if isinstance(spec, str):
        if spec in named:
            return [spec]
        if _GLOB_CHARS & set(spec):
            hits = [n for n, _ in cands if fnmatch.fnmatchcase(n, spec)]
            if hits:
                return hits
        close = difflib.get_close_matches(spec, [n for n, _ in cands], n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        what = "pattern" if _GLOB_CHARS & set(spec) else "name"
        raise LayerNotFoundError(
            f"layer {what} {spec!r} matches no module of the {type(model).__name__} model.{hint} "
            f"{_describe_available(model)} {_SPEC_HELP}"
        )
    if isinstance(spec, type):
        if not issubclass(spec, nn.Module):
            raise InvalidInputError(
                f"layer type {spec.__name__} is not a torch.nn.Module subclass. {_SPEC_HELP}"
            )
        hits = [n for n, m in cands if isinstance(m, spec)]
        if not hits:
            present = sorted({type(m).__name__ for _, m in cands})
            raise LayerNotFoundError(
                f"the {type(model).__name__} model has no module of type {spec.__name__}; "
                f"types present: {', '.join(present)}. {_describe_available(model)}"
            )
        return hits
    if isinstance(spec, nn.Module):  # before `callable`: modules are callable
        for n, m in named.items():
            if m is spec:
                return [n]
        raise LayerNotFoundError(
            f"the given {type(spec).__name__} module is not a submodule of the "
            f"{type(model).__name__} model. Pass a module obtained from the model itself "
            f"(e.g. model.fc1) or its name. {_describe_available(model)}"
        )
    if callable(spec):
        hits = [n for n, m in cands if bool(spec(n, m))]
        if not hits:
            raise LayerNotFoundError(
                f"the layer predicate {getattr(spec, '__name__', spec)!r} returned False for every "
                f"module of the {type(model).__name__} model. {_describe_available(model)}"
            )
        return hits
    raise InvalidInputError(
        f"cannot select layers with {spec!r} ({type(spec).__name__}). {_SPEC_HELP}"
    )


def _select_layers(model: nn.Module, layers: LayerSpec | None) -> list[str]:
    """Resolve ``layers`` to qualified names in ``model.named_modules()`` order."""
    named = dict(model.named_modules())
    order = {n: i for i, n in enumerate(named)}
    if layers is None:
        leaves = [(n, m) for n, m in _candidates(model) if next(m.children(), None) is None]
        chosen = [n for n, m in leaves if not isinstance(m, _PASSTHROUGH)]
        return chosen or [n for n, _ in leaves]
    specs = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not specs:
        raise InvalidInputError(
            "layers is an empty list, so no layer would be recorded. Pass layers=None for every "
            f"leaf module, or name some layers. {_describe_available(model)}"
        )
    found: set[str] = set()
    for spec in specs:
        found.update(_match_spec(spec, model, named))
    return sorted(found, key=order.__getitem__)


