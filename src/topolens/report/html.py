"""A small, extensible builder of self-contained HTML reports.

The output is one HTML file: inline CSS, figures as base64 PNG ``data:`` URIs, no external
URL, no CDN and no JavaScript. A Content-Security-Policy ``<meta>`` tag forbids network
loads and scripts, so even a mistake in a block cannot make the page phone home.

Escaping
    Everything that comes from the user (report and section titles, captions, text, table
    cells and headers, keys and values) goes through :func:`html.escape`. The only way to
    put markup into a report is :class:`RawHTML`, meant for trusted widgets written inside
    topolens, never for user data.

Extending
    A feature adds a section with :meth:`Report.add_section` and the existing blocks, or
    defines a new block by subclassing :class:`Block` and implementing
    :meth:`Block.to_html`. A class attribute ``css`` holds the block's style rules; they are
    written once into the page when at least one such block is used.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._io import atomic_write_text
from ..exceptions import InvalidInputError

__all__ = ["Block", "Callout", "Figure", "KeyValue", "RawHTML", "Report", "Section", "Table", "Text"]

#: How an absent value (``None``) is written in a table cell: never an empty cell.
MISSING = "n/a"

FloatFormat = str | Callable[[float], str]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ANCHOR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_RESERVED_IDS = frozenset({"top", "toc", "parameters", "report-footer"})


def _esc(text: Any) -> str:
    """HTML-escape ``str(text)`` (quotes included, safe in attributes too)."""
    return html.escape(str(text), quote=True)


def _make_float_formatter(float_format: FloatFormat) -> Callable[[float], str]:
    if callable(float_format):
        return float_format
    if not isinstance(float_format, str):
        raise InvalidInputError(
            f"float_format must be a format string such as '{{:.4g}}' or '.4g', or a callable; "
            f"found {type(float_format).__name__}."
        )
    fmt = float_format if "{" in float_format else "{:" + float_format + "}"
    try:
        fmt.format(1.5)
    except (ValueError, IndexError, KeyError) as exc:
        raise InvalidInputError(f"invalid float_format {float_format!r}: {exc}.") from exc
    return fmt.format


def _format_value(value: Any, ffmt: Callable[[float], str]) -> str:
    """Plain-text rendering of a cell value (not escaped yet); never empty."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return ffmt(v)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}: {_format_value(v, ffmt)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v, ffmt) for v in value) + "]"
    if isinstance(value, os.PathLike):
        return os.fspath(value) or MISSING  # type: ignore[return-value]
    text = str(value)
    return text if text.strip() else MISSING


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


# ------------------------------------------------------------------------------ blocks
class Block:
    """Base class of report content blocks.

    Subclasses implement :meth:`to_html`, returning an HTML fragment in which every piece of
    user text is escaped. Style rules the block needs go into the class attribute ``css``
    (written once per page).
    """

    css: ClassVar[str] = ""

    def to_html(self) -> str:  # pragma: no cover - abstract
        """Return the block as an HTML fragment."""
        raise NotImplementedError

    def style(self) -> str:
        """CSS rules needed by this block (default: the class attribute ``css``)."""
        return type(self).css


class Text(Block):
    """Plain text; blank lines separate paragraphs. The text is escaped, never interpreted.

    Parameters
    ----------
    text : str
        The text. Single newlines are kept as spaces; a blank line starts a new paragraph.
    """

    def __init__(self, text: str) -> None:
        self.text = str(text)

    def to_html(self) -> str:
        paras = [p.strip() for p in re.split(r"\n\s*\n", self.text)]
        return "\n".join(f"<p>{_esc(p)}</p>" for p in paras if p)


