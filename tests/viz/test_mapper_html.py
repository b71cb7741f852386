"""Tests of topolens.viz.mapper_html without a browser: document shape, escaping, validation."""

from __future__ import annotations

import base64
import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.viz.mapper_html import render_explorer, validate_payload, write_explorer

HOSTILE = "</script><img src=x onerror=alert(1)>"
STATS = ["size", "purity", "entropy", "mean_lens", "misclassification"]


def make_payload(
    n_layers: int = 3,
    n_nodes: int = 30,
    n_inputs: int = 200,
    *,
    seed: int = 0,
    image_size: int = 8,
    hostile: bool = False,
) -> dict[str, Any]:
    """A small deterministic Mapper-like payload: overlapping windows over a random order.

    Every layer covers the inputs with ``n_nodes`` overlapping windows of a layer-specific
    permutation; the last node of each layer duplicates the previous one, so that some edges
    have a jaccard of exactly 1. Every second input has an 8x8 grey thumbnail.
    """
    rng = np.random.default_rng(seed)
    names = [f"class {k}" for k in range(10)]
    if hostile:
        names[9] = HOSTILE
    of_input = rng.integers(0, 10, size=n_inputs)
    predictions = np.where(rng.random(n_inputs) < 0.8, of_input, rng.integers(0, 10, n_inputs))
    with_image = np.arange(0, n_inputs, 2)
    pixels = rng.integers(0, 256, size=(with_image.size, image_size, image_size, 1), dtype=np.uint8)
    layers = []
    for li in range(n_layers):
        order = rng.permutation(n_inputs)
        step = n_inputs // (n_nodes - 1)
        width = int(step * 1.6)
        windows = [np.sort(order[(np.arange(width) + j * step) % n_inputs]) for j in range(n_nodes - 1)]
        windows.append(windows[-1].copy())
        nodes = []
        for j, members in enumerate(windows):
            labs, counts = np.unique(of_input[members], return_counts=True)
            desc = np.argsort(-counts, kind="stable")
            p = counts / counts.sum()
            nodes.append(
                {
                    "id": int(100 * li + j),
                    "members": members.tolist(),
                    "x": float(rng.random()),
                    "y": float(rng.random()),
                    "stats": {
                        "size": int(members.size),
                        "purity": float(p.max()),
                        "entropy": float(-(p * np.log(p)).sum()),
                        "mean_lens": float(rng.normal()),
                        "misclassification": None if j == 0 else float(
                            np.mean(predictions[members] != of_input[members])
                        ),
                    },
                    "label_counts": [[int(labs[k]), int(counts[k])] for k in desc],
                    "top_neurons": [
                        [int(k), float(v)]
                        for k, v in zip(
                            rng.choice(64, 5, replace=False),
                            np.sort(rng.random(5))[::-1] * 3,
                            strict=True,
                        )
                    ],
                    "sample": [int(m) for m in members if m % 2 == 0][:4],
                }
            )
        edges = []
        for a in range(n_nodes):
            for b in range(a + 1, n_nodes):
                shared = np.intersect1d(windows[a], windows[b]).size
                if shared:
                    union = np.union1d(windows[a], windows[b]).size
                    edges.append([nodes[a]["id"], nodes[b]["id"], int(shared), shared / union])
        layers.append(
            {"name": f"layer{li}", "n_inputs": n_inputs, "color_stats": STATS, "nodes": nodes,
             "edges": edges}
        )
    return {
        "title": f"Mapper {HOSTILE}" if hostile else "Mapper of synthetic activations",
        "labels": {"names": names, "of_input": of_input.tolist()},
        "predictions": predictions.tolist(),
        "images": {
            "height": image_size,
            "width": image_size,
            "channels": 1,
            "index": with_image.tolist(),
            "data": base64.b64encode(pixels.tobytes()).decode("ascii"),
        },
        "layers": layers,
    }


def extract_payload_json(doc: str) -> str:
    """The text of the ``<script type="application/json" id="payload">`` element."""
    m = re.search(r'<script type="application/json" id="payload">(.*?)</script>', doc, re.S)
    assert m is not None, "payload script element not found"
    return m.group(1)


@pytest.fixture(scope="module")
def payload() -> dict[str, Any]:
    return make_payload()


@pytest.fixture(scope="module")
def doc(payload: dict[str, Any]) -> str:
    return render_explorer(payload)


def test_one_self_contained_document(doc: str) -> None:
    assert doc.startswith("<!DOCTYPE html>")
    assert doc.count("<html") == 1 and doc.rstrip().endswith("</html>")
    lowered = doc.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "src=" not in lowered
    assert "<link rel=\"stylesheet\"" not in lowered and "@import" not in lowered
    # script and style are inlined
    assert "window.topolensExplorer" in doc
    assert ".graph-panel" in doc
    assert 'id="inspector"' in doc and 'id="inspector-title"' in doc
    # the CSP allows only the explorer's own script, by hash
    assert "default-src &#x27;none&#x27;" in doc and "sha256-" in doc


def test_payload_round_trips(payload: dict[str, Any], doc: str) -> None:
    assert json.loads(extract_payload_json(doc)) == payload


def test_title_defaults_and_override(payload: dict[str, Any]) -> None:
    assert "<title>Mapper of synthetic activations</title>" in render_explorer(payload)
    assert "<title>Other</title>" in render_explorer(payload, title="Other")
    bare = {k: v for k, v in payload.items() if k != "title"}
    assert "<title>Mapper explorer</title>" in render_explorer(bare)


