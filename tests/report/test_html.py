"""Tests of topolens.report: self-contained, escaped, atomic HTML reports."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser

import numpy as np
import pytest

import topolens
from topolens import InvalidInputError, PersistenceDiagrams
from topolens.report import Block, Figure, KeyValue, RawHTML, Report, Table, Text

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source"}


class _Collector(HTMLParser):
    """Collects ids, fragment links, external references and checks tag balance."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.fragment_links: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if a.get("href", "").startswith("#"):
            self.fragment_links.append(a["href"][1:])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()


def _parse(text: str) -> _Collector:
    p = _Collector()
    p.feed(text)
    p.close()
    return p


def _png(color: str = "C0") -> bytes:
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(2, 1.5))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [1, 0], color=color)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _full_report(hostile: str = "plain") -> Report:
    pytest.importorskip("matplotlib")
    from topolens.viz import plot_barcode, plot_diagram

    d = PersistenceDiagrams([[[0.0, 0.5], [0.0, np.inf]], [[0.2, np.inf]]],
                            censored=[[False, False], [True]], metadata={"threshold": 1.0})
    rep = Report(f"Report {hostile}", subtitle=f"sub {hostile}",
                 parameters={"layer": hostile, "threshold": 1.0, hostile: [1, 2.5]},
                 created=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc))
    rep.add_section(f"Diagrams {hostile}", [
        Text(f"First paragraph {hostile}.\nSame paragraph.\n\nSecond paragraph."),
        Figure(plot_diagram(d), caption=f"diagram of {hostile}"),
        plot_barcode(d),
    ], intro=f"intro {hostile}")
    rep.add_section("Numbers", [
        Table([[hostile, 1.23456789, 3, np.nan], ["b", np.inf, np.int64(4), None]],
              columns=["label", f"value {hostile}", "n", "x"], caption=f"table {hostile}"),
        KeyValue({hostile: hostile, "nested": {"a": 0.1}}, caption="kv"),
    ])
    rep.add_section("Numbers")  # same title: a unique anchor is made
    return rep


