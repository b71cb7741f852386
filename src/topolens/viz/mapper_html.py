"""Self-contained, offline, interactive HTML explorer of Mapper graphs (TopoAct-style).

:func:`render_explorer` turns a *payload* (a plain, JSON-serialisable ``dict`` describing one or
more Mapper graphs built over the same inputs, e.g. the activations of several layers of a
network) into a single HTML document. The document has no external resource at all: the
script, the style sheet and the data are inlined, so it works from ``file://`` without any
network access. A Content-Security-Policy forbids every network load and only allows the
explorer's own script (by hash).

Payload schema
--------------
``layers`` (required, non-empty list)
    One entry per Mapper graph, each a dict with ``name`` (str), ``n_inputs`` (int, the same
    for every layer), ``color_stats`` (optional list of stat names offered for colouring),
    ``nodes`` and ``edges``.
``nodes[i]``
    ``id`` (int, unique in its layer), ``members`` (distinct input indices in
    ``[0, n_inputs)``), ``x`` and ``y`` (finite numbers, normally in ``[0, 1]``; ``y`` points
    up; the explorer fits their bounding box to the view), and the optional ``stats`` (dict of
    name to finite number or ``None``), ``label_counts`` (``[label, count]`` pairs),
    ``top_neurons`` (``[neuron, mean activation]`` pairs) and ``sample`` (member inputs with a
    thumbnail, i.e. a subset of both ``members`` and ``images.index``).
``edges``
    ``[source id, target id, shared member count, jaccard]`` with ``jaccard`` in ``[0, 1]``.
``labels`` (optional)
    ``{"names": [str, ...], "of_input": [label index per input] or None}``.
``predictions`` (optional)
    Predicted label index per input, or ``None``.
``images`` (optional)
    ``{"height", "width", "channels" (1 or 3), "index": [input indices],
    "data": base64 of the uint8 array shaped (k, height, width, channels), C order}``.
``title`` (optional)
    Document title; the ``title`` argument of :func:`render_explorer` overrides it.

numpy integers, floats and 1-D arrays are accepted wherever the schema asks for numbers or
lists; they are written out as plain JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import math
import numbers
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..exceptions import InvalidInputError

__all__ = ["render_explorer", "validate_payload", "write_explorer"]

DEFAULT_TITLE = "Mapper explorer"

_HOW_TO_FIX = "See the payload schema in the docstring of topolens.viz.mapper_html."

# characters that could end the <script> element or break JavaScript parsing of the JSON
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


# ----------------------------------------------------------------------------- validation
def _fail(where: str, found: str, expected: str, fix: str | None = None) -> InvalidInputError:
    """Build an :class:`InvalidInputError` saying what was found, what was expected, how to fix."""
    return InvalidInputError(
        f"Invalid Mapper explorer payload: {where} {found}; expected {expected}. "
        f"{fix or _HOW_TO_FIX}"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_finite_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def _kind(value: Any) -> str:
    """Short description of a value for error messages."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple, np.ndarray)):
        return f"a {type(value).__name__} of length {len(value)}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _require(mapping: Mapping, key: str, where: str) -> Any:
    if key not in mapping:
        keys = ", ".join(sorted(map(str, mapping))) or "none"
        raise _fail(where, f"has no key {key!r} (keys found: {keys})", f"a {key!r} entry")
    return mapping[key]


def _int_array(
    value: Any,
    where: str,
    *,
    lo: int | None = None,
    hi: int | None = None,
    distinct: bool = False,
) -> np.ndarray:
    """Check ``value`` is a list of ints in ``[lo, hi)``; return it as an int64 array."""
    if not _is_list(value):
        raise _fail(where, f"is {_kind(value)}", "a list of integers")
    if len(value) == 0:
        return np.zeros(0, dtype=np.int64)
    if not all(_is_int(v) for v in value):
        bad = next(v for v in value if not _is_int(v))
        raise _fail(where, f"contains {_kind(bad)}", "a list of integers")
    arr = np.asarray(value, dtype=np.int64)
    if lo is not None and arr.min() < lo:
        raise _fail(where, f"contains {int(arr.min())}", f"integers >= {lo}")
    if hi is not None and arr.max() >= hi:
        raise _fail(
            where, f"contains {int(arr.max())}, out of range", f"integers in [0, {hi})",
            "Input indices must be smaller than n_inputs (and label indices smaller than "
            "the number of label names).",
        )
    if distinct and np.unique(arr).size != arr.size:
        raise _fail(where, "contains duplicates", "distinct integers")
    return arr