class Callout(Block):
    """A highlighted box: a warning the reader must not miss, or a note.

    Parameters
    ----------
    text : str
        The message (escaped; blank lines separate paragraphs).
    title : str, optional
        Bold first words, e.g. ``"Warning: accuracy near chance"``.
    kind : {"warning", "note"}, default "warning"
        Colour and ARIA role (``alert`` for warnings, ``note`` otherwise).
    """

    css: ClassVar[str] = (
        ".tl-callout { margin: 1rem 0; padding: .7rem 1rem; border-radius: 6px; "
        "border: 1px solid; border-left-width: 5px; }\n"
        ".tl-callout p { margin: .25rem 0; }\n"
        ".tl-callout-warning { background: #fff8e6; border-color: #d4a72c; color: #3b2e00; }\n"
        ".tl-callout-note { background: #eef5ff; border-color: #6b9ad8; color: #10243e; }\n"
        ".tl-callout .tl-callout-title { font-weight: 700; }"
    )
    _KINDS: ClassVar[dict[str, str]] = {"warning": "alert", "note": "note"}

    def __init__(self, text: str, *, title: str | None = None, kind: str = "warning") -> None:
        if kind not in self._KINDS:
            raise InvalidInputError(f"Callout kind must be 'warning' or 'note'; found {kind!r}.")
        self.text = str(text)
        self.title = title
        self.kind = kind

    def to_html(self) -> str:
        head = f'<p class="tl-callout-title">{_esc(self.title)}</p>\n' if self.title else ""
        return (f'<div class="tl-callout tl-callout-{self.kind}" role="{self._KINDS[self.kind]}">\n'
                f"{head}{Text(self.text).to_html()}\n</div>")


class Figure(Block):
    """A figure embedded as a base64 PNG ``data:`` URI.

    Parameters
    ----------
    fig_or_png : matplotlib.figure.Figure or bytes
        A matplotlib figure (rendered now with
        :func:`topolens.viz.figure_to_png_bytes` and closed) or the bytes of a PNG file.
    caption : str, optional
        Caption shown below the image; also its ``alt`` text unless ``alt`` is given.
    alt : str, optional
        Alternative text for screen readers.
    dpi : int, default 110
        Resolution used when rendering a matplotlib figure.
    zoom : bool, default True
        Click the image to see it enlarged to the window (pure CSS, no script: a hidden
        checkbox toggled by a label around the image); click again to close.
    wide : bool, default False
        Span the whole width of the report (also inside a :class:`Grid`).
    """

    css: ClassVar[str] = ""  # figure styles are part of the base sheet
    _counter: ClassVar[int] = 0

    def __init__(self, fig_or_png: Any, caption: str | None = None, *, alt: str | None = None,
                 dpi: int = 110, zoom: bool = True, wide: bool = False) -> None:
        if isinstance(fig_or_png, (bytes, bytearray, memoryview)):
            png = bytes(fig_or_png)
        elif hasattr(fig_or_png, "savefig"):
            from ..viz import figure_to_png_bytes

            png = figure_to_png_bytes(fig_or_png, dpi=dpi, close=True)
        else:
            raise InvalidInputError(
                "Figure needs a matplotlib Figure or the bytes of a PNG image; found "
                f"{type(fig_or_png).__name__}."
            )
        if not png.startswith(_PNG_SIGNATURE):
            raise InvalidInputError("Figure bytes are not a PNG image (bad signature).")
        self.png = png
        self.caption = caption
        self.alt = alt
        self.zoom = bool(zoom)
        self.wide = bool(wide)
        Figure._counter += 1
        self._id = f"tl-zoom-{Figure._counter}"

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def to_html(self) -> str:
        alt = self.alt if self.alt is not None else (self.caption or "figure")
        cap = f"\n<figcaption>{_esc(self.caption)}</figcaption>" if self.caption else ""
        cls = "tl-figure tl-wide" if self.wide else "tl-figure"
        img = f'<img src="{self.data_uri}" alt="{_esc(alt)}">'
        if self.zoom:
            img = (f'<input type="checkbox" class="tl-zoom" id="{self._id}" aria-label="enlarge figure">'
                   f'<label for="{self._id}" title="click to enlarge / close">{img}</label>')
        return f'<figure class="{cls}">\n{img}{cap}\n</figure>'


