"""What the commands load from the user: models, weights, input transforms, data and arrays.

Shared by :mod:`topolens.cli.main`, :mod:`topolens.cli.mapper` and :mod:`topolens.cli.zoo`
(this module imports none of them). ``--model`` and ``--transform`` name code, so they are
checked before anything is called: a ``--model`` is an ``nn.Module`` subclass, an instance,
or a Python function defined in the package the user named (never a builtin, a C function
or a standard-library function such as ``os.system``), and what a factory returns must be
an ``nn.Module``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .._io import safe_torch_load, sha256_file
from ..exceptions import InvalidInputError, UntrustedCheckpointError

__all__ = [
    "DATASETS",
    "build_transform",
    "load_data",
    "load_model",
    "load_transform",
    "model_provenance",
    "parse_model_kwargs",
    "parse_normalize",
    "protected_inputs",
    "refuse_recording_options",
]

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "digits")
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins", "__main__"}


# ------------------------------------------------------------------------ importing code
@contextlib.contextmanager
def _cwd_importable(*folders: Path) -> Iterator[None]:
    """The current directory (and ``folders``) first on ``sys.path`` for an import."""
    added = [str(f) for f in folders] + [os.getcwd()]
    for entry in reversed(added):
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _exited(exc: SystemExit, doing: str, spec: str, flag: str) -> InvalidInputError:
    """The error for user code that called ``sys.exit`` (it would end topolens silently)."""
    return InvalidInputError(f"{flag} {spec!r}: {doing} ran sys.exit({exc.code!r}){_where(exc)}; "
                             "topolens stopped. Name code that does not run a script when "
                             "imported or called (guard that with if __name__ == '__main__':).")


def _module_name(path: Path) -> str:
    """The ``sys.modules`` name of a ``--model path/to/file.py``: its stem, unless that would
    shadow a module already imported or importable (then a private name)."""
    stem = path.stem
    taken = not stem.isidentifier() or stem in sys.modules or stem in _STDLIB
    if not taken:
        try:
            taken = importlib.util.find_spec(stem) is not None
        except (ImportError, ValueError):
            taken = True
    if not taken:
        return stem
    safe = "".join(c if c.isalnum() else "_" for c in stem)
    n = 0
    while f"_topolens_user_{safe}_{n}" in sys.modules:
        n += 1
    return f"_topolens_user_{safe}_{n}"


def _where(exc: BaseException) -> str:
    """`` (file:line)`` of the innermost frame of an exception (or '')."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        where = f" ({tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
        tb = tb.tb_next
    return where


def _describe_exception(exc: BaseException) -> str:
    """``Type: message (file:line)`` of an exception raised by the user's code."""
    return f"{type(exc).__name__}: {exc}{_where(exc)}"


def _import_module(where: str, spec: str, flag: str) -> ModuleType:
    """Import ``where`` (a dotted module or a ``.py`` file) with clear errors."""
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise InvalidInputError(f"{flag} {spec!r}: the file {path} does not exist.")
        name = _module_name(path)
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise InvalidInputError(f"{flag} {spec!r}: {path} cannot be imported as a Python module.")
        module = importlib.util.module_from_spec(mod_spec)
        # registered while it runs, as 'python file.py' would (dataclasses, pickle and
        # typing look classes up there); its folder importable for its sibling modules
        sys.modules[name] = module
        try:
            with _cwd_importable(path.resolve().parent):
                mod_spec.loader.exec_module(module)
        except SystemExit as exc:
            sys.modules.pop(name, None)
            raise _exited(exc, f"importing {path}", spec, flag) from None
        except Exception as exc:
            sys.modules.pop(name, None)
            raise InvalidInputError(f"{flag} {spec!r}: importing {path} failed with "
                                    f"{_describe_exception(exc)}.") from exc
        return module
    try:
        with _cwd_importable():
            return importlib.import_module(where)
    except SystemExit as exc:
        raise _exited(exc, f"importing {where}", spec, flag) from None
    except ImportError as exc:
        raise InvalidInputError(
            f"could not import {where!r} for {flag} {spec!r}: {exc}. Check the module path "
            "(it must be importable from the current directory / PYTHONPATH) or pass a file: "
            "path/to/models.py:name."
        ) from exc
    except Exception as exc:
        raise InvalidInputError(f"{flag} {spec!r}: importing {where} failed with "
                                f"{_describe_exception(exc)}.") from exc


def _resolve(spec: str, flag: str, example: str) -> tuple[ModuleType, Any]:
    """(module, object) named by ``module:attr`` or ``file.py:attr``."""
    if not isinstance(spec, str) or ":" not in spec or spec.endswith(":") or spec.startswith(":"):
        raise InvalidInputError(f"{flag} must be 'module:name' or 'file.py:name', found {spec!r}; "
                                f"e.g. {flag} {example}.")
    where, _, attr = spec.rpartition(":")
    module = _import_module(where, spec, flag)
    obj: Any = module
    for part in attr.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            raise InvalidInputError(f"{flag} {spec!r}: {where} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    return module, obj


def _check_function(obj: Any, module: ModuleType, spec: str, flag: str, what: str) -> None:
    """Refuse anything but a Python function defined in the module (or package) the user named.

    Builtins and C functions (``os.system``, ``builtins.exit``) and functions of the standard
    library (``pdb.set_trace``, ``subprocess.call``) are refused; so is a function that the
    named module merely imported from another package.
    """
    if not inspect.isfunction(obj):
        kind = ("a builtin or C function" if inspect.isbuiltin(obj) or callable(obj)
                else f"a {type(obj).__name__}")
        raise InvalidInputError(
            f"{flag} {spec!r} names {kind}, not {what}; topolens calls only an nn.Module class "
            "or a Python function defined in the module you name."
        )
    from_file = getattr(module, "__file__", None) is not None and spec.rpartition(":")[0].endswith(".py")
    top = module.__name__.split(".")[0]
    defined = getattr(obj, "__module__", None) or ""
    name = f"{defined}.{obj.__qualname__}"
    if obj.__globals__ is vars(module) and from_file:
        return
    if top in _STDLIB or defined.split(".")[0] in _STDLIB:
        raise InvalidInputError(f"{flag} {spec!r} names a standard-library function ({name}), "
                                f"not {what}; refused.")
    if obj.__globals__ is vars(module) or defined == top or defined.startswith(top + "."):
        return
    raise InvalidInputError(
        f"{flag} {spec!r} names {name}, a function imported from another package, not one "
        f"defined in {module.__name__}; name it where it is defined ({defined}:{obj.__name__})."
    )


def _bind(obj: Any, spec: str, flag: str, args: tuple[Any, ...], kwargs: dict[str, Any],
          *, given: str | None = None, hint: str = "pass arguments with --model-kwargs "
          "name=value") -> None:
    """Check that ``obj(*args, **kwargs)`` matches its signature, before calling it."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # no signature to check: the call itself will tell
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        given = given or ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
        raise InvalidInputError(
            f"{flag} {spec!r} cannot be called with {given}: {exc}. Its signature is "
            f"{getattr(obj, '__name__', spec)}{sig}; {hint}."
        ) from None


# --------------------------------------------------------------------------------- models
def parse_model_kwargs(items: Sequence[str] | None) -> dict[str, Any]:
    """``["input_size=28", "name=foo", "flag=true"]`` -> ``{"input_size": 28, ...}``.

    Values are Python literals (``ast.literal_eval``: numbers, strings, tuples, lists,
    dicts, None), ``true`` / ``false`` / ``none`` in any case, and otherwise plain strings.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInputError(f"--model-kwargs takes name=value pairs such as input_size=28; "
                                    f"found {item!r}.")
        if key in out:
            raise InvalidInputError(f"--model-kwargs gives {key!r} twice.")
        low = text.strip().lower()
        if low in ("true", "false", "none"):
            out[key] = {"true": True, "false": False, "none": None}[low]
            continue
        try:
            out[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[key] = text
    return out


def _instantiate(spec: str, kwargs: dict[str, Any] | None) -> Any:
    """The nn.Module named by ``spec``: a class instantiated, a factory called, or an instance."""
    import torch

    kwargs = dict(kwargs or {})
    flag = "--model"
    module, obj = _resolve(spec, flag, "mypkg.models:make_cnn")
    if isinstance(obj, torch.nn.Module):
        if kwargs:
            raise InvalidInputError(f"--model {spec!r} is a model instance; --model-kwargs apply "
                                    "only to a class or a factory.")
        return obj
    if inspect.isclass(obj):
        if not issubclass(obj, torch.nn.Module):
            raise InvalidInputError(f"--model {spec!r} names the class {obj.__qualname__}, which is "
                                    "not a torch.nn.Module subclass.")
    else:
        _check_function(obj, module, spec, flag, "a factory returning a torch.nn.Module")
    _bind(obj, spec, flag, (), kwargs)
    try:
        model = obj(**kwargs)
    except SystemExit as exc:
        raise _exited(exc, "calling it", spec, flag) from None
    except Exception as exc:
        raise InvalidInputError(f"--model {spec!r} failed when called: {_describe_exception(exc)}. "
                                "Check the arguments (--model-kwargs name=value ...).") from exc
    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"--model {spec!r} returned a {type(model).__name__}, not a "
                                "torch.nn.Module.")
    return model


def load_model(spec: str, weights: str | None = None, kwargs: dict[str, Any] | None = None) -> Any:
    """Build a model from ``module:name`` or ``path/to/file.py:name`` and load its weights.

    Parameters
    ----------
    spec : str
        An ``nn.Module`` subclass (instantiated with ``kwargs``), a Python function returning
        an ``nn.Module`` (called with ``kwargs``) or an ``nn.Module`` instance. The current
        directory is importable while the module is imported.
    weights : str, optional
        A state dict file, read with ``torch.load(weights_only=True)``; ``{"state_dict":
        ...}``-style checkpoints are unwrapped.
    kwargs : dict, optional
        Constructor / factory arguments (see :func:`parse_model_kwargs`).

    Raises
    ------
    InvalidInputError
        Bad spec, a builtin / standard-library function, arguments that do not fit the
        signature, a factory that fails or returns something else, weights that do not fit.
    UntrustedCheckpointError
        The weights file holds anything but tensors and plain containers.
    """
    model = _instantiate(spec, kwargs)
    if weights:
        _load_weights(model, weights)
    return model


def _load_weights(model: Any, weights: str) -> None:
    state = safe_torch_load(weights, what="--weights file", corrupt_error=InvalidInputError)
    if isinstance(state, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise UntrustedCheckpointError(f"--weights file {weights} holds a {type(state).__name__}, not "
                                       "a state dict; save torch.save(model.state_dict(), path).")
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise InvalidInputError(f"--weights file {weights} is not a state dict: its keys must be "
                                f"parameter names, found {bad_keys[:3]!r}; save "
                                "torch.save(model.state_dict(), path).")
    import torch

    own = model.state_dict()
    cplx = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_complex()
            and k in own and not own[k].is_complex()]
    if cplx:
        raise InvalidInputError(f"weights in {weights} do not fit the model: {', '.join(cplx[:3])} "
                                "hold complex values where the model's are real (loading would "
                                "drop the imaginary part).")
    try:
        model.load_state_dict(state)
    except SystemExit as exc:
        raise _exited(exc, "loading the weights", weights, "--weights") from None
    except Exception as exc:  # torch's errors, or the model's own load hooks
        first = str(exc).strip().splitlines()
        raise InvalidInputError(f"weights in {weights} do not fit the model: "
                                f"{' '.join(line.strip() for line in first[:6])}") from None


# ----------------------------------------------------------------------------- transforms
def load_transform(spec: str) -> Callable[[Any], Any]:
    """The input transform named by ``--transform module:function``.

    A Python function defined in the named package taking the input batch (a tensor), an
    ``nn.Module`` instance, or an ``nn.Module`` subclass constructible without arguments.
    Builtins, C functions and standard-library functions are refused.
    """
    import torch

    flag = "--transform"
    module, obj = _resolve(spec, flag, "mypkg.data:normalize_batch")
    if isinstance(obj, torch.nn.Module):
        return obj
    if inspect.isclass(obj):
        if not issubclass(obj, torch.nn.Module):
            raise InvalidInputError(f"--transform {spec!r} names the class {obj.__qualname__}, which "
                                    "is neither a function nor a torch.nn.Module subclass.")
        _bind(obj, spec, flag, (), {}, hint="a transform class is constructed without arguments "
              "(name a function, or an instance, instead)")
        try:
            return obj()
        except SystemExit as exc:
            raise _exited(exc, "constructing it", spec, flag) from None
        except Exception as exc:
            raise InvalidInputError(f"--transform {spec!r} failed when constructed: "
                                    f"{_describe_exception(exc)}.") from exc
    _check_function(obj, module, spec, flag, "a function of the input batch")
    _bind(obj, spec, flag, (object(),), {}, given="the input batch (one argument)",
          hint="a transform takes the batch tensor and returns the transformed batch")
    return obj


def _floats(text: str, what: str) -> list[float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) > 1 and "" in parts:
        raise InvalidInputError(f"--normalize {what} has an empty entry in {text!r}; give one "
                                "number per channel, e.g. 0.485,0.456,0.406.")
    try:
        values = [float(v) for v in parts if v != ""]
    except ValueError:
        raise InvalidInputError(f"--normalize {what} must be numbers separated by commas (one per "
                                f"channel), e.g. 0.485,0.456,0.406; found {text!r}.") from None
    if not values or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidInputError(f"--normalize {what} must be finite numbers; found {text!r}.")
    return values


def parse_normalize(values: Sequence[str]) -> tuple[float | list[float], float | list[float]]:
    """``--normalize MEAN STD`` (each a number or a comma-separated list per channel).

    Single numbers apply to every element; a single number next to a per-channel list is
    repeated per channel.
    """
    if len(values) != 2:
        raise InvalidInputError(f"--normalize takes MEAN and STD; found {list(values)}.")
    mean, std = _floats(values[0], "MEAN"), _floats(values[1], "STD")
    if len(mean) != len(std) and 1 not in (len(mean), len(std)):
        raise InvalidInputError(f"--normalize MEAN has {len(mean)} values and STD {len(std)}; give "
                                "one value per channel for both (or a single value).")
    if any(s <= 0 for s in std):
        raise InvalidInputError(f"--normalize STD must be positive; found {values[1]!r}.")
    if any(s < 1.1754944e-38 for s in std):  # 0 (or subnormal) in float32: x / std overflows
        raise InvalidInputError(f"--normalize STD {values[1]!r} is too small for float32 inputs "
                                "(below 1.2e-38); the normalised inputs would be infinite.")
    if len(mean) == len(std) == 1:
        return mean[0], std[0]
    n = max(len(mean), len(std))
    return (mean * n if len(mean) == 1 else mean), (std * n if len(std) == 1 else std)


def build_transform(normalize: Sequence[str] | None, transform: str | None
                    ) -> tuple[Callable[[Any], Any] | None, str | None]:
    """The input transform of ``--transform`` then ``--normalize`` and a description of it."""
    steps: list[Callable[[Any], Any]] = []
    desc: list[str] = []
    if transform:
        steps.append(load_transform(transform))
        desc.append(transform)
    if normalize:
        from ..activations import normalize as make_normalize

        mean, std = parse_normalize(normalize)
        steps.append(make_normalize(mean, std))
        desc.append(f"normalize(mean={mean}, std={std})")
    if not steps:
        return None, None
    if len(steps) == 1:
        return steps[0], desc[0]
    first, second = steps

    def composed(x: Any) -> Any:
        return second(first(x))

    return composed, " then ".join(desc)


def refuse_recording_options(args: Any, done: str) -> None:
    """``--activations`` are used as saved: refuse the options that apply only when recording."""
    if args.model or args.normalize or args.transform:
        raise InvalidInputError(f"--activations are {done} as saved: --model, --normalize and "
                                "--transform apply only when recording (--model with --data).")


def protected_inputs(args: Any) -> list[Any]:
    """The input files of a command, which an output folder must never delete."""
    data = getattr(args, "data", None)
    return [getattr(args, "activations", None), getattr(args, "labels", None),
            getattr(args, "images", None), getattr(args, "weights", None),
            data if data and Path(data).suffix else None]


def model_provenance(args: Any, transform_desc: str | None) -> dict[str, Any]:
    """Display strings of what was analysed, for the report's provenance table."""
    prov: dict[str, Any] = {"model": args.model}
    if getattr(args, "model_kwargs", None):
        prov["model kwargs"] = " ".join(args.model_kwargs)
    if args.weights:
        prov["weights"] = str(Path(args.weights).resolve())
        prov["weights sha256"] = sha256_file(args.weights)
    else:
        prov["weights"] = "none given: the weights the model builds itself (pass --weights FILE)"
    prov.update({"data": args.data, "split": args.split, "max inputs": args.max_inputs,
                 "transform": transform_desc or "none"})
    if getattr(args, "expected_accuracy", None) is not None:
        prov["expected accuracy"] = args.expected_accuracy
    return prov


# ---------------------------------------------------------------------------------- data
def load_data(name: str, split: str, root: str | None, limit: int | None) -> tuple[Any, Any]:
    """Images as float tensors (N, 1, H, W) in [0, 1] and labels, from a data set name or a file."""
    import numpy as np

    from .. import datasets

    if limit is not None and limit < 1:
        raise InvalidInputError(f"--max-inputs must be at least 1; found {limit}.")
    if name == "mnist-sample":
        x, y = datasets.load_mnist_sample(split)
    elif name == "mnist":
        x, y = datasets.load_mnist(root, split=split)
    elif name == "fashion-mnist":
        x, y = datasets.load_fashion_mnist(root, split=split)
    elif name == "digits":
        x, y = datasets.load_digits()
    elif name.endswith(".npy"):
        x, y = load_array(name), None
    elif name.endswith(".npz"):
        x, y = _load_npz(name)
    else:
        raise InvalidInputError(
            f"unknown data {name!r}: use one of {', '.join(DATASETS)}, or a .npy/.npz file of inputs."
        )
    if limit is not None:
        x = x[:limit]
        y = None if y is None else y[:limit]
    if y is not None and name in DATASETS:
        return datasets.as_tensor_dataset(x, y).tensors
    import torch

    return torch.as_tensor(np.asarray(x, dtype=np.float32)), _labels(name, y, len(x))


def _labels(name: str, y: Any, n: int) -> Any:
    """The labels of a ``.npz`` file as an int64 tensor (one integer per input), or None."""
    import numpy as np
    import torch

    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise InvalidInputError(f"{name}: the labels have shape {y.shape} but there are {n} inputs; "
                                "save one integer label per input (np.savez(path, x=inputs, y=labels)).")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise InvalidInputError(f"{name}: the labels must be class indices (integers >= 0), found "
                                f"{y.dtype} values; save them as integers, or leave y out.")
    return torch.as_tensor(y.astype(np.int64))


def _load_npz(name: str) -> tuple[Any, Any]:
    import zipfile

    import numpy as np

    try:
        with np.load(name, allow_pickle=False) as z:
            keys = list(z.keys())
            if not keys:
                raise InvalidInputError(f"{name} holds no arrays; expected inputs under 'x'.")
            xkey = next((k for k in ("x", "inputs", "images", "X") if k in z), keys[0])
            ykey = next((k for k in ("y", "labels", "targets") if k in z), None)
            x, y = z[xkey], (z[ykey] if ykey else None)
    except FileNotFoundError:
        raise InvalidInputError(f"{name} does not exist; expected a .npz file of inputs.") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"could not read {name} as a .npz file ({type(exc).__name__}: {exc}); "
                                "save it with np.savez(path, x=inputs, y=labels).") from None
    if not np.issubdtype(x.dtype, np.number):
        raise InvalidInputError(f"{name}: the inputs ({xkey}) are {x.dtype}, not numbers.")
    return x, y


def load_array(path: str) -> Any:
    """Load a numeric array from a .npy file (no pickle) with a clear error."""
    import numpy as np

    p = Path(path)
    if p.is_dir():
        raise InvalidInputError(f"{path} is a folder; expected a .npy file.")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(6)
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist; expected a .npy file.") from None
    except OSError as exc:
        raise InvalidInputError(f"could not read {path}: {exc.strerror or exc}.") from None
    if magic != b"\x93NUMPY":
        raise InvalidInputError(f"{path} is not a .npy file (it lacks the .npy header); save the "
                                "array with np.save(path, array).")
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist; expected a .npy file.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInputError(f"could not read {path} as a .npy array ({exc}); save it with np.save.") from exc
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.number):
        raise InvalidInputError(f"{path} does not hold a numeric .npy array (found {type(x).__name__}).")
    return x
