"""Tests of the Mapper explorer in a real browser (Playwright's sync API, system chromium).

Skipped when the ``playwright`` package or a chromium executable is missing. The browser is
looked up in ``$TOPOLENS_CHROMIUM``, then ``chromium`` and ``chromium-browser`` on the PATH;
it is started once for the module and every test opens the explorer from a ``file://`` URL.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topolens.viz.mapper_html import write_explorer

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip(
        "playwright is not installed (pip install 'topolens[dev]'); browser tests skipped",
        allow_module_level=True,
    )

CHROMIUM = (
    os.environ.get("TOPOLENS_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
if not CHROMIUM:  # pragma: no cover - depends on the environment
    pytest.skip(
        "no chromium found (set TOPOLENS_CHROMIUM or install chromium); browser tests skipped",
        allow_module_level=True,
    )

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HOSTILE = "</script><img src=x onerror=alert(1)>"
LABEL_ROWS = 10  # rows of the inspector's "Top labels" list (LABEL_ROWS in the script)
API = "window.topolensExplorer"


# ----------------------------------------------------------------------------- payloads
def make_payload(
    n_layers: int = 3,
    n_nodes: int = 30,
    n_inputs: int = 200,
    *,
    n_edges: int | None = None,
    seed: int = 1,
    hostile: bool = False,
) -> dict[str, Any]:
    """A deterministic Mapper-like payload.

    Each layer covers the inputs with ``n_nodes`` overlapping windows of a layer-specific
    permutation (so consecutive nodes share inputs); the last node duplicates the one before
    (an edge of jaccard 1). With ``n_edges``, random extra edges are added up to that count.
    Every second input has an 8x8 grey thumbnail.
    """
    rng = np.random.default_rng(seed)
    names = [f"class {k}" for k in range(10)]
    if hostile:
        names[9] = HOSTILE
    of_input = rng.integers(0, 10, size=n_inputs)
    with_image = np.arange(0, n_inputs, 2)
    pixels = rng.integers(0, 256, size=(with_image.size, 8, 8, 1), dtype=np.uint8)
    step = max(1, n_inputs // n_nodes)
    width = max(2, int(step * 1.6))
    layers = []
    for li in range(n_layers):
        order = rng.permutation(n_inputs)
        windows = [np.sort(order[(np.arange(width) + j * step) % n_inputs]) for j in range(n_nodes - 1)]
        windows.append(windows[-1].copy())
        angle = np.linspace(0, 4 * np.pi, n_nodes)
        xs = 0.5 + 0.45 * np.cos(angle) * np.linspace(0.2, 1, n_nodes) + rng.normal(0, 0.01, n_nodes)
        ys = 0.5 + 0.45 * np.sin(angle) * np.linspace(0.2, 1, n_nodes) + rng.normal(0, 0.01, n_nodes)
        nodes = []
        for j, members in enumerate(windows):
            labs, counts = np.unique(of_input[members], return_counts=True)
            desc = np.argsort(-counts, kind="stable")
            nodes.append(
                {
                    "id": int(1000 * li + 3 * j),
                    "members": members.tolist(),
                    "x": float(np.clip(xs[j], 0, 1)),
                    "y": float(np.clip(ys[j], 0, 1)),
                    "stats": {"size": int(members.size), "purity": float(counts.max() / members.size)},
                    "label_counts": [[int(labs[k]), int(counts[k])] for k in desc],
                    "top_neurons": [[int(k), float(3 - k / 10)] for k in range(4)],
                    "sample": [int(m) for m in members if m % 2 == 0][:3],
                }
            )
        edges = []
        for j in range(n_nodes - 1):
            a, b = windows[j], windows[j + 1]
            shared = np.intersect1d(a, b).size
            if shared:
                jac = shared / np.union1d(a, b).size
                edges.append([nodes[j]["id"], nodes[j + 1]["id"], int(shared), float(jac)])
        seen = {(e[0], e[1]) for e in edges}
        while n_edges is not None and len(edges) < n_edges:
            a, b = sorted(rng.choice(n_nodes, 2, replace=False).tolist())
            key = (nodes[a]["id"], nodes[b]["id"])
            if key not in seen:
                seen.add(key)
                edges.append([*key, 1, float(rng.choice([1.0, rng.uniform(0.01, 0.99)]))])
        layers.append(
            {
                "name": f"layer {li}",
                "n_inputs": n_inputs,
                "color_stats": ["size", "purity"],
                "nodes": nodes,
                "edges": edges,
            }
        )
    return {
        "title": f"Hostile {HOSTILE}" if hostile else "Browser test payload",
        "labels": {"names": names, "of_input": of_input.tolist()},
        "predictions": None,
        "images": {
            "height": 8,
            "width": 8,
            "channels": 1,
            "index": with_image.tolist(),
            "data": base64.b64encode(pixels.tobytes()).decode("ascii"),
        },
        "layers": layers,
    }


# ----------------------------------------------------------------------------- fixtures
@dataclass
class Opened:
    """An explorer page and what it reported while loading and running."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    seconds_to_ready: float = 0.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # pragma: no cover - depends on the environment
            pytest.skip(f"could not start {CHROMIUM}: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    return make_payload()


@pytest.fixture
def open_explorer(browser: Browser, tmp_path: Path) -> Iterator[Callable[..., Opened]]:
    contexts = []

    def _open(
        payload: dict[str, Any],
        name: str = "explorer.html",
        *,
        width: int = 1400,
        scale: float = 1.0,
    ) -> Opened:
        path = write_explorer(payload, tmp_path / name)
        context = browser.new_context(
            viewport={"width": width, "height": 900}, device_scale_factor=scale
        )
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page)

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                opened.errors.append(f"console error: {msg.text}")

        def on_dialog(dialog: Any) -> None:
            opened.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
        page.on("dialog", on_dialog)
        t0 = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=10_000)
        opened.seconds_to_ready = time.perf_counter() - t0
        return opened

    yield _open
    for context in contexts:
        context.close()