class Table(Block):
    """A table of values; every cell and header is escaped, floats are formatted.

    Parameters
    ----------
    rows : sequence of sequences, sequence of mappings, or 2-D array
        The rows. With mappings, ``columns`` defaults to the keys in first-seen order and a
        missing key (like ``None``) is written ``n/a``: a cell is never empty.
    columns : sequence of str, optional
        Column headers. Without them (and without mapping rows) no header row is drawn.
    caption : str, optional
        Caption shown above the table.
    float_format : str or callable, default "{:.4g}"
        How floats are written: a ``str.format`` template, a format spec such as ``".3f"``, or
        a function ``float -> str``. ``nan`` and ``inf`` are written as such.
    """

    def __init__(self, rows: Any, columns: Sequence[Any] | None = None,
                 caption: str | None = None, float_format: FloatFormat = "{:.4g}") -> None:
        self._fmt = _make_float_formatter(float_format)
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2:
                raise InvalidInputError(f"Table rows as an array must be 2-D, found shape {rows.shape}.")
            rows = rows.tolist()
        rows = list(rows)
        if rows and all(isinstance(r, Mapping) for r in rows):
            if columns is None:
                columns = list(dict.fromkeys(k for r in rows for k in r))
            rows = [[r.get(c) for c in columns] for r in rows]
        else:
            rows = [list(r) for r in rows]
            if columns is not None:
                bad = [i for i, r in enumerate(rows) if len(r) != len(columns)]
                if bad:
                    raise InvalidInputError(
                        f"Table has {len(columns)} columns but row {bad[0]} has "
                        f"{len(rows[bad[0]])} values."
                    )
        self.rows: list[list[Any]] = rows
        self.columns = None if columns is None else list(columns)
        self.caption = caption

    def to_html(self) -> str:
        out = ['<div class="tl-table-wrap"><table class="tl-table">']
        if self.caption:
            out.append(f"<caption>{_esc(self.caption)}</caption>")
        if self.columns is not None:
            out.append("<thead><tr>" + "".join(f'<th scope="col">{_esc(c)}</th>' for c in self.columns)
                       + "</tr></thead>")
        out.append("<tbody>")
        for r in self.rows:
            cells = []
            for v in r:
                cls = ' class="num"' if _is_number(v) else ""
                cells.append(f"<td{cls}>{_esc(_format_value(v, self._fmt))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table></div>")
        return "\n".join(out)


class KeyValue(Block):
    """A two-column listing of parameters (key, value); keys and values are escaped.

    Parameters
    ----------
    items : mapping
        The parameters. Nested mappings and lists are written inline.
    caption : str, optional
        Caption shown above the listing.
    float_format : str or callable, default "{:.6g}"
        How floats are written (see :class:`Table`).
    """

    def __init__(self, items: Mapping[Any, Any], caption: str | None = None,
                 float_format: FloatFormat = "{:.6g}") -> None:
        if not isinstance(items, Mapping):
            raise InvalidInputError(f"KeyValue needs a mapping, found {type(items).__name__}.")
        self.items = dict(items)
        self.caption = caption
        self._fmt = _make_float_formatter(float_format)

    def to_html(self) -> str:
        if not self.items:
            return '<p class="tl-muted">(none recorded)</p>'
        out = ['<table class="tl-kv">']
        if self.caption:
            out.append(f"<caption>{_esc(self.caption)}</caption>")
        out.append("<tbody>")
        for k, v in self.items.items():
            out.append(f'<tr><th scope="row">{_esc(k)}</th>'
                       f"<td>{_esc(_format_value(v, self._fmt))}</td></tr>")
        out.append("</tbody></table>")
        return "\n".join(out)


class RawHTML(Block):
    """Trusted HTML inserted as is, for widgets written inside topolens.

    .. warning::
       The markup is **not** escaped. Never build it from user-provided text (layer names,
       labels, file names, ...) without passing that text through :func:`html.escape`
       first. It must not reference external resources: the page's Content-Security-Policy
       blocks network loads and, unless the report allows it, scripts.

    Parameters
    ----------
    markup : str
        The HTML fragment.
    css : str, optional
        Style rules the fragment needs, written once into the page's ``<style>``.
    """

    def __init__(self, markup: str, *, css: str = "") -> None:
        self.markup = str(markup)
        self._css = str(css)

    def to_html(self) -> str:
        return self.markup

    def style(self) -> str:
        return self._css


class Grid(Block):
    """Blocks side by side in a responsive grid that wraps on narrow screens.

    Parameters
    ----------
    blocks : sequence of blocks (or str / matplotlib figures)
    min_width : int
        Narrowest column in CSS pixels before the grid wraps.
    """

    css = (".tl-grid { display: grid; gap: 1rem; align-items: start; margin: 1rem 0; }\n"
           ".tl-grid > figure.tl-figure { margin: 0; }")

    def __init__(self, blocks: Any, *, min_width: int = 300) -> None:
        self.blocks = _coerce_blocks(blocks)
        self.min_width = int(min_width)

    def to_html(self) -> str:
        inner = "\n".join(b.to_html() for b in self.blocks)
        cols = f"repeat(auto-fit, minmax({self.min_width}px, 1fr))"
        return f'<div class="tl-grid" style="grid-template-columns: {cols}">\n{inner}\n</div>'

    def style(self) -> str:
        nested = [b.style().strip() for b in self.blocks]
        return "\n".join(dict.fromkeys([type(self).css, *[c for c in nested if c]]))