def test_hostile_text_is_escaped() -> None:
    hostile = make_payload(n_layers=1, n_nodes=10, hostile=True)
    doc = render_explorer(hostile, title="<b>T</b> & " + HOSTILE)
    assert HOSTILE not in doc
    assert "<img" not in doc and "<b>" not in doc
    # exactly two script elements are opened and closed: data and code
    assert doc.count("<script") == 2 and doc.count("</script>") == 2
    assert f"<title>{html.escape('<b>T</b> & ' + HOSTILE)}</title>" in doc
    text = extract_payload_json(doc)
    assert "\\u003c/script\\u003e\\u003cimg" in text
    assert json.loads(text)["labels"]["names"][9] == HOSTILE


def test_line_separators_are_escaped() -> None:
    p = make_payload(n_layers=1, n_nodes=10)
    p["labels"]["names"][0] = "a\u2028b\u2029c&d"
    text = extract_payload_json(render_explorer(p))
    assert "\u2028" not in text and "\u2029" not in text and "&" not in text
    assert json.loads(text)["labels"]["names"][0] == "a\u2028b\u2029c&d"


def test_numpy_values_are_accepted() -> None:
    p = make_payload(n_layers=1, n_nodes=10)
    node = p["layers"][0]["nodes"][0]
    node["members"] = np.asarray(node["members"], dtype=np.int32)
    node["x"] = np.float32(0.25)
    doc = render_explorer(p)
    back = json.loads(extract_payload_json(doc))["layers"][0]["nodes"][0]
    assert back["members"] == node["members"].tolist() and back["x"] == 0.25


def test_validate_accepts_good_payload(payload: dict[str, Any]) -> None:
    validate_payload(payload)
    validate_payload({"layers": [{"name": "empty", "n_inputs": 0, "nodes": [], "edges": []}]})


def _broken(payload: dict[str, Any], how: str) -> dict[str, Any]:
    p = copy.deepcopy(payload)
    layer = p["layers"][1]
    if how == "edge":
        layer["edges"][3][1] = 99999
    elif how == "member":
        layer["nodes"][2]["members"].append(p["layers"][0]["n_inputs"] + 5)
    elif how == "image":
        raw = base64.b64decode(p["images"]["data"])
        p["images"]["data"] = base64.b64encode(raw[:-3]).decode("ascii")
    elif how == "layers":
        del p["layers"]
    elif how == "nan":
        layer["nodes"][0]["stats"]["purity"] = float("nan")
    elif how == "duplicate_id":
        layer["nodes"][1]["id"] = layer["nodes"][0]["id"]
    elif how == "sample":
        odd = [m for m in layer["nodes"][0]["members"] if m % 2 == 1]
        layer["nodes"][0]["sample"] = odd[:1]  # odd inputs have no image
    elif how == "label":
        layer["nodes"][0]["label_counts"].append([10, 1])
    elif how == "n_inputs":
        layer["n_inputs"] += 1
    elif how == "channels":
        p["images"]["channels"] = 4
    elif how == "x":
        del layer["nodes"][4]["x"]
    return p


@pytest.mark.parametrize(
    ("how", "pattern"),
    [
        ("edge", r"edges\[3\].*unknown node"),
        ("member", r"members.*out of range"),
        ("image", r"images\.data.*data length wrong.*expected"),
        ("layers", r"no key 'layers'"),
        ("nan", r"purity.*finite number or None"),
        ("duplicate_id", r"nodes\[1\]\.id.*already used"),
        ("sample", r"sample.*no image"),
        ("label", r"label 10, out of range"),
        ("n_inputs", r"layers\[1\]\.n_inputs"),
        ("channels", r"channels.*1 \(grey\) or 3 \(RGB\)"),
        ("x", r"nodes\[4\].*no key 'x'"),
    ],
)
def test_validate_rejects_bad_payloads(payload: dict[str, Any], how: str, pattern: str) -> None:
    bad = _broken(payload, how)
    with pytest.raises(InvalidInputError, match=pattern) as info:
        validate_payload(bad)
    assert isinstance(info.value, ValueError)
    assert "expected" in str(info.value)
    with pytest.raises(InvalidInputError):
        render_explorer(bad)


@pytest.mark.parametrize("bad", [None, [], {"layers": []}, {"layers": "x"}])
def test_validate_rejects_non_payloads(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="expected"):
        validate_payload(bad)


def test_write_explorer_is_atomic(tmp_path: Path, payload: dict[str, Any], doc: str) -> None:
    out = tmp_path / "sub" / "explorer.html"
    written = write_explorer(payload, out)
    assert written == out and out.is_file()
    assert out.read_text(encoding="utf-8") == doc
    assert [p.name for p in out.parent.iterdir()] == ["explorer.html"]  # no temporary file left
    # a bad payload leaves the existing file untouched and no temporary file behind
    with pytest.raises(InvalidInputError):
        write_explorer(_broken(payload, "edge"), out)
    assert out.read_text(encoding="utf-8") == doc
    assert [p.name for p in out.parent.iterdir()] == ["explorer.html"]


def test_static_assets_are_package_data() -> None:
    from importlib import resources

    static = resources.files("topolens.viz") / "static"
    js = (static / "mapper_explorer.js").read_text(encoding="utf-8")
    css = (static / "mapper_explorer.css").read_text(encoding="utf-8")
    assert "</script" not in js.lower() and "innerHTML" not in js
    assert "http" not in js and "http" not in css


def test_provenance_in_the_header_is_escaped(payload: dict[str, Any]) -> None:
    doc = render_explorer(payload, provenance={"weights sha256": "ab12", "split": "<b>test</b>"})
    header = doc[doc.index('<header class="app-header">'):doc.index("</header>")]
    assert "weights sha256: ab12" in header and "&lt;b&gt;test&lt;/b&gt;" in header
    assert 'id="provenance"' not in render_explorer(payload)