def _click_node(page: Page, layer: int, node_id: int) -> None:
    pos = page.evaluate(f"{API}.nodeScreenPosition({layer}, {node_id})")
    page.mouse.click(pos["x"], pos["y"])


# ----------------------------------------------------------------------------- tests
def test_loads_without_errors(open_explorer: Callable[..., Opened], small: dict[str, Any]) -> None:
    opened = open_explorer(small)
    page = opened.page
    assert page.evaluate(f"{API}.ready") is True
    layers = page.evaluate(f"{API}.layers")
    assert [lay["name"] for lay in layers] == [lay["name"] for lay in small["layers"]]
    for got, want in zip(layers, small["layers"], strict=True):
        assert got["nodeCount"] == len(want["nodes"])
        assert got["edgeCount"] == len(want["edges"])
        assert got["visibleEdgeCount"] == len(want["edges"])
    statuses = page.locator(".graph-panel .status").all_text_contents()
    assert statuses == [f"{len(lay['nodes'])} nodes, {len(lay['edges'])} edges" for lay in small["layers"]]
    assert page.title() == "Browser test payload"
    # the canvases were actually drawn (some non-transparent pixel)
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('.canvas-wrap canvas')).map((c) =>"
        " c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0))"
    )
    assert drawn == [True, True, True]
    assert opened.errors == []


def test_click_node_fills_inspector(
    open_explorer: Callable[..., Opened], small: dict[str, Any]
) -> None:
    opened = open_explorer(small, scale=2.0)  # hi-DPI: the canvas backing store is 2x
    page = opened.page
    node = small["layers"][0]["nodes"][7]
    _click_node(page, 0, node["id"])
    assert str(node["id"]) in page.text_content("#inspector-title")
    assert page.evaluate(f"{API}.selection()") == {"layerIndex": 0, "nodeId": node["id"]}
    assert page.locator("#inspector .label-row").count() == min(len(node["label_counts"]), LABEL_ROWS)
    assert page.locator("#inspector canvas.thumb").count() == len(node["sample"])
    canvas = page.locator(".canvas-wrap canvas").first
    css_width = canvas.bounding_box()["width"]
    assert canvas.evaluate("(c) => c.width") == pytest.approx(2 * css_width, abs=2)
    members = page.text_content("#inspector .members")
    assert members.startswith(", ".join(map(str, node["members"][:5])))
    # hovering shows the tooltip; a click on the empty corner of the canvas clears the selection
    pos = page.evaluate(f"{API}.nodeScreenPosition(0, {node['id']})")
    page.mouse.move(pos["x"] + 1, pos["y"])
    assert f"Node {node['id']}" in page.text_content("#tooltip")
    box = page.locator(".canvas-wrap canvas").first.bounding_box()
    page.mouse.click(box["x"] + 3, box["y"] + 3)
    assert page.text_content("#inspector-title") == "No node selected"
    assert page.locator("#inspector .label-row").count() == 0
    assert opened.errors == []


