"""Hyperparameter grids of a model zoo: schema, safe loading, expansion into configs.

A grid file is YAML or JSON (read with ``yaml.safe_load`` / ``json.load`` only: no code
is ever executed). Schema (every top-level key but ``hyperparameters`` is optional)::

    name: fashion-mlp            # free text, shown in reports
    dataset: fashion_mnist       # mnist | fashion_mnist | mnist_sample (bundled, offline)
    n_test: 10000                # test images used to measure the gap (default: all)
    sampling: grid               # grid: the Cartesian product; random: n_models draws
    n_models: 48                 # only with sampling: random
    seed: 0                      # seeds the random draws (not the models: see 'seed' below)
    hyperparameters:             # a value or a list of values per name
      architecture: [mlp, cnn]
      depth: [1, 2]
      width: [64, 256]
      ...

Hyperparameters (PGDL style; every model's config holds all of them):

================  =========  ==========  ===================================================
name              type       default     meaning
================  =========  ==========  ===================================================
architecture      str        ``mlp``     ``mlp``, ``cnn`` or ``vgg`` (see :mod:`topolens.zoo.train`)
depth             int >= 1   2           hidden layers (mlp) or conv blocks (cnn, vgg)
width             int >= 1   128         hidden units (mlp), channels per conv (cnn), or the
                                         channels of the first conv block (vgg: block i has
                                         ``width * 2**(i-1)``)
dense_layers      int >= 0   1           vgg only: hidden dense layers after the conv blocks
dense_width       int >= 1   64          vgg only: units of each of those dense layers
dropout           [0, 1)     0.0         dropout after every hidden layer (vgg: after every
                                         dense layer; cnn: before its dense layer)
batch_norm        bool       false       batch normalisation after every hidden layer (cnn,
                                         vgg: after every conv, before its ReLU)
weight_decay      >= 0       0.0         L2 penalty of the optimiser
learning_rate     > 0        0.01
momentum          [0, 1)     0.9         SGD only
optimizer         str        ``sgd``     ``sgd`` or ``adam``
batch_size        int >= 1   64
epochs            int >= 1   10          epochs (the cap with a stopping criterion)
stop_train_accuracy (0, 1]   none        stop once the training accuracy reaches it
stop_train_loss   > 0        none        stop once the training cross-entropy is <= it
train_size        int >= 1   all         training images (a seeded random subset)
label_noise       [0, 1]     0.0         fraction of training labels replaced at random
seed              int >= 0   0           initialisation, shuffling, subset and noise
================  =========  ==========  ===================================================

The two stopping criteria are either-or (training stops when one is met) and are evaluated
in eval mode on the whole training subset; see :func:`topolens.zoo.train.train_model`.
``dense_layers`` and ``dense_width`` do not change an ``mlp`` or ``cnn`` network.

An unknown key raises :class:`~topolens.exceptions.ConfigError` naming the known ones.

:attr:`ModelConfig.model_id` hashes the config without the hyperparameters added after
the first zoo format (``dense_layers``, ``dense_width``, ``stop_train_loss``) while they hold
their defaults, and without ``dense_layers`` / ``dense_width`` for the architectures they do
not affect, so zoos trained before they existed keep their model ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError

__all__ = [
    "DATASETS",
    "HYPERPARAMETERS",
    "MAX_CONFIGS",
    "Grid",
    "ModelConfig",
    "load_grid",
]

DATASETS = ("mnist", "fashion_mnist", "mnist_sample")

#: the most configs :meth:`Grid.configs` expands into a list (a zoo of more models than this
#: would take years to train; :meth:`Grid.iter_configs` streams any number)
MAX_CONFIGS = 100_000
#: largest population rng.choice draws from without replacement (int64 indices)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ModelConfig:
    """The hyperparameters of one zoo model (see the module docstring for their meaning).

    ``train_size=None`` means the whole training split. :attr:`model_id` is a hash of the
    config, so the same config always maps to the same record in a zoo folder.
    """

    architecture: str = "mlp"
    depth: int = 2
    width: int = 128
    dense_layers: int = 1
    dense_width: int = 64
    dropout: float = 0.0
    batch_norm: bool = False
    weight_decay: float = 0.0
    learning_rate: float = 0.01
    momentum: float = 0.9
    optimizer: str = "sgd"
    batch_size: int = 64
    epochs: int = 10
    stop_train_accuracy: float | None = None
    stop_train_loss: float | None = None
    train_size: int | None = None
    label_noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f.name, value))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the hyperparameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"A model config must be a mapping, found {type(d).__name__}.")
        _check_keys(d, HYPERPARAMETERS, "hyperparameter")
        return cls(**dict(d))

    @property
    def model_id(self) -> str:
        """Stable identifier ``m-<12 hex digits>`` from the config's canonical JSON.

        The hyperparameters of :data:`_ADDED` are left out while at their defaults, and the
        dense-layer ones for ``mlp`` / ``cnn`` (which do not use them): a config written
        before they existed keeps its id, and configs that build the same network share one.
        """
        d = self.to_dict()
        for name, default in _ADDED.items():
            if d[name] == default or (name in _VGG_ONLY and self.architecture != "vgg"):
                del d[name]
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return "m-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


HYPERPARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(ModelConfig))

#: hyperparameters added after zoo format 1, with their defaults (left out of model ids)
_ADDED: dict[str, Any] = {"dense_layers": 1, "dense_width": 64, "stop_train_loss": None}
_VGG_ONLY = ("dense_layers", "dense_width")
_OPTIONAL = ("train_size", "stop_train_accuracy", "stop_train_loss")  # None allowed

_CHOICES = {"architecture": ("mlp", "cnn", "vgg"), "optimizer": ("sgd", "adam")}
_INT = {"depth": 1, "width": 1, "dense_layers": 0, "dense_width": 1, "batch_size": 1, "epochs": 1,
        "train_size": 1, "seed": 0}
_SEED_MAX = 2**64 - 1  # torch.manual_seed's largest seed
_FLOAT = {  # name: (low, high, high inclusive)
    "dropout": (0.0, 1.0, False),
    "weight_decay": (0.0, np.inf, False),
    "learning_rate": (0.0, np.inf, False),
    "momentum": (0.0, 1.0, False),
    "label_noise": (0.0, 1.0, True),
    "stop_train_accuracy": (0.0, 1.0, True),
    "stop_train_loss": (0.0, np.inf, False),
}
_STRICT_LOW = ("learning_rate", "stop_train_accuracy", "stop_train_loss")


def _coerce(name: str, value: Any) -> Any:
    """Validate one hyperparameter value and return it in canonical type."""
    if name in _CHOICES:
        if not isinstance(value, str) or value.lower() not in _CHOICES[name]:
            raise ConfigError(f"Hyperparameter {name!r} must be one of {_CHOICES[name]}, "
                              f"found {value!r}.")
        return value.lower()
    if name == "batch_norm":
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"Hyperparameter 'batch_norm' must be true or false, found {value!r}.")
        return bool(value)
    if name in _INT:
        if value is None and name in _OPTIONAL:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < _INT[name]:
            raise ConfigError(f"Hyperparameter {name!r} must be an integer >= {_INT[name]}, "
                              f"found {value!r}.")
        if name == "seed" and value > _SEED_MAX:
            raise ConfigError(f"Hyperparameter 'seed' must be at most 2**64 - 1, found {value!r}.")
        return int(value)
    if value is None and name in _OPTIONAL:
        return None
    low, high, high_incl = _FLOAT[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"Hyperparameter {name!r} must be a number, found {value!r}.")
    v = float(value)
    strict_low = name in _STRICT_LOW
    ok = (v > low if strict_low else v >= low) and (v <= high if high_incl else v < high)
    if not ok:
        interval = f"{'(' if strict_low else '['}{low}, {high}{']' if high_incl else ')'}"
        raise ConfigError(f"Hyperparameter {name!r} must lie in {interval}, found {value!r}.")
    return v


def _check_keys(d: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(map(str, d)) - set(known))
    if unknown:
        raise ConfigError(f"Unknown {what} key(s) {unknown}; the known ones are {sorted(known)}. "
                          "Check the spelling (see the schema in topolens.zoo.grid).")


_GRID_KEYS = ("name", "dataset", "n_test", "sampling", "n_models", "seed", "hyperparameters")


@dataclass(frozen=True)
class Grid:
    """A validated hyperparameter grid (see the module docstring for the file schema).

    Attributes
    ----------
    hyperparameters : dict of str to tuple
        Candidate values per hyperparameter (a missing one takes its default).
    """

    hyperparameters: dict[str, tuple[Any, ...]]
    name: str = "zoo"
    dataset: str = "mnist_sample"
    n_test: int | None = None
    sampling: str = "grid"
    n_models: int | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """Validate a parsed grid file. Raises :class:`ConfigError` on any problem."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"A grid must be a mapping at the top level, found {type(d).__name__}.")
        _check_keys(d, _GRID_KEYS, "grid")
        hp = d.get("hyperparameters")
        if not isinstance(hp, Mapping) or not hp:
            raise ConfigError("The grid needs a non-empty 'hyperparameters' mapping "
                              "(name -> value or list of values), e.g. {depth: [1, 2]}.")
        _check_keys(hp, HYPERPARAMETERS, "hyperparameter")
        values: dict[str, tuple[Any, ...]] = {}
        for name in HYPERPARAMETERS:  # canonical order
            if name not in hp:
                continue
            raw = hp[name]
            seq = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
            if not seq:
                raise ConfigError(f"Hyperparameter {name!r} has an empty list of values.")
            coerced = tuple(_coerce(name, v) for v in seq)
            if len(set(coerced)) != len(coerced):
                raise ConfigError(f"Hyperparameter {name!r} lists a value twice: {list(seq)}.")
            values[name] = coerced
        dataset = str(d.get("dataset", "mnist_sample")).lower().replace("-", "_")
        if dataset not in DATASETS:
            raise ConfigError(f"Unknown dataset {d.get('dataset')!r}; expected one of {DATASETS}.")
        sampling = str(d.get("sampling", "grid"))
        if sampling not in ("grid", "random"):
            raise ConfigError(f"'sampling' must be 'grid' or 'random', found {sampling!r}.")
        n_models = d.get("n_models")
        if sampling == "random":
            if isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1:
                raise ConfigError(f"sampling: random needs 'n_models', a positive integer; found "
                                  f"{n_models!r}.")
        elif n_models is not None:
            raise ConfigError("'n_models' is only used with sampling: random; remove it or set "
                              "sampling: random.")
        n_test = d.get("n_test")
        if n_test is not None and (isinstance(n_test, bool) or not isinstance(n_test, int)
                                   or n_test < 1):
            raise ConfigError(f"'n_test' must be a positive integer, found {n_test!r}.")
        seed = d.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"'seed' must be a non-negative integer, found {seed!r}.")
        return cls(hyperparameters=values, name=str(d.get("name", "zoo")), dataset=dataset,
                   n_test=n_test, sampling=sampling, n_models=n_models, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict that :meth:`from_dict` reads back."""
        d: dict[str, Any] = {"name": self.name, "dataset": self.dataset, "n_test": self.n_test,
                             "sampling": self.sampling, "seed": self.seed,
                             "hyperparameters": {k: list(v) for k, v in self.hyperparameters.items()}}
        if self.n_models is not None:
            d["n_models"] = self.n_models
        return d

    @property
    def n_combinations(self) -> int:
        """Size of the Cartesian product of the candidate values (a Python int: no overflow)."""
        return math.prod(len(v) for v in self.hyperparameters.values())

    @property
    def size(self) -> int:
        """Number of configs :meth:`configs` yields."""
        if self.sampling == "random":
            return int(self.n_models)  # type: ignore[arg-type]
        return self.n_combinations

    def iter_configs(self) -> Iterator[ModelConfig]:
        """The Cartesian product's configs one at a time (``sampling: grid``; constant memory)."""
        names = list(self.hyperparameters)
        for combo in itertools.product(*(self.hyperparameters[n] for n in names)):
            yield ModelConfig(**dict(zip(names, combo, strict=True)))

    def configs(self, max_configs: int = MAX_CONFIGS) -> list[ModelConfig]:
        """The model configs, in a deterministic order.

        ``sampling: grid`` gives the Cartesian product (last hyperparameter varying fastest,
        in the canonical order of :data:`HYPERPARAMETERS`). ``sampling: random`` draws
        ``n_models`` distinct configs uniformly from the product with ``seed``, returned in
        product order; asking for more than the product holds raises :class:`ConfigError`.

        Parameters
        ----------
        max_configs : int
            Refuse (:class:`ConfigError`, before expanding anything) to return more configs
            than this; :meth:`iter_configs` streams a product of any size.
        """
        total = self.n_combinations
        n = total if self.sampling == "grid" else int(self.n_models)  # type: ignore[arg-type]
        if n > max_configs:
            what = (f"the grid expands to {total:,} configs ({' x '.join(str(len(v)) for v in self.hyperparameters.values())})"
                    if self.sampling == "grid" else f"n_models={n:,}")
            raise ConfigError(
                f"{what}, more than the {max_configs:,} models a zoo can hold. Use fewer values "
                "per hyperparameter, or sampling: random with a smaller n_models to draw a "
                "subset of the grid."
            )
        if self.sampling == "grid":
            return list(self.iter_configs())
        if n > total:
            raise ConfigError(f"n_models={n} exceeds the {total} distinct configs of the grid; "
                              "lower n_models or add values.")
        return [self._config_at(k) for k in self._random_indices(n, total)]

    def _config_at(self, index: int) -> ModelConfig:
        """The config at position ``index`` of the Cartesian product (Python ints)."""
        names = list(self.hyperparameters)
        picked: dict[str, Any] = {}
        for name in reversed(names):  # the last hyperparameter varies fastest
            pool = self.hyperparameters[name]
            index, i = divmod(index, len(pool))
            picked[name] = pool[i]
        return ModelConfig(**{n: picked[n] for n in names})

    def _random_indices(self, n: int, total: int) -> list[int]:
        """``n`` distinct product positions drawn uniformly with :attr:`seed`, sorted."""
        rng = np.random.default_rng(self.seed)
        if total <= _INT64_MAX:
            return [int(k) for k in np.sort(rng.choice(total, size=n, replace=False))]
        # beyond int64: one uniform index per hyperparameter gives a uniform product position
        sizes = [len(v) for v in self.hyperparameters.values()]
        chosen: set[int] = set()
        while len(chosen) < n:
            k = 0
            for size in sizes:
                k = k * size + int(rng.integers(size))
            chosen.add(k)
        return sorted(chosen)


def load_grid(path_or_dict: str | os.PathLike | Mapping[str, Any]) -> Grid:
    """Read and validate a grid from a YAML/JSON file (safe loaders only) or a dict.

    Raises
    ------
    ConfigError
        Unknown keys, wrong types or values, or a file that does not parse; also for
        a missing file, a folder, or a file that is not UTF-8 text.
    """
    if isinstance(path_or_dict, Mapping):
        return Grid.from_dict(path_or_dict)
    path = Path(path_or_dict)
    text = _read_grid_text(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml  # a core dependency; safe_load builds plain Python objects only

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"Could not parse the grid file {path}: {_parse_error(exc)}. It must be "
                          "YAML or JSON (a .json suffix selects JSON).") from None
    try:
        return Grid.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse_error(exc: BaseException) -> str:
    """A parser's error on one line: YAML's problem and its line/column, without the excerpt."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        context = getattr(exc, "context", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{context + ', ' if context else ''}{problem} at {where}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_grid_text(path: Path) -> str:
    """The text of a grid file, with a :class:`ConfigError` for every way reading it fails."""
    hint = "Give the path of a .yaml/.yml or .json grid file (schema: topolens.zoo.grid)."
    if not path.exists():
        raise ConfigError(f"The grid file {path} does not exist. {hint}")
    if path.is_dir():
        raise ConfigError(f"The grid file {path} is a folder. {hint}")
    try:
        size = path.stat().st_size
        if size > 1 << 20:
            raise ConfigError(f"The grid file {path} is {size:,} bytes; a grid is a short YAML/JSON "
                              f"text (at most 1 MiB). {hint}")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The grid file {path} is not UTF-8 text (byte {exc.start}: "
                          f"{exc.reason}). {hint}") from None
    except OSError as exc:
        raise ConfigError(f"Could not read the grid file {path}: {exc.strerror or exc}. {hint}") from None