# a Block, a str (becomes Text) or a matplotlib Figure (becomes Figure)
BlockLike = Any


def _coerce_blocks(blocks: BlockLike | Iterable[BlockLike] | None) -> list[Block]:
    if blocks is None:
        return []
    if isinstance(blocks, (Block, str)) or hasattr(blocks, "savefig"):
        blocks = [blocks]
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Block):
            out.append(b)
        elif isinstance(b, str):
            out.append(Text(b))
        elif hasattr(b, "savefig"):
            out.append(Figure(b))
        else:
            raise InvalidInputError(
                f"a report block must be a Block (Text, Figure, Table, KeyValue, RawHTML), a str "
                f"or a matplotlib Figure; found {type(b).__name__}."
            )
    return out


# ----------------------------------------------------------------------------- section
class Section:
    """A titled part of a report, holding blocks; made by :meth:`Report.add_section`.

    Parameters
    ----------
    title : str
        Heading (escaped), also the table-of-contents entry.
    blocks : list of Block
        The content.
    anchor : str
        The section's HTML ``id``; link to it with ``#anchor``.
    intro : str, optional
        Short text shown under the heading.
    how_to_read : str, optional
        Two lines for a reader new to the method: what the figures and numbers mean. Shown
        in a box under the intro.
    seconds : float, optional
        Wall time spent computing the section's content, shown under the heading.
    """

    def __init__(self, title: str, blocks: list[Block], anchor: str,
                 intro: str | None = None, how_to_read: str | None = None,
                 seconds: float | None = None) -> None:
        self.title = str(title)
        self.blocks = blocks
        self.anchor = anchor
        self.intro = intro
        self.how_to_read = how_to_read
        self.seconds = seconds

    def add(self, *blocks: BlockLike) -> Section:
        """Append blocks (a ``str`` becomes :class:`Text`); returns the section for chaining."""
        self.blocks.extend(_coerce_blocks(list(blocks)))
        return self

    def to_html(self) -> str:
        """Return the section as an HTML fragment."""
        parts = [f'<section id="{_esc(self.anchor)}" class="tl-section">',
                 f"<h2>{_esc(self.title)}</h2>"]
        if self.seconds is not None:
            parts.append(f'<p class="tl-muted tl-seconds">Computed in {_esc(_seconds(self.seconds))}.</p>')
        if self.intro:
            parts.append(f'<div class="tl-intro">{Text(self.intro).to_html()}</div>')
        if self.how_to_read:
            parts.append('<div class="tl-howto"><p class="tl-howto-title">How to read this</p>'
                         f"{Text(self.how_to_read).to_html()}</div>")
        parts.extend(b.to_html() for b in self.blocks)
        parts.append('<p class="tl-back"><a href="#top">back to top</a></p>')
        parts.append("</section>")
        return "\n".join(parts)


def _seconds(value: float) -> str:
    """A wall time for a reader: ``0.42 s``, ``12.3 s``, ``2 min 05 s``."""
    v = float(value)
    if not math.isfinite(v) or v < 0:
        return MISSING
    if v < 10:
        return f"{v:.2f} s"
    if v < 120:
        return f"{v:.1f} s"
    return f"{int(v // 60)} min {int(v % 60):02d} s"