# ------------------------------------------------------------------- self-containment
def test_report_is_self_contained_single_file(tmp_path):
    rep = _full_report()
    out = rep.write(tmp_path / "r.html")
    assert out == tmp_path / "r.html"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    text = out.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # no reference to any external resource
    assert not re.search(r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(?:script|link|iframe|object|embed)\b", text, re.I)
    assert not re.search(r"@import|url\(", text)
    # every src is a data: URI
    srcs = re.findall(r"""\bsrc\s*=\s*["']([^"']*)""", text)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    # a CSP forbids network loads and scripts
    assert "default-src 'none'" in text and "script-src 'none'" in text
    parser = _parse(text)
    assert not parser.errors and not parser.stack


def test_png_data_uris_decode_to_valid_png():
    text = _full_report().to_html()
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(payloads) == 2
    pil = pytest.importorskip("PIL.Image")
    for p in payloads:
        raw = base64.b64decode(p, validate=True)
        assert raw.startswith(PNG_SIGNATURE) and raw[-8:-4] == b"IEND"
        with pil.open(io.BytesIO(raw)) as im:
            im.verify()
            assert im.format == "PNG"


def test_toc_anchors_resolve_to_unique_section_ids():
    rep = _full_report()
    text = rep.to_html()
    parser = _parse(text)
    assert len(parser.ids) == len(set(parser.ids))
    assert parser.fragment_links
    assert set(parser.fragment_links) <= set(parser.ids)
    toc = re.search(r'<nav id="toc".*?</nav>', text, re.S).group(0)
    toc_links = re.findall(r'href="#([^"]+)"', toc)
    assert toc_links == [s.anchor for s in rep.sections] + ["parameters"]
    assert rep.sections[1].anchor != rep.sections[2].anchor
    for s in rep.sections:
        assert f'<section id="{s.anchor}"' in text


# ---------------------------------------------------------------------------- escaping
def test_hostile_text_is_escaped_everywhere():
    text = _full_report(HOSTILE).to_html()
    assert HOSTILE not in text
    assert "<script" not in text.lower()
    # title, subtitle, section title (twice: TOC and heading), intro, text, caption (+ alt),
    # table cell, header and caption, key-value key and value, parameter key and value
    assert text.count(ESCAPED) >= 14
    assert f"<title>Report {ESCAPED}</title>" in text


def test_quotes_escaped_in_attributes():
    fig = Figure(_png(), caption='x" onerror="alert(1)')
    html_ = fig.to_html()
    assert 'onerror="alert(1)"' not in html_
    assert "&quot;" in html_


def test_text_paragraphs():
    out = Text("a <b>\nstill a\n\n\n  second  \n\n").to_html()
    assert out == "<p>a &lt;b&gt;\nstill a</p>\n<p>second</p>"


# ---------------------------------------------------------------------------- blocks
def test_table_formatting_and_validation():
    t = Table([{"a": 1.0 / 3, "b": 2}, {"a": np.float32(np.inf), "c": "z"}],
              float_format=".2f", caption="c")
    out = t.to_html()
    assert t.columns == ["a", "b", "c"]
    assert '<td class="num">0.33</td>' in out and '<td class="num">inf</td>' in out
    assert '<td class="num">2</td>' in out and "<td>n/a</td>" in out
    assert "<td></td>" not in out  # a missing value is written n/a, never an empty cell
    out = Table(np.array([[1.5, 2.0]]), float_format=lambda v: f"<{v}>").to_html()
    assert "&lt;1.5&gt;" in out and "<thead>" not in out
    assert "True" in Table([[True]]).to_html()
    with pytest.raises(InvalidInputError, match="row 1"):
        Table([[1, 2], [3]], columns=["a", "b"])
    with pytest.raises(InvalidInputError):
        Table([[1]], float_format="{:q}")
    with pytest.raises(InvalidInputError):
        Table(np.zeros(3))


def test_keyvalue_and_empty_parameters():
    out = KeyValue({"lr": 1e-3, "dims": (0, 1), "path": None}).to_html()
    assert "0.001" in out and "[0, 1]" in out
    assert "(none recorded)" in Report("t").to_html()
    with pytest.raises(InvalidInputError):
        KeyValue([1, 2])


def test_figure_block_inputs():
    png = _png()
    f = Figure(png, caption="cap")
    assert f.data_uri.startswith("data:image/png;base64,")
    assert base64.b64decode(f.data_uri.split(",", 1)[1]) == png
    assert 'alt="cap"' in f.to_html()
    with pytest.raises(InvalidInputError, match="PNG"):
        Figure(b"GIF89a....")
    with pytest.raises(InvalidInputError):
        Figure(42)
    # a matplotlib figure is rendered and released
    from matplotlib.figure import Figure as MplFigure

    mfig = MplFigure()
    mfig.add_subplot().plot([0, 1])
    Figure(mfig)
    assert len(mfig.axes) == 0


def test_rawhtml_and_custom_block_css_included_once():
    class Badge(Block):
        css = ".badge { color: red; }"

        def __init__(self, label: str) -> None:
            self.label = label

        def to_html(self) -> str:
            return f'<span class="badge">{self.label}</span>'

    rep = Report("t")
    rep.add_section("w", [RawHTML('<div class="w">ok</div>', css=".w { margin: 0; }"),
                          Badge("a"), Badge("b")])
    text = rep.to_html()
    assert '<div class="w">ok</div>' in text
    assert text.count(".badge { color: red; }") == 1 and text.count(".w { margin: 0; }") == 1
    assert "script-src 'none'" in text
    assert "script-src 'unsafe-inline'" in Report("t", allow_scripts=True).to_html()


def test_add_section_variants_and_anchor_validation():
    rep = Report("t")
    sec = rep.add_section("Hello, World!", "just text")
    assert sec.anchor == "sec-hello-world"
    assert isinstance(sec.blocks[0], Text)
    assert sec.add(Text("more"), "and more") is sec and len(sec.blocks) == 3
    assert rep.add_section("***").anchor == "sec-section"
    assert rep.add_section("x", anchor="custom_1").anchor == "custom_1"
    for bad in ("custom_1", "toc", "parameters", "1abc", 'a"b', "a b"):
        with pytest.raises(InvalidInputError):
            rep.add_section("y", anchor=bad)
    with pytest.raises(InvalidInputError, match="block"):
        rep.add_section("z", [object()])


def test_footer_version_time_parameters():
    rep = Report("t", parameters={"seed": 0},
                 created=dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc))
    rep.add_parameters({"a": 1}, b=2.5)
    text = rep.to_html()
    footer = re.search(r"<footer.*</footer>", text, re.S).group(0)
    assert f"topolens {topolens.__version__}" in footer
    assert "2024-05-01 12:30:00 UTC" in footer
    for key in ("seed", "a", "b"):
        assert f'<th scope="row">{key}</th>' in footer
    assert "2.5" in footer


# ------------------------------------------------------------------------ atomic write
def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    old = Report("old version")
    old.write(path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk full (simulated)")

    # fail after the new content was written to the temporary file, before the rename
    monkeypatch.setattr("topolens._io.os.fsync", boom)
    new = Report("new version")
    new.add_section("s", [Text("x" * 100_000)])
    with pytest.raises(OSError, match="simulated"):
        new.write(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    # a failing block leaves the old file too (rendering happens before writing)

    class Broken(Block):
        def to_html(self) -> str:
            raise RuntimeError("broken block")

    new.add_section("broken", [Broken()])
    with pytest.raises(RuntimeError):
        new.write(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    # and a successful write replaces it
    Report("newest").write(path)
    assert "newest" in path.read_text("utf-8")


def test_report_without_figures_needs_no_matplotlib(tmp_path):
    code = f"""
        import sys
        sys.modules["matplotlib"] = None
        from topolens.report import Report, Table
        rep = Report("no mpl")
        rep.add_section("t", [Table([[1, 2.0]], ["a", "b"])])
        rep.write({str(tmp_path / "r.html")!r})
        print("ok")
    """
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.html").exists()


def test_grid_lays_out_blocks_and_escapes():
    from topolens.report import Grid, Report, Table, Text

    rep = Report("g")
    rep.add_section("S", [Grid([Text("<b>x</b>"), Table([[1]], ["<i>c</i>"])], min_width=250)])
    html_out = rep.to_html()
    assert 'class="tl-grid"' in html_out and "minmax(250px, 1fr)" in html_out
    assert "&lt;b&gt;x&lt;/b&gt;" in html_out and "&lt;i&gt;c&lt;/i&gt;" in html_out
    assert ".tl-grid" in html_out.split("</style>")[0]
