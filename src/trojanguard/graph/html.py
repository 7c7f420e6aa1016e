"""A self-contained HTML page drawing the suspicious subgraph in its neighbourhood (inline SVG).

Why: reviewers trust what they can see.  The page shows the nodes a detection names plus
their immediate neighbours, laid out in layers (longest path from the subgraph's sources),
suspicious nodes highlighted.  Layout is computed here; no script, no network assets, and
every text is escaped (node names and op types come from a hostile file).
"""

from __future__ import annotations

from html import escape

from .dataflow import Flow
from .detectors import Detection
from .report import capability_report

MAX_DRAWN = 400
BOX_W, BOX_H, GAP_X, GAP_Y = 150, 34, 24, 46


def _neighbourhood(flow: Flow, detections: list[Detection]) -> tuple[list[int], set[int]]:
    g = flow.graph
    marked = {i for d in detections for i in d.nodes if 0 <= i < len(g.nodes)}
    shown = set(marked)
    for i in list(marked):
        node = g.nodes[i]
        for name in node.inputs:
            if name in g.producer:
                shown.add(g.producer[name])
        for name in node.outputs:
            shown.update(g.consumers.get(name, ()))
    return sorted(shown)[:MAX_DRAWN], marked


def _layers(flow: Flow, nodes: list[int]) -> dict[int, int]:
    """Longest-path layering inside the drawn set (nodes are already topologically ordered)."""
    g = flow.graph
    inside = set(nodes)
    layer: dict[int, int] = {}
    for i in nodes:
        preds = [g.producer[n] for n in g.nodes[i].inputs if n in g.producer and g.producer[n] in inside]
        layer[i] = max((layer.get(p, 0) + 1 for p in preds), default=0)
    return layer


def render_svg(flow: Flow, detections: list[Detection]) -> str:
    """The subgraph as an SVG element (string)."""
    g = flow.graph
    nodes, marked = _neighbourhood(flow, detections)
    layer = _layers(flow, nodes)
    rows: dict[int, list[int]] = {}
    for i in nodes:
        rows.setdefault(layer[i], []).append(i)
    pos: dict[int, tuple[int, int]] = {}
    for depth, members in rows.items():
        for k, i in enumerate(members):
            pos[i] = (GAP_X + k * (BOX_W + GAP_X), GAP_Y + depth * (BOX_H + GAP_Y))
    width = max((x for x, _ in pos.values()), default=0) + BOX_W + GAP_X
    height = max((y for _, y in pos.values()), default=0) + BOX_H + GAP_Y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i in nodes:
        for name in g.nodes[i].inputs:
            p = g.producer.get(name)
            if p in pos:
                x1, y1 = pos[p]
                x2, y2 = pos[i]
                parts.append(f'<line x1="{x1 + BOX_W // 2}" y1="{y1 + BOX_H}" x2="{x2 + BOX_W // 2}" y2="{y2}" '
                             f'stroke="#888" stroke-width="1.2"/>')
    for i in nodes:
        x, y = pos[i]
        hot = i in marked
        fill, stroke = ("#ffd6d6", "#c00000") if hot else ("#eef2f7", "#6b7b8c")
        label = escape(g.nodes[i].label[:28])
        parts.append(f'<g class="node{" suspicious" if hot else ""}" data-node="{i}"><rect x="{x}" y="{y}" '
                     f'width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" stroke="{stroke}" '
                     f'stroke-width="{2 if hot else 1}"/><text x="{x + 8}" y="{y + 21}" font-size="12" '
                     f'font-family="monospace">{label}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(name: str, flow: Flow, detections: list[Detection]) -> str:
    """A complete page: capability summary, findings, and the drawn subgraph."""
    summary = "".join(f"<li>{escape(line.strip())}</li>" for line in capability_report(name, detections))
    findings = "".join(f"<li><b>{escape(d.rule.id)}</b> {escape(d.message)}</li>" for d in detections)
    svg = render_svg(flow, detections) if detections else "<p>No suspicious subgraph.</p>"
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>trojanguard graph: {escape(name)}</title>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "<style>body{font-family:sans-serif;margin:1.5em}svg{border:1px solid #ccc;background:#fff}</style>"
            f"</head><body><h1>Shadow-logic report: {escape(name)}</h1><ul>{summary}</ul>"
            f"<h2>Findings</h2><ul>{findings or '<li>none</li>'}</ul><h2>Suspicious subgraph</h2>{svg}</body></html>")