# ------------------------------------------------------------------------------ report
_BASE_CSS = """
:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --line: #d1d9e0;
  --zebra: #f6f8fa; --accent: #0b5cad;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--fg); background: var(--bg);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", sans-serif;
  font-size: 16px; line-height: 1.5;
}
main.tl-report { max-width: 1280px; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; line-height: 1.2; }
header .tl-subtitle { margin: 0; color: var(--muted); font-size: 1.1rem; }
h2 { font-size: 1.4rem; margin: 2.25rem 0 .75rem; padding-bottom: .3rem;
     border-bottom: 1px solid var(--line); }
a { color: var(--accent); }
nav#toc { margin: 1.5rem 0; padding: .75rem 1.25rem; background: var(--zebra);
          border: 1px solid var(--line); border-radius: 6px; }
nav#toc h2 { font-size: 1rem; margin: 0 0 .25rem; border: 0; padding: 0; }
nav#toc ol { margin: 0; padding-left: 1.25rem; }
.tl-intro { color: var(--muted); }
.tl-muted { color: var(--muted); }
.tl-back { font-size: .85rem; text-align: right; margin: .5rem 0 0; }
figure.tl-figure { margin: 1rem 0; text-align: center; }
figure.tl-figure img { max-width: 100%; height: auto; border: 1px solid var(--line);
                       border-radius: 4px; }
figure.tl-figure figcaption { color: var(--muted); font-size: .9rem; margin-top: .35rem; }
figure.tl-wide { grid-column: 1 / -1; }
input.tl-zoom { position: absolute; opacity: 0; width: 1px; height: 1px; pointer-events: none; }
input.tl-zoom + label { cursor: zoom-in; display: inline-block; max-width: 100%; }
input.tl-zoom:focus-visible + label img { outline: 2px solid var(--accent); }
input.tl-zoom:checked + label { position: fixed; inset: 0; z-index: 1000; cursor: zoom-out;
  display: flex; align-items: center; justify-content: center; max-width: none;
  background: rgba(20, 24, 32, .82); padding: 2vh 2vw; }
input.tl-zoom:checked + label img { max-width: 96vw; max-height: 96vh; width: auto; height: auto;
  background: #fff; }
.tl-howto { margin: .6rem 0 1rem; padding: .5rem .9rem; background: #f3f7fb;
            border-left: 4px solid #8fb3dc; border-radius: 4px; font-size: .95rem; }
.tl-howto p { margin: .2rem 0; }
.tl-howto .tl-howto-title { font-weight: 600; color: var(--fg); }
.tl-seconds { font-size: .85rem; margin: -.4rem 0 .4rem; }
.tl-table-wrap { overflow-x: auto; margin: 1rem 0; }
table.tl-table, table.tl-kv { border-collapse: collapse; font-size: .92rem; }
table.tl-table { min-width: 50%; }
table caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 .35rem;
                font-size: .9rem; }
table.tl-table th, table.tl-table td, table.tl-kv th, table.tl-kv td {
  padding: .35rem .7rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top;
}
table.tl-table thead th { border-bottom: 2px solid var(--line); background: var(--bg); }
table.tl-table tbody tr:nth-child(even), table.tl-kv tbody tr:nth-child(even) {
  background: var(--zebra);
}
table.tl-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.tl-kv th { font-weight: 600; white-space: nowrap; }
table.tl-kv td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                 font-size: .85rem; word-break: break-word; }
footer#report-footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line);
                       color: var(--muted); font-size: .9rem; }
footer#report-footer h2 { font-size: 1.1rem; color: var(--fg); }
@media print {
  nav#toc, .tl-back { display: none; }
  input.tl-zoom:checked + label { position: static; background: none; padding: 0; }
  figure.tl-figure, .tl-callout, .tl-howto { break-inside: avoid; }
}
""".strip()