def test_pan_and_zoom(open_explorer: Callable[..., Opened], small: dict[str, Any]) -> None:
    opened = open_explorer(small, width=800)  # narrow: the graphs are stacked
    page = opened.page
    boxes = [page.locator(".graph-panel").nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
    assert boxes[0]["x"] == boxes[1]["x"]
    node_id = small["layers"][0]["nodes"][3]["id"]
    before = page.evaluate(f"{API}.nodeScreenPosition(0, {node_id})")
    box = page.locator(".canvas-wrap canvas").first.bounding_box()
    # drag the background: the graph follows the mouse
    page.mouse.move(box["x"] + 4, box["y"] + 4)
    page.mouse.down()
    page.mouse.move(box["x"] + 30, box["y"] + 20, steps=4)
    page.mouse.move(box["x"] + 54, box["y"] + 34, steps=4)
    page.mouse.up()
    after = page.evaluate(f"{API}.nodeScreenPosition(0, {node_id})")
    assert after["x"] - before["x"] == pytest.approx(50, abs=0.01)
    assert after["y"] - before["y"] == pytest.approx(30, abs=0.01)
    assert page.evaluate(f"{API}.selection()") is None  # a drag is not a click
    # wheel zoom keeps the point under the cursor in place and moves the others away
    other = small["layers"][0]["nodes"][20]["id"]
    far0 = page.evaluate(f"{API}.nodeScreenPosition(0, {other})")
    cursor = (round(after["x"]), round(after["y"]))  # mouse events carry whole pixels
    page.mouse.move(*cursor)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(50)
    fixed = page.evaluate(f"{API}.nodeScreenPosition(0, {node_id})")
    far1 = page.evaluate(f"{API}.nodeScreenPosition(0, {other})")
    assert fixed["x"] == pytest.approx(cursor[0], abs=1.5)
    assert fixed["y"] == pytest.approx(cursor[1], abs=1.5)
    assert abs(far1["x"] - fixed["x"]) > abs(far0["x"] - after["x"])
    # the "Fit view" button restores the initial view
    page.click("#fit-view")
    fitted = page.evaluate(f"{API}.nodeScreenPosition(0, {node_id})")
    assert fitted == pytest.approx(before, abs=0.01)
    assert opened.errors == []


def test_edge_slider_hides_weak_edges(
    open_explorer: Callable[..., Opened], small: dict[str, Any]
) -> None:
    opened = open_explorer(small)
    page = opened.page
    page.eval_on_selector(
        "#edge-threshold",
        "(el) => { el.value = '1'; el.dispatchEvent(new Event('input', { bubbles: true })); }",
    )
    layers = page.evaluate(f"{API}.layers")
    for got, want in zip(layers, small["layers"], strict=True):
        strong = sum(1 for e in want["edges"] if e[3] >= 1.0)
        assert 0 < strong < len(want["edges"])
        assert got["visibleEdgeCount"] == strong
    assert page.text_content("#edge-threshold-value") == "1.00"
    page.eval_on_selector(
        "#edge-threshold",
        "(el) => { el.value = '0'; el.dispatchEvent(new Event('input', { bubbles: true })); }",
    )
    assert [lay["visibleEdgeCount"] for lay in page.evaluate(f"{API}.layers")] == [
        len(lay["edges"]) for lay in small["layers"]
    ]
    assert opened.errors == []


def test_search_by_label(open_explorer: Callable[..., Opened], small: dict[str, Any]) -> None:
    opened = open_explorer(small)
    page = opened.page
    page.fill("#search", "CLASS 3")
    expected = [
        sorted(n["id"] for n in lay["nodes"] if any(lab == 3 for lab, _ in n["label_counts"]))
        for lay in small["layers"]
    ]
    got = [sorted(page.evaluate(f"{API}.matches({li})")) for li in range(len(small["layers"]))]
    assert got == expected
    total = sum(map(len, expected))
    assert 0 < total < sum(len(lay["nodes"]) for lay in small["layers"])
    assert page.text_content("#search-count") == f"{total} matching nodes"
    page.fill("#search", "no such class")
    assert page.text_content("#search-count") == "no matching nodes"
    page.fill("#search", "")
    assert page.evaluate(f"{API}.matches(0)") is None
    assert opened.errors == []


def test_hostile_label_stays_text(open_explorer: Callable[..., Opened]) -> None:
    payload = make_payload(n_layers=2, n_nodes=20, hostile=True)
    opened = open_explorer(payload, "hostile.html")
    page = opened.page
    assert page.title() == f"Hostile {HOSTILE}"
    assert page.text_content("#app-title") == f"Hostile {HOSTILE}"
    node = next(n for n in payload["layers"][0]["nodes"] if any(lab == 9 for lab, _ in n["label_counts"]))
    _click_node(page, 0, node["id"])
    text = page.text_content("#inspector")
    assert HOSTILE in text and "<img" in text
    assert page.locator("img").count() == 0
    page.fill("#search", "<img")
    assert page.evaluate(f"{API}.matches(0)")
    assert page.locator("img").count() == 0
    assert opened.dialogs == []
    assert opened.errors == []


def test_cross_layer_highlight(open_explorer: Callable[..., Opened], small: dict[str, Any]) -> None:
    opened = open_explorer(small)
    page = opened.page
    node = small["layers"][0]["nodes"][4]
    page.evaluate(f"{API}.selectNode(0, {node['id']})")
    members = set(node["members"])
    for li in (1, 2):
        expected = sorted(n["id"] for n in small["layers"][li]["nodes"] if members & set(n["members"]))
        assert expected
        assert sorted(page.evaluate(f"{API}.highlighted({li})")) == expected
    assert page.evaluate(f"{API}.highlighted(0)") == []
    rows = page.locator("#inspector .overlap-row")
    assert rows.count() > 0
    # the best-overlapping node of layer 1 is listed first; clicking it selects it
    shared = {n["id"]: len(members & set(n["members"])) for n in small["layers"][1]["nodes"]}
    best = max(sorted(shared), key=lambda i: shared[i])
    first = rows.first
    assert first.text_content().startswith(f"node {best}")
    first.click()
    assert page.evaluate(f"{API}.selection()") == {"layerIndex": 1, "nodeId": best}
    assert page.evaluate(f"{API}.highlighted(1)") == []
    assert node["id"] in page.evaluate(f"{API}.highlighted(0)")
    assert opened.errors == []


def test_minimal_payload_with_rgb_images(open_explorer: Callable[..., Opened]) -> None:
    pixels = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    payload = {
        "images": {
            "height": 4,
            "width": 5,
            "channels": 3,
            "index": [1, 2],
            "data": base64.b64encode(pixels.tobytes()).decode("ascii"),
        },
        "layers": [
            {
                "name": "one node",
                "n_inputs": 3,
                "nodes": [{"id": 7, "members": [0, 1, 2], "x": 0.5, "y": 0.5, "sample": [1, 2]}],
                "edges": [],
            },
            {"name": "empty", "n_inputs": 3, "nodes": [], "edges": []},
        ],
    }
    opened = open_explorer(payload, "minimal.html")
    page = opened.page
    assert page.title() == "Mapper explorer"
    assert [lay["nodeCount"] for lay in page.evaluate(f"{API}.layers")] == [1, 0]
    _click_node(page, 0, 7)
    assert page.text_content("#inspector-title") == "Node 7"
    assert page.locator("#inspector .label-row").count() == 0
    thumbs = page.locator("#inspector canvas.thumb")
    assert thumbs.count() == 2
    # the first pixel of the second image, drawn scaled up without smoothing
    rgb = thumbs.nth(1).evaluate("(c) => Array.from(c.getContext('2d').getImageData(0, 0, 1, 1).data)")
    assert rgb == [*pixels[1, 0, 0].tolist(), 255]
    page.select_option("#layout", "force")
    page.wait_for_function(f"() => !{API}.layers[0].layoutRunning", timeout=5_000)
    assert page.evaluate(f"{API}.highlighted(1)") == []
    assert opened.errors == []


def test_large_graph_is_fast_and_force_layout_runs(open_explorer: Callable[..., Opened]) -> None:
    payload = make_payload(n_layers=1, n_nodes=1000, n_inputs=5000, n_edges=3000, seed=3)
    layer = payload["layers"][0]
    assert len(layer["nodes"]) == 1000 and len(layer["edges"]) == 3000
    opened = open_explorer(payload, "large.html")
    page = opened.page
    assert opened.seconds_to_ready < 10.0, f"ready after {opened.seconds_to_ready:.2f} s"
    assert page.evaluate(f"{API}.layers[0].nodeCount") == 1000
    assert page.evaluate(f"{API}.layers[0].edgeCount") == 3000
    before = page.evaluate(f"{API}.nodeScreenPosition(0, 0)")
    page.select_option("#layout", "force")
    page.wait_for_function(f"() => !{API}.layers[0].layoutRunning", timeout=15_000)
    moved = page.evaluate(f"{API}.nodeScreenPosition(0, 0)")
    assert moved != before
    page.select_option("#color", "purity")
    page.mouse.move(500, 500)
    page.mouse.wheel(0, -300)
    page.select_option("#layout", "precomputed")
    page.evaluate(f"{API}.layers")
    assert page.evaluate(f"{API}.layers[0].layoutRunning") is False
    after = page.evaluate(f"{API}.nodeScreenPosition(0, 0)")
    assert after == pytest.approx(before, abs=0.5)
    _click_node(page, 0, layer["nodes"][10]["id"])
    assert str(layer["nodes"][10]["id"]) in page.text_content("#inspector-title")
    assert opened.errors == []


def test_real_graphs_in_a_report_iframe(browser: Browser, tmp_path: Path) -> None:
    """mapper_analysis -> report section: the explorer runs inside the report's iframe."""
    from topolens.pipeline import mapper_analysis
    from topolens.report import Report, add_mapper_section
    from topolens.viz.mapper_html import render_explorer

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    centres = rng.normal(size=(3, 6)) * 3
    a = np.maximum(centres[labels] + rng.normal(size=(300, 6)), 0)
    b = np.maximum(a @ rng.normal(size=(6, 5)), 0)
    run = mapper_analysis({"fc1": a, "fc2": b}, labels=labels, predictions=labels,
                          images=rng.uniform(size=(300, 1, 8, 8)), progress=False,
                          n_intervals=6, eps_quantile=0.8)
    rep = Report("Mapper in a report")
    add_mapper_section(rep, run, explorer_html=render_explorer(run.payload))
    path = rep.write(tmp_path / "report.html")
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.resolve().as_uri())
        # an off-screen cross-origin (sandboxed) frame gets no animation frames: scroll to it
        page.locator("iframe.tl-mapper").scroll_into_view_if_needed()
        frame = page.frame_locator("iframe.tl-mapper")
        frame.locator('body[data-ready="1"]').wait_for(timeout=15000)
        inner = next(f for f in page.frames if f != page.main_frame)
        counts = inner.evaluate("() => window.topolensExplorer.layers.map(l => [l.nodeCount, l.edgeCount])")
        assert counts == [[run.graphs[k].n_nodes, run.graphs[k].n_edges] for k in ("fc1", "fc2")]
        inner.evaluate("() => window.topolensExplorer.selectNode(1, 0)")
        title = frame.locator("#inspector-title").text_content()
        assert "0" in title
        assert frame.locator("canvas.thumb").count() == len(run.payload["layers"][1]["nodes"][0]["sample"])
        assert errors == []
    finally:
        page.close()