def _check_pairs(value: Any, where: str, *, n_labels: int | None, second: str) -> None:
    """Check a list of ``[int, number]`` pairs (``second`` is ``"count"`` or ``"real"``)."""
    if value is None:
        return
    if not _is_list(value):
        raise _fail(where, f"is {_kind(value)}", "a list of [index, value] pairs")
    for k, pair in enumerate(value):
        w = f"{where}[{k}]"
        if not _is_list(pair) or len(pair) != 2:
            raise _fail(w, f"is {_kind(pair)}", "an [index, value] pair")
        idx, val = pair[0], pair[1]
        if not _is_int(idx) or idx < 0:
            raise _fail(w, f"has index {_kind(idx)}", "a non-negative integer index")
        if n_labels is not None and idx >= n_labels:
            raise _fail(
                w, f"refers to label {idx}, out of range",
                f"a label index in [0, {n_labels}) (one per entry of labels.names)",
            )
        if second == "count" and (not _is_int(val) or val < 0):
            raise _fail(w, f"has count {_kind(val)}", "a non-negative integer count")
        if second == "real" and not _is_finite_real(val):
            raise _fail(w, f"has value {_kind(val)}", "a finite number")


def _check_per_input(values: Any, where: str, what: str, n_inputs: int,
                     n_labels: int | None) -> None:
    """One label index (< n_labels when names are known) per input, or None."""
    if values is None:
        return
    arr = _int_array(values, where, lo=0, hi=n_labels)
    if arr.size != n_inputs:
        raise _fail(where, f"has {arr.size} entries",
                    f"one {what} per input ({n_inputs}, the layers' n_inputs)")


def _check_labels(payload: Mapping, n_inputs: int) -> int | None:
    """Validate ``labels`` and ``predictions``; return the number of label names (or None)."""
    labels = payload.get("labels")
    n_labels: int | None = None
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise _fail("labels", f"is {_kind(labels)}", "a dict with 'names' and 'of_input'")
        names = labels.get("names")
        if names is not None:
            if not _is_list(names):
                raise _fail("labels.names", f"is {_kind(names)}", "a list of strings")
            for k, name in enumerate(names):
                if not isinstance(name, str):
                    raise _fail(
                        f"labels.names[{k}]", f"is {_kind(name)}", "a string",
                        "Convert class names with str() before building the payload.",
                    )
            n_labels = len(names)
        _check_per_input(labels.get("of_input"), "labels.of_input", "label", n_inputs, n_labels)
    _check_per_input(payload.get("predictions"), "predictions", "predicted label", n_inputs,
                     n_labels)
    return n_labels