class Report:
    """A self-contained HTML report made of titled sections.

    Parameters
    ----------
    title : str
        Report title (page ``<title>`` and main heading).
    subtitle : str, optional
        Line shown under the title.
    parameters : mapping, optional
        Parameters of the run, listed in the footer's "Parameters" block. More can be added
        later with :meth:`add_parameters` or by updating :attr:`parameters`.
    created : datetime, optional
        Creation time shown in the footer. Default: now (UTC).
    allow_scripts : bool, default False
        Let inline ``<script>`` elements of :class:`RawHTML` blocks run (for interactive
        widgets). By default the page's Content-Security-Policy forbids every script; network
        loads are forbidden either way.

    Examples
    --------
    >>> rep = Report("Demo", parameters={"seed": 0})
    >>> sec = rep.add_section("Results", [Text("Hello <world>")])
    >>> "Hello &lt;world&gt;" in rep.to_html()
    True
    """

    def __init__(self, title: str, subtitle: str | None = None, *,
                 parameters: Mapping[str, Any] | None = None,
                 created: _dt.datetime | None = None, allow_scripts: bool = False) -> None:
        self.title = str(title)
        self.subtitle = subtitle
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.created = created or _dt.datetime.now(_dt.timezone.utc)
        self.allow_scripts = bool(allow_scripts)
        self.sections: list[Section] = []

    # -------------------------------------------------------------- building
    def add_section(self, title: str, blocks: BlockLike | Iterable[BlockLike] | None = None, *,
                    anchor: str | None = None, intro: str | None = None,
                    how_to_read: str | None = None, seconds: float | None = None) -> Section:
        """Append a section and return it (more blocks can be added with :meth:`Section.add`).

        Parameters
        ----------
        title : str
            Section heading and table-of-contents entry (escaped).
        blocks : Block, str, matplotlib Figure, or an iterable of them, optional
            Content; a ``str`` becomes :class:`Text`, a matplotlib figure becomes
            :class:`Figure`.
        anchor : str, optional
            HTML id of the section: a letter followed by letters, digits, ``-`` or ``_``.
            Default: derived from the title, made unique.
        intro : str, optional
            Short text under the heading.
        how_to_read : str, optional
            A two-line "how to read this" for a reader new to the method.
        seconds : float, optional
            Wall time of the section's computation, shown under the heading.

        Raises
        ------
        InvalidInputError
            If ``anchor`` is malformed, reserved or already used.
        """
        used = {s.anchor for s in self.sections} | _RESERVED_IDS
        if anchor is None:
            anchor = self._unique_anchor(title, used)
        else:
            if not _ANCHOR_RE.match(anchor):
                raise InvalidInputError(
                    f"section anchor {anchor!r} is not valid: use a letter followed by letters, "
                    "digits, '-' or '_'."
                )
            if anchor in used:
                raise InvalidInputError(
                    f"section anchor {anchor!r} is already used or reserved; choose another."
                )
        section = Section(title, _coerce_blocks(blocks), anchor, intro, how_to_read, seconds)
        self.sections.append(section)
        return section

    def add_parameters(self, mapping: Mapping[str, Any] | None = None, /, **params: Any) -> None:
        """Record run parameters shown in the footer (later values override earlier ones)."""
        if mapping:
            self.parameters.update(mapping)
        self.parameters.update(params)

    @staticmethod
    def _unique_anchor(title: str, used: set[str]) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", str(title).lower()).strip("-")[:48].strip("-")
        base = "sec-" + (slug or "section")
        anchor, i = base, 2
        while anchor in used:
            anchor, i = f"{base}-{i}", i + 1
        return anchor

    # ------------------------------------------------------------- rendering
    def _styles(self) -> str:
        seen: dict[str, None] = {_BASE_CSS: None}
        for s in self.sections:
            for b in s.blocks:
                css = b.style().strip()
                if css:
                    seen.setdefault(css, None)
        return "\n".join(seen)

    def _csp(self) -> str:
        script = "'unsafe-inline'" if self.allow_scripts else "'none'"
        return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                f"script-src {script}; base-uri 'none'; form-action 'none'")

    def to_html(self) -> str:
        """Return the whole report as one self-contained HTML document."""
        from .. import __version__

        created = self.created.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        head = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{self._csp()}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="generator" content="topolens {_esc(__version__)}">',
            f"<title>{_esc(self.title)}</title>",
            f"<style>\n{self._styles()}\n</style>",
            "</head>",
            "<body>",
            '<main class="tl-report" id="top">',
            "<header>",
            f"<h1>{_esc(self.title)}</h1>",
        ]
        if self.subtitle:
            head.append(f'<p class="tl-subtitle">{_esc(self.subtitle)}</p>')
        head.append("</header>")

        toc = ['<nav id="toc" aria-label="Contents">', "<h2>Contents</h2>", "<ol>"]
        toc += [f'<li><a href="#{_esc(s.anchor)}">{_esc(s.title)}</a></li>' for s in self.sections]
        toc += ['<li><a href="#parameters">Parameters</a></li>', "</ol>", "</nav>"]

        body = [s.to_html() for s in self.sections]

        footer = [
            '<footer id="report-footer">',
            '<section id="parameters">',
            "<h2>Parameters</h2>",
            KeyValue(self.parameters).to_html(),
            "</section>",
            f"<p>Generated by topolens {_esc(__version__)} on "
            f'<time datetime="{_esc(self.created.isoformat())}">{_esc(created)}</time>.</p>',
            "</footer>",
            "</main>",
            "</body>",
            "</html>",
        ]
        return "\n".join(head + toc + body + footer) + "\n"

    def write(self, path: str | os.PathLike) -> Path:
        """Write the report to ``path`` atomically (a reader never sees a partial file).

        The HTML is fully rendered before anything is written; on any failure the previous
        file at ``path`` (if any) is left untouched and no temporary file remains.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        text = self.to_html()
        return atomic_write_text(Path(path), text)

    def __repr__(self) -> str:
        return f"Report(title={self.title!r}, sections={len(self.sections)})"