def _report_with_explorer(tmp_path: Path) -> tuple[Path, Any]:
    from topolens.pipeline import mapper_analysis
    from topolens.report import Report, Text, add_mapper_section
    from topolens.viz.mapper_html import render_explorer

    rng = np.random.default_rng(3)
    # class 2 is the most frequent, class 0 the rarest: frequency order != class order
    labels = rng.choice(4, size=300, p=[0.2, 0.15, 0.4, 0.25])
    a = np.maximum(rng.normal(size=(4, 6))[labels] * 3 + rng.normal(size=(300, 6)), 0)
    run = mapper_analysis({"fc": a}, labels=labels, class_names=["zero", "one", "two", "three"],
                          progress=False, n_intervals=6, eps_quantile=0.8)
    rep = Report("Mapper far below the fold")
    rep.add_section("Filler", [Text("filler " * 4000)])  # pushes the explorer off-screen
    add_mapper_section(rep, run, explorer_html=render_explorer(run.payload))
    return rep.write(tmp_path / "report.html"), run


def test_report_explorer_renders_off_screen_in_full_page_capture_and_print(
        browser: Browser, tmp_path: Path) -> None:
    """Regression: the embedded explorer was blank (canvas 1x1, frame not painted) in a
    full-page capture or a print until it had been scrolled into view."""
    import io

    path, _ = _report_with_explorer(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(path.resolve().as_uri())
        inner = next(f for f in page.frames if f != page.main_frame)
        inner.wait_for_selector('body[data-ready="1"]', state="attached", timeout=15000)
        sizes = inner.evaluate("() => Array.from(document.querySelectorAll('.canvas-wrap canvas'))"
                               ".map(c => [c.width, c.height])")
        assert sizes and all(w > 100 and h > 100 for w, h in sizes)
        box = page.locator("iframe.tl-mapper").bounding_box()
        assert box["y"] > 800  # never scrolled into view
        png = page.screenshot(full_page=True)
        import matplotlib.image as mimg

        img = mimg.imread(io.BytesIO(png), format="png")[:, :, :3]
        region = img[int(box["y"]):int(box["y"] + box["height"]), int(box["x"]):int(box["x"] + box["width"])]
        dark = region.mean(axis=2) < 0.5  # the explorer's header bar, text, nodes
        assert dark.mean() > 0.03, "the explorer is blank in a full-page capture"
        page.emulate_media(media="print")
        inner.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        sizes = inner.evaluate("() => Array.from(document.querySelectorAll('.canvas-wrap canvas'))"
                               ".map(c => [c.width, c.height])")
        assert all(w > 100 and h > 100 for w, h in sizes)
        assert page.pdf()[:4] == b"%PDF"
    finally:
        page.close()


def test_class_legend_is_in_class_order(browser: Browser, tmp_path: Path) -> None:
    path, _ = _report_with_explorer(tmp_path)
    page = browser.new_page()
    try:
        page.goto(path.resolve().as_uri())
        frame = page.frame_locator("iframe.tl-mapper")
        frame.locator('body[data-ready="1"]').wait_for(state="attached", timeout=15000)
        shown = frame.locator(".legend .legend-label").all_text_contents()
        names = ["zero", "one", "two", "three"]
        assert len(shown) >= 3 and shown == [n for n in names if n in shown]  # not by frequency
    finally:
        page.close()


def test_every_graph_of_the_report_explorer_fits_its_frame_in_print(
        browser: Browser, tmp_path: Path) -> None:
    """Regression: printed, the explorer stacked its graphs (420 px each) in the report's
    fixed-height iframe, which a print cannot scroll: the second layer was cut off."""
    from topolens.pipeline import mapper_analysis
    from topolens.report import Report, add_mapper_section
    from topolens.viz.mapper_html import render_explorer

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    a = np.maximum(rng.normal(size=(3, 6))[labels] * 3 + rng.normal(size=(300, 6)), 0)
    layers = {"fc1": a, "fc2": np.maximum(a @ rng.normal(size=(6, 5)), 0), "fc3": a[:, :4]}
    run = mapper_analysis(layers, labels=labels, progress=False, n_intervals=6, eps_quantile=0.8,
                          title="a long title " * 8)
    rep = Report("Mapper printed")
    add_mapper_section(rep, run, explorer_html=render_explorer(run.payload))
    path = rep.write(tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 800, "height": 1000})  # about a printed page
    try:
        page.goto(path.resolve().as_uri())
        inner = next(f for f in page.frames if f != page.main_frame)
        inner.wait_for_selector('body[data-ready="1"]', state="attached", timeout=15000)
        page.emulate_media(media="print")
        inner.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        height = inner.evaluate("() => window.innerHeight")
        boxes = inner.evaluate("() => Array.from(document.querySelectorAll('.graph-panel'))"
                               ".map(p => { const r = p.getBoundingClientRect(); "
                               "return [r.top, r.bottom, r.width]; })")
        assert len(boxes) == 3
        assert all(bottom <= height and width > 150 for _, bottom, width in boxes), (boxes, height)
        sizes = inner.evaluate("() => Array.from(document.querySelectorAll('.canvas-wrap canvas'))"
                               ".map(c => [c.clientWidth, c.clientHeight])")
        assert all(w > 150 and h > 150 for w, h in sizes)
        # the title is wrapped, not cut with an ellipsis
        h1 = inner.evaluate("() => { const h = document.getElementById('app-title'); "
                            "return [h.scrollWidth, h.clientWidth]; }")
        assert h1[0] <= h1[1] + 1
    finally:
        page.close()