def _check_images(images: Any, n_inputs: int) -> set[int] | None:
    """Validate ``images``; return the set of input indices that have a thumbnail."""
    if images is None:
        return None
    if not isinstance(images, Mapping):
        raise _fail("images", f"is {_kind(images)}", "None or a dict (height, width, ...)")
    dims = {}
    for key in ("height", "width", "channels"):
        val = _require(images, key, "images")
        if not _is_int(val) or val <= 0:
            raise _fail(f"images.{key}", f"is {_kind(val)}", "a positive integer")
        dims[key] = int(val)
    if dims["channels"] not in (1, 3):
        raise _fail(
            "images.channels", f"is {dims['channels']}", "1 (grey) or 3 (RGB)",
            "Drop the alpha channel or convert the images to RGB.",
        )
    index = _int_array(
        _require(images, "index", "images"), "images.index", lo=0, hi=n_inputs, distinct=True
    )
    data = _require(images, "data", "images")
    if not isinstance(data, str):
        raise _fail(
            "images.data", f"is {_kind(data)}", "a base64 string",
            "Encode with base64.b64encode(array.astype(np.uint8).tobytes()).decode('ascii').",
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("images.data", f"is not valid base64 ({exc})", "a base64 string") from None
    per_image = dims["height"] * dims["width"] * dims["channels"]
    expected = index.size * per_image
    if len(raw) != expected:
        raise _fail(
            "images.data",
            f"decodes to {len(raw)} bytes (data length wrong)",
            f"{expected} bytes = {index.size} images x {dims['height']} x {dims['width']} x "
            f"{dims['channels']} uint8 values",
            "Encode a uint8 array shaped (len(index), height, width, channels) in C order.",
        )
    return {int(i) for i in index}


def _check_layer(
    layer: Any, li: int, n_labels: int | None, image_set: set[int] | None
) -> int:
    """Validate one layer; return its ``n_inputs``."""
    where = f"layers[{li}]"
    if not isinstance(layer, Mapping):
        raise _fail(where, f"is {_kind(layer)}", "a dict with name, n_inputs, nodes and edges")
    name = _require(layer, "name", where)
    if not isinstance(name, str):
        raise _fail(f"{where}.name", f"is {_kind(name)}", "a string")
    n_inputs = _require(layer, "n_inputs", where)
    if not _is_int(n_inputs) or n_inputs < 0:
        raise _fail(f"{where}.n_inputs", f"is {_kind(n_inputs)}", "a non-negative integer")
    n_inputs = int(n_inputs)
    color_stats = layer.get("color_stats", [])
    if color_stats is None:
        color_stats = []
    if not _is_list(color_stats) or not all(isinstance(s, str) for s in color_stats):
        raise _fail(f"{where}.color_stats", f"is {_kind(color_stats)}", "a list of stat names")

    nodes = _require(layer, "nodes", where)
    if not _is_list(nodes):
        raise _fail(f"{where}.nodes", f"is {_kind(nodes)}", "a list of node dicts")
    ids: dict[int, int] = {}
    for ni, node in enumerate(nodes):
        nw = f"{where}.nodes[{ni}]"
        if not isinstance(node, Mapping):
            raise _fail(nw, f"is {_kind(node)}", "a dict with id, members, x and y")
        node_id = _require(node, "id", nw)
        if not _is_int(node_id):
            raise _fail(f"{nw}.id", f"is {_kind(node_id)}", "an integer")
        if int(node_id) in ids:
            raise _fail(
                f"{nw}.id", f"is {node_id}, already used by nodes[{ids[int(node_id)]}]",
                "node ids unique within a layer",
            )
        ids[int(node_id)] = ni
        members = _int_array(
            _require(node, "members", nw), f"{nw}.members (member indices)",
            lo=0, hi=n_inputs, distinct=True,
        )
        for coord in ("x", "y"):
            val = _require(node, coord, nw)
            if not _is_finite_real(val):
                raise _fail(f"{nw}.{coord}", f"is {_kind(val)}", "a finite number in [0, 1]")
        stats = node.get("stats")
        if stats is not None:
            if not isinstance(stats, Mapping):
                raise _fail(f"{nw}.stats", f"is {_kind(stats)}", "a dict of name -> number")
            for key, val in stats.items():
                if not isinstance(key, str):
                    raise _fail(f"{nw}.stats", f"has key {_kind(key)}", "string keys")
                if val is not None and not _is_finite_real(val):
                    raise _fail(
                        f"{nw}.stats[{key!r}]", f"is {_kind(val)}",
                        "a finite number or None", "Use None (JSON null) for missing values.",
                    )
        _check_pairs(node.get("label_counts"), f"{nw}.label_counts", n_labels=n_labels,
                     second="count")
        _check_pairs(node.get("top_neurons"), f"{nw}.top_neurons", n_labels=None, second="real")
        sample = node.get("sample")
        if sample is not None:
            sample_arr = _int_array(sample, f"{nw}.sample", lo=0, hi=n_inputs)
            missing = np.setdiff1d(sample_arr, members)
            if missing.size:
                raise _fail(
                    f"{nw}.sample", f"contains input {int(missing[0])}, not a member of the node",
                    "a subset of the node's members",
                )
            if image_set is not None:
                no_image = [int(s) for s in sample_arr if int(s) not in image_set]
                if no_image:
                    raise _fail(
                        f"{nw}.sample", f"contains input {no_image[0]}, which has no image",
                        "a subset of images.index",
                    )

    edges = _require(layer, "edges", where)
    if not _is_list(edges):
        raise _fail(f"{where}.edges", f"is {_kind(edges)}", "a list of [source, target, shared, "
                    "jaccard] rows")
    for ei, edge in enumerate(edges):
        ew = f"{where}.edges[{ei}]"
        if not _is_list(edge) or len(edge) != 4:
            raise _fail(ew, f"is {_kind(edge)}", "[source id, target id, shared, jaccard]")
        for end in (0, 1):
            nid = edge[end]
            if not _is_int(nid) or int(nid) not in ids:
                raise _fail(
                    ew, f"points at node id {nid!r}, an unknown node",
                    "the ids of two nodes of the same layer",
                    "Drop edges whose endpoints were filtered out, or keep their nodes.",
                )
        shared, jac = edge[2], edge[3]
        if not _is_int(shared) or shared < 0:
            raise _fail(ew, f"has shared count {_kind(shared)}", "a non-negative integer")
        if not _is_finite_real(jac) or not 0.0 <= float(jac) <= 1.0:
            raise _fail(ew, f"has jaccard {_kind(jac)}", "a number in [0, 1]")
    return n_inputs


def validate_payload(payload: Any) -> None:
    """Check that ``payload`` follows the Mapper explorer schema.

    Parameters
    ----------
    payload : dict
        The explorer payload (see the module docstring for the schema).

    Raises
    ------
    InvalidInputError
        If the payload is malformed: a required key is missing, an edge points at an unknown
        node id, a member or sample index is out of range, the image data has the wrong length,
        a number is NaN or infinite, etc. The message names the offending entry, what was
        expected and how to fix it.
    """
    if not isinstance(payload, Mapping):
        raise _fail("the payload", f"is {_kind(payload)}", "a dict with a 'layers' list")
    title = payload.get("title")
    if title is not None and not isinstance(title, str):
        raise _fail("title", f"is {_kind(title)}", "a string or None")
    layers = _require(payload, "layers", "the payload")
    if not _is_list(layers) or len(layers) == 0:
        raise _fail(
            "layers", f"is {_kind(layers)}", "a non-empty list of layer dicts",
            "Add at least one Mapper graph to payload['layers'].",
        )
    first = layers[0]
    if not isinstance(first, Mapping) or not _is_int(first.get("n_inputs")):
        _check_layer(first, 0, None, None)  # raises with a precise message
    n_inputs = int(first["n_inputs"])
    for li, layer in enumerate(layers):
        if isinstance(layer, Mapping) and layer.get("n_inputs") != n_inputs:
            raise _fail(
                f"layers[{li}].n_inputs", f"is {_kind(layer.get('n_inputs'))}",
                f"{n_inputs} like layers[0]: every layer is a graph over the same inputs",
            )
    n_labels = _check_labels(payload, n_inputs)
    image_set = _check_images(payload.get("images"), n_inputs)
    for li, layer in enumerate(layers):
        _check_layer(layer, li, n_labels, image_set)


# ----------------------------------------------------------------------------- rendering
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _payload_json(payload: Mapping) -> str:
    """Serialise the payload for a ``<script type="application/json">`` element."""
    text = json.dumps(
        payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    )
    return text.translate(_SCRIPT_ESCAPES)


def _static_text(name: str) -> str:
    text = (resources.files("topolens.viz") / "static" / name).read_text(encoding="utf-8")
    # the HTML parser turns CR LF into LF; normalise so that the CSP hash matches
    return text.replace("\r\n", "\n").replace("\r", "\n")


def render_explorer(payload: Mapping[str, Any], *, title: str | None = None,
                    provenance: Mapping[str, Any] | None = None) -> str:
    """Render an interactive, self-contained HTML explorer of Mapper graphs.

    Parameters
    ----------
    payload : dict
        One or more Mapper graphs over the same inputs, with optional labels, predictions and
        thumbnails (see the module docstring). It is validated with :func:`validate_payload`.
    title : str, optional
        Document title; defaults to ``payload["title"]`` or ``"Mapper explorer"``.
    provenance : mapping, optional
        What was analysed (e.g. ``{"weights sha256": ..., "data": ..., "split": ...}``),
        shown (escaped) in the header.

    Returns
    -------
    str
        A complete HTML document. Script, style sheet and data are inlined: the file needs no
        network and works when opened from disk. All text from the payload is escaped (HTML
        side) or inserted as text nodes (script side).

    Raises
    ------
    InvalidInputError
        If the payload is malformed.
    """
    validate_payload(payload)
    if title is None:
        title = payload.get("title") or DEFAULT_TITLE
    js = _static_text("mapper_explorer.js")
    css = _static_text("mapper_explorer.css")
    if "</script" in js.lower() or "</style" in css.lower():  # pragma: no cover - asset bug
        raise RuntimeError("the explorer's static assets must not contain '</script' or '</style'")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    layers = payload["layers"]
    n_inputs = int(layers[0]["n_inputs"])
    names = (payload.get("labels") or {}).get("names") or []
    bits = [
        f"{len(layers)} layer{'s' if len(layers) != 1 else ''}",
        f"{n_inputs} inputs",
    ]
    if names:
        bits.append(f"{len(names)} classes")
    subtitle = " · ".join(bits)
    esc = html.escape
    prov = ""
    if provenance:
        prov = ('\n<span class="subtitle" id="provenance">'
                + esc(" · ".join(f"{k}: {v}" for k, v in provenance.items())) + "</span>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="topolens">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>
{css}
</style>
</head>
<body>
<header class="app-header">
<h1 id="app-title">{esc(title)}</h1>
<span class="subtitle">{esc(subtitle)}</span>{prov}
</header>
<div id="controls" class="controls">
<label>Layout
<select id="layout" autocomplete="off">
<option value="precomputed" selected>Precomputed</option>
<option value="force">Force-directed</option>
</select></label>
<label>Colour
<select id="color" autocomplete="off"><option value="pie" selected>Class pie</option></select>
</label>
<label>Edge similarity &ge;
<input id="edge-threshold" type="range" min="0" max="1" step="0.01" value="0" autocomplete="off">
<output id="edge-threshold-value" for="edge-threshold">0.00</output></label>
<label>Search label
<input id="search" type="search" placeholder="class name" autocomplete="off" spellcheck="false">
</label>
<span id="search-count" aria-live="polite"></span>
<button id="fit-view" type="button" title="Fit every graph to its view">Fit view</button>
</div>
<main class="app-main">
<div id="graphs"></div>
<aside id="inspector" aria-live="polite">
<h2 id="inspector-title">No node selected</h2>
<p id="inspector-subtitle"></p>
<div id="inspector-body"><p class="hint">Click a node to inspect it.</p></div>
</aside>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="payload">{_payload_json(payload)}</script>
<script>{js}</script>
</body>
</html>
"""


def write_explorer(
    payload: Mapping[str, Any], path: str | os.PathLike, *, title: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Render the explorer (see :func:`render_explorer`) and write it atomically to ``path``.

    Parameters
    ----------
    payload : dict
        The explorer payload.
    path : path-like
        Destination HTML file; its parent directory is created if missing. A reader never
        sees a half-written file: the document is written next to it and moved into place.
    title : str, optional
        Document title; defaults to ``payload["title"]`` or ``"Mapper explorer"``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InvalidInputError
        If the payload is malformed (nothing is written then).
    """
    text = render_explorer(payload, title=title, provenance=provenance)
    return atomic_write_text(path, text)
