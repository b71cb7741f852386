"""Self-contained HTML reports.

A :class:`Report` is a list of :class:`Section` objects, each a list of blocks
(:class:`Text`, :class:`Callout`, :class:`Figure`, :class:`Table`, :class:`KeyValue`, :class:`RawHTML`).
:meth:`Report.to_html` produces one HTML file with inline CSS and figures embedded as
base64 PNG data URIs: it opens offline, loads nothing from the network and needs no
JavaScript. All user-provided text is HTML-escaped.

Features add their own sections by building blocks and calling :meth:`Report.add_section`;
a new kind of block subclasses :class:`Block` (its ``css`` class attribute is included in
the page once, whenever a block of that class is used).

Examples
--------
>>> from topolens.report import Report, Text, Table
>>> rep = Report("Run 42")
>>> sec = rep.add_section("Summary", [Text("All good."), Table([[1, 0.5]], ["n", "x"])])
>>> "<h2" in rep.to_html()
True
"""

from __future__ import annotations

from .html import Block, Callout, Figure, Grid, KeyValue, RawHTML, Report, Section, Table, Text
from .sections import (
    activation_summary_table,
    add_activation_topology_section,
    add_filters_section,
    add_gap_prediction_section,
    add_mapper_section,
    add_weight_graph_section,
)

__all__ = [
    "Block",
    "Callout",
    "Figure",
    "Grid",
    "KeyValue",
    "RawHTML",
    "Report",
    "Section",
    "Table",
    "Text",
    "activation_summary_table",
    "add_activation_topology_section",
    "add_filters_section",
    "add_gap_prediction_section",
    "add_mapper_section",
    "add_weight_graph_section",
]