def test_hostile_names_in_a_pipeline_report_never_run(browser: Browser, tmp_path: Path) -> None:
    """The report's iframe is same-origin, so a script injected into the explorer could reach
    the report: layer names, class names, titles and provenance (file paths) from the user
    must stay text in the report and in the explorer, with no dialog while it is used."""
    import torch
    from torch import nn

    from topolens import record_activations
    from topolens.pipeline import analyze_activations, mapper_analysis
    from topolens.report import add_mapper_section
    from topolens.viz.mapper_html import render_explorer

    other = '"><svg onload=alert(2)>'
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("lin1", nn.Linear(6, 16))
    model.add_module(HOSTILE, nn.ReLU())
    model.add_module("lin2", nn.Linear(16, 8))
    model.add_module(other, nn.ReLU())
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    x = torch.tensor(rng.normal(size=(3, 6))[y] * 3 + rng.normal(size=(200, 6)), dtype=torch.float32)
    acts = record_activations(model, (x, torch.tensor(y)), [HOSTILE, other], progress=False)
    names = np.array([HOSTILE, other, "b'"])
    run = mapper_analysis(dict(acts.items()), labels=names[y], predictions=names[(y + 1) % 3],
                          progress=False, n_intervals=5, eps_quantile=0.8, title=HOSTILE,
                          out=tmp_path / "m", provenance={"weights": f"/tmp/{HOSTILE}.pt"})
    prov = {"weights": f"/tmp/{HOSTILE}.pt", "data": other, HOSTILE: other}

    def extra(rep: Any) -> None:
        add_mapper_section(rep, run, explorer_html=render_explorer(run.payload, provenance=prov))

    res = analyze_activations(acts, out=tmp_path / "r", title=HOSTILE, n_inputs=None, n_neurons=None,
                              n_resamples=1, progress=False, provenance=prov, extra_sections=extra,
                              info={"model": HOSTILE})
    for path in (res.report_path, tmp_path / "m" / "mapper.html"):
        text = path.read_text()
        assert "<img src=x" not in text and "<svg onload" not in text
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
        try:
            page.goto(path.resolve().as_uri())
            frame = next((f for f in page.frames if f != page.main_frame), page.main_frame)
            frame.wait_for_selector('body[data-ready="1"]', state="attached", timeout=15000)
            frame.evaluate("""() => { const api = window.topolensExplorer;
                api.layers.forEach((l, li) => { for (let id = 0; id < l.nodeCount; id++) {
                    try { api.selectNode(li, id); } catch (e) {} } });
                api.search("img"); }""")
            page.wait_for_timeout(200)
            assert HOSTILE in frame.inner_text("#inspector")  # shown, as text
            for f in page.frames:
                assert f.evaluate("() => document.querySelectorAll('img[src=x], svg').length") == 0
            assert dialogs == []
        finally:
            page.close()


def test_long_provenance_wraps_under_the_title(browser: Browser, tmp_path: Path) -> None:
    """Regression: a weights path and its SHA-256 in the header's one line squeezed the title
    to nothing and ran off the right edge (data and split never visible)."""
    prov = {"model": "topolens.models:SmallCNN",
            "weights": "/home/someone/experiments/2026/run-17/checkpoints/model_best.pt",
            "weights sha256": "ab" * 32, "data": "mnist-sample", "split": "test"}
    path = write_explorer(make_payload(n_layers=1), tmp_path / "m.html", title="Mapper of fc",
                          provenance=prov)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.goto(path.resolve().as_uri())
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=15000)
        right, width = page.evaluate("() => [document.getElementById('provenance')"
                                     ".getBoundingClientRect().right, window.innerWidth]")
        assert right <= width
        title = page.evaluate("() => { const h = document.getElementById('app-title'); "
                              "return [h.scrollWidth, h.clientWidth]; }")
        assert title[1] > 50 and title[0] <= title[1] + 1  # "Mapper of fc" shown whole
        assert "split: test" in page.inner_text("#provenance")
    finally:
        page.close()
