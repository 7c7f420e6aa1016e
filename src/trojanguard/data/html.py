"""A self-contained HTML page for ``data audit --html``: the plots a reviewer wants to look at.

Why: a list of row numbers convinces nobody; a picture of the trigger patch on the poisoned
images, of where the flagged rows sit in their class's score distribution, of which accounts
reported in which burst, does.  The page is one string: inline SVG plots and inline base64
PNG images (encoded here with zlib, no imaging library), no script, no network asset, and a
Content-Security-Policy that forbids both.  Every text that comes from the data (class names,
rows, tokens, sources, messages) is HTML-escaped, because the data set is hostile input: a
row reading ``</script><script>...`` must stay text.

Everything drawn is bounded (classes, triggers, sample images, table rows, rug ticks), so
the page size follows the caps, not the number of rows.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from html import escape

import numpy as np

from ..model import Finding
from .audit import AuditResult, ImageTrigger

__all__ = ["png_data_uri", "render_audit_html"]

MAX_CLASSES = 24
MAX_TRIGGERS = 8
MAX_SAMPLES = 6
MAX_TOKENS = 20
MAX_TABLE = 200
MAX_RUG = 300
MAX_LANES = 10
BINS = 30
WINDOWS = 40
RED, GREY, BLUE = "#c00000", "#8a9bb0", "#1f5fbf"

CSS = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}h2{margin-top:1.6em;border-bottom:1px solid #ddd}"
    "svg{background:#fff}.panel{display:inline-block;margin:4px;vertical-align:top}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
    "th{background:#f3f5f8}.sev-critical,.sev-high{color:#a00000;font-weight:bold}.note{color:#666}"
    "code{white-space:pre-wrap;word-break:break-all}.pix{image-rendering:pixelated}figure{display:inline-block;margin:6px}"
)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def png_data_uri(pixels: np.ndarray) -> str:
    """``data:image/png;base64,...`` of a ``(h, w)`` grey or ``(h, w, 3)`` RGB uint8 array."""
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = arr.shape[:2]
    colour = 2 if arr.ndim == 3 else 0
    raw = b"".join(b"\x00" + arr[i].tobytes() for i in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _shrink(image: np.ndarray, most: int) -> np.ndarray:
    """Every k-th pixel so neither side exceeds ``most``: the page size follows the caps, not the image size."""
    step = max(1, -(-max(image.shape[:2]) // most))
    return image[::step, ::step]


def _grey(image: np.ndarray, low: float, high: float) -> np.ndarray:
    img = np.nan_to_num(np.asarray(image, dtype=np.float64))
    if img.ndim == 3:
        img = img.mean(axis=2)
    span = (high - low) or 1.0
    return np.clip((img - low) / span * 255.0, 0, 255).astype(np.uint8)


def _flagged_rows(findings: Sequence[Finding]) -> set[int]:
    return {f.location.row for f in findings if f.location.row is not None}


# --- per-class score distributions -------------------------------------------------------------

def _class_order(codes: np.ndarray, flagged: np.ndarray, k: int) -> list[int]:
    """Classes with flagged rows first, then the largest; at most MAX_CLASSES."""
    counts = np.bincount(codes, minlength=k)
    hot = np.bincount(codes[flagged], minlength=k)
    return sorted(range(k), key=lambda c: (-hot[c], -counts[c], c))[:MAX_CLASSES]


def _histogram_panel(name: str, values: np.ndarray, hot: np.ndarray, low: float, high: float) -> str:
    width, height, pad = 230, 96, 14
    edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
    total = np.histogram(values, edges)[0]
    flagged = np.histogram(values[hot], edges)[0]
    top = float(np.sqrt(total.max())) or 1.0
    bar_w = (width - 2 * pad) / BINS
    base = height - 28
    parts = [f'<svg class="panel hist" width="{width}" height="{height}" role="img">',
             f'<text x="{pad}" y="12" font-size="12">{_e(name[:30])} (n={values.size}, flagged={int(hot.sum())})</text>']
    for b in range(BINS):
        if total[b] == 0:
            continue
        x = pad + b * bar_w
        h_all = (base - 18) * np.sqrt(total[b]) / top
        h_hot = h_all * flagged[b] / total[b]
        parts.append(f'<rect x="{x:.1f}" y="{base - h_all:.1f}" width="{bar_w - 1:.1f}" height="{h_all - h_hot:.1f}" '
                     f'fill="{GREY}"><title>{total[b]} rows in [{edges[b]:.3g}, {edges[b + 1]:.3g})</title></rect>')
        if flagged[b]:
            parts.append(f'<rect class="flagged" x="{x:.1f}" y="{base - h_hot:.1f}" width="{bar_w - 1:.1f}" '
                         f'height="{h_hot:.1f}" fill="{RED}"><title>{flagged[b]} flagged</title></rect>')
    scale = (width - 2 * pad) / ((high - low) or 1.0)
    for v in values[hot][:MAX_RUG]:
        x = pad + (float(v) - low) * scale
        parts.append(f'<line x1="{x:.1f}" y1="{base + 2}" x2="{x:.1f}" y2="{base + 9}" stroke="{RED}" stroke-width="1"/>')
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#444"/>'
                 f'<text x="{pad}" y="{height - 4}" font-size="10">{low:.3g}</text>'
                 f'<text x="{width - pad}" y="{height - 4}" font-size="10" text-anchor="end">{high:.3g}</text></svg>')
    return "".join(parts)


def _distributions(title: str, scores: np.ndarray, result: AuditResult, flagged: set[int], *, shared: bool) -> str:
    """Small multiples: one histogram per class (sqrt counts), flagged rows in red with a rug."""
    values = np.nan_to_num(np.asarray(scores, dtype=np.float64))
    hot = np.zeros(values.size, dtype=bool)
    hot[[r for r in flagged if 0 <= r < values.size]] = True
    k = len(result.class_names)
    order = _class_order(result.codes, hot, k)
    panels = []
    for c in order:
        idx = result.codes == c
        if not idx.any():
            continue
        low, high = (float(values.min()), float(values.max())) if shared else (float(values[idx].min()), float(values[idx].max()))
        panels.append(_histogram_panel(result.class_names[c], values[idx], hot[idx], low, high))
    more = f'<p class="note">{k - len(order)} more classes not drawn.</p>' if k > len(order) else ""
    return f"<h2>{_e(title)}</h2><div>{''.join(panels)}</div>{more}"


# --- image triggers ----------------------------------------------------------------------------

def _image_svg(image: np.ndarray, low: float, high: float, boxes: Sequence[tuple[int, int, int, int]]) -> str:
    """One sample image, boxes drawn in its own pixel units (a large image is shrunk only in the PNG)."""
    h, w = image.shape[:2]
    scale = max(1, 96 // max(h, w, 1))
    parts = [f'<svg class="sample" width="{w * scale}" height="{h * scale}" role="img">'
             f'<image class="pix" href="{png_data_uri(_grey(_shrink(image, 192), low, high))}" x="0" y="0" '
             f'width="{w * scale}" height="{h * scale}" preserveAspectRatio="none"/>']
    for r, c, bh, bw in boxes:
        parts.append(f'<rect class="trigger-box" x="{c * scale}" y="{r * scale}" width="{bw * scale}" '
                     f'height="{bh * scale}" fill="none" stroke="{RED}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _patch_svg(values: Sequence[float], height: int, width: int, low: float, high: float) -> str:
    """The recovered patch enlarged (at least 24 px a pixel, about 96 px in all), its mean values written in."""
    cell = max(24, 96 // max(height, width, 1))
    parts = [f'<svg class="patch" width="{width * cell}" height="{height * cell}" role="img">']
    span = (high - low) or 1.0
    for i, v in enumerate(values[: height * width]):
        g = int(np.clip((v - low) / span * 255, 0, 255))
        x, y = (i % width) * cell, (i // width) * cell
        ink = "#000" if g > 127 else "#fff"
        parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({g},{g},{g})" stroke="{RED}"/>'
                     f'<text x="{x + 2}" y="{y + 15}" font-size="9" fill="{ink}">{v:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _blend_pattern(images: np.ndarray, result: AuditResult, trigger: ImageTrigger) -> str:
    """Mean of the flagged rows minus the rest of their class, red positive / blue negative."""
    rows = np.asarray([r for r in trigger.rows if 0 <= r < images.shape[0]], dtype=np.int64)
    if rows.size == 0:
        return ""
    label = result.class_names.index(trigger.label) if trigger.label in result.class_names else -1
    rest = np.setdiff1d(np.flatnonzero(result.codes == label), rows)
    base = images[rest].mean(axis=0) if rest.size else images.mean(axis=0)
    diff = images[rows].mean(axis=0) - base
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    peak = float(np.abs(diff).max()) or 1.0
    pos = np.clip(diff / peak, 0, 1)
    neg = np.clip(-diff / peak, 0, 1)
    rgb = _shrink(np.stack([255 - 255 * neg, 255 - 255 * (pos + neg).clip(0, 1), 255 - 255 * pos], axis=2), 192)
    h, w = diff.shape
    scale = max(2, 192 // max(h, w, 1))
    return (f'<figure><svg class="pattern" width="{w * scale}" height="{h * scale}" role="img"><image class="pix" '
            f'href="{png_data_uri(rgb)}" width="{w * scale}" height="{h * scale}" preserveAspectRatio="none"/></svg>'
            f"<figcaption>recovered pattern (flagged mean &minus; rest of class; red +, blue &minus;)</figcaption></figure>")


def _image_trigger_block(images: np.ndarray, result: AuditResult, trigger: ImageTrigger, low: float, high: float) -> str:
    rows = [r for r in trigger.rows if 0 <= r < images.shape[0]][:MAX_SAMPLES]
    if trigger.kind == "patch" and trigger.box is not None:
        boxes = [trigger.box]
        r, c, h, w = trigger.box
        title = f"Patch trigger at ({r},{c}) {h}x{w} &rarr; label {_e(trigger.label)!s} ({len(trigger.rows)} rows)"
        detail = (f"<figure>{_patch_svg(trigger.values, h, w, low, high)}<figcaption>the patch, enlarged "
                  f"(mean pixel values)</figcaption></figure>")
    else:
        boxes = [(pr, pc, 1, 1) for pr, pc in trigger.peak[:5]]
        title = f"Blended trigger &rarr; label {_e(trigger.label)} ({len(trigger.rows)} rows)"
        detail = _blend_pattern(images, result, trigger)
    samples = "".join(f"<figure>{_image_svg(images[i], low, high, boxes)}<figcaption>row {i}</figcaption></figure>" for i in rows)
    return f'<div class="image-trigger"><h3>{title}</h3>{detail}{samples}</div>'


def _image_triggers(result: AuditResult) -> str:
    if result.images is None:
        return ""
    images = np.asarray(result.images, dtype=np.float64)
    if not result.image_triggers:
        return "<h2>Image triggers</h2><p>No patch or blended trigger found.</p>"
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    blocks = [_image_trigger_block(images, result, t, low, high) for t in result.image_triggers[:MAX_TRIGGERS]]
    return "<h2>Image triggers</h2>" + "".join(blocks)


# --- trigger tokens ----------------------------------------------------------------------------

def _token_chart(result: AuditResult) -> str:
    """Horizontal bars: rows carrying each trigger, target-label rows in red, purity written out."""
    if result.kind not in ("text", "tabular"):
        return ""
    if not result.triggers:
        return f"<h2>{_token_title(result)}</h2><p>No trigger token, n-gram or feature value found.</p>"
    triggers = sorted(result.triggers, key=lambda t: -t.carriers)[:MAX_TOKENS]
    most = max(max(t.carriers, len(t.rows)) for t in triggers) or 1
    label_w, bar_max, row_h = 260, 360, 22
    height = row_h * len(triggers) + 10
    parts = [f'<svg class="tokens" width="{label_w + bar_max + 260}" height="{height}" role="img">']
    for i, t in enumerate(triggers):
        y = 5 + i * row_h
        carriers = max(t.carriers, len(t.rows))
        full = bar_max * carriers / most
        part = bar_max * len(t.rows) / most
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end" font-family="monospace">'
                     f"{_e(t.name[:40])}</text>"
                     f'<rect x="{label_w}" y="{y}" width="{full:.1f}" height="{row_h - 6}" fill="{GREY}"/>'
                     f'<rect class="token" x="{label_w}" y="{y}" width="{part:.1f}" height="{row_h - 6}" fill="{RED}">'
                     f"<title>{_e(t.name)}</title></rect>"
                     f'<text x="{label_w + full + 6:.1f}" y="{y + 14}" font-size="11">{len(t.rows)}/{carriers} rows '
                     f"&rarr; {_e(t.label[:24])}, purity {t.purity:.0%}, contradiction {t.contradiction:.0%}</text>")
    parts.append("</svg>")
    return f"<h2>{_token_title(result)}</h2>" + "".join(parts)


def _token_title(result: AuditResult) -> str:
    return "Trigger tokens and n-grams" if result.kind == "text" else "Trigger feature values"


# --- feedback timeline -------------------------------------------------------------------------

def _timeline(result: AuditResult) -> str:
    """Reports per time window (flagged sources' share in red) and one lane per flagged source."""
    if result.sources is None:
        return ""
    src = np.asarray(result.sources, dtype=object)
    times = np.nan_to_num(result.times) if result.times is not None else np.arange(src.size, dtype=np.float64)
    bad = sorted({f.location.source for f in result.findings if f.location.source is not None})
    lo, hi = float(times.min()), float(times.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, WINDOWS + 1)
    is_bad = np.isin(src, np.asarray(bad, dtype=object)) if bad else np.zeros(src.size, dtype=bool)
    total = np.histogram(times, edges)[0]
    hot = np.histogram(times[is_bad], edges)[0]
    lanes = bad[:MAX_LANES]
    left, width, chart_h, lane_h = 170, 640, 140, 20
    step = width / WINDOWS
    height = chart_h + 30 + lane_h * len(lanes)
    top = float(total.max()) or 1.0
    parts = [f'<svg class="timeline" width="{left + width + 20}" height="{height}" role="img">']
    for b in range(WINDOWS):
        x = left + b * step
        h_all = (chart_h - 10) * total[b] / top
        h_hot = (chart_h - 10) * hot[b] / top
        parts.append(f'<rect x="{x:.1f}" y="{chart_h - h_all:.1f}" width="{step - 1:.1f}" height="{h_all - h_hot:.1f}" '
                     f'fill="{GREY}"><title>{total[b]} reports in [{edges[b]:.6g}, {edges[b + 1]:.6g})</title></rect>')
        if hot[b]:
            parts.append(f'<rect class="flagged" x="{x:.1f}" y="{chart_h - h_hot:.1f}" width="{step - 1:.1f}" '
                         f'height="{h_hot:.1f}" fill="{RED}"><title>{hot[b]} from flagged sources</title></rect>')
    parts.append(f'<text x="{left - 6}" y="14" font-size="11" text-anchor="end">reports / window</text>'
                 f'<line x1="{left}" y1="{chart_h}" x2="{left + width}" y2="{chart_h}" stroke="#444"/>'
                 f'<text x="{left}" y="{chart_h + 14}" font-size="10">{lo:.6g}</text>'
                 f'<text x="{left + width}" y="{chart_h + 14}" font-size="10" text-anchor="end">{hi:.6g}</text>')
    for i, name in enumerate(lanes):
        y = chart_h + 30 + i * lane_h
        counts = np.histogram(times[src == name], edges)[0]
        peak = float(counts.max()) or 1.0
        parts.append(f'<text x="{left - 6}" y="{y + 4}" font-size="11" text-anchor="end" fill="{RED}">{_e(name[:24])}</text>')
        for window in np.flatnonzero(counts):
            radius = 2 + 6 * np.sqrt(counts[window] / peak)
            parts.append(f'<circle class="lane" cx="{left + (window + 0.5) * step:.1f}" cy="{y}" r="{radius:.1f}" fill="{RED}" '
                         f'fill-opacity="0.7"><title>{_e(name)}: {counts[window]} reports</title></circle>')
    parts.append("</svg>")
    note = "" if result.times is not None else '<p class="note">No --time column: windows are row order.</p>'
    more = f'<p class="note">{len(bad) - len(lanes)} more flagged sources not drawn.</p>' if len(bad) > len(lanes) else ""
    return f"<h2>Feedback by source</h2>{note}{''.join(parts)}{more}"


# --- ranked table ------------------------------------------------------------------------------

def _evidence(f: Finding) -> str:
    return "; ".join(f"{_e(k)}={_e(str(v)[:80])}" for k, v in f.evidence[:8])


def _content(result: AuditResult, row: int) -> str:
    """What the row holds: its text, feature values or a thumbnail (escaped, truncated)."""
    if not 0 <= row < result.rows:
        return ""
    if result.texts is not None:
        return f"<code>{_e(result.texts[row][:200])}</code>"
    if result.features is not None:
        pairs = zip(result.feature_names or [f"f{j}" for j in range(result.features.shape[1])], result.features[row], strict=False)
        return "<code>" + _e(", ".join(f"{n}={v:g}" for n, v in list(pairs)[:8])) + "</code>"
    if result.images is not None:
        img = _shrink(np.asarray(result.images[row], dtype=np.float64), 48)
        return f'<img class="pix thumb" alt="row {row}" width="48" height="48" src="{png_data_uri(_grey(img, float(img.min()), float(img.max())))}">'
    return ""


def _ranked(result: AuditResult) -> list[tuple[str, list[Finding], int | None]]:
    """Sources first, then whole-file findings, then rows: worst severity, most rules, highest issue score."""
    by_source: dict[str, list[Finding]] = {}
    by_row: dict[int, list[Finding]] = {}
    whole: list[Finding] = []
    for f in result.findings:
        if f.location.source is not None:
            by_source.setdefault(f.location.source, []).append(f)
        elif f.location.row is not None:
            by_row.setdefault(f.location.row, []).append(f)
        else:
            whole.append(f)
    score = result.label_issue_scores()
    entries: list[tuple[str, list[Finding], int | None]] = [(f"source {s}", fs, None) for s, fs in sorted(by_source.items(), key=lambda kv: (-max(f.severity for f in kv[1]), kv[0]))]
    entries += [("whole data set", [f], None) for f in sorted(whole, key=Finding.sort_key)]

    def row_key(item: tuple[int, list[Finding]]) -> tuple[int, int, float, int]:
        row, fs = item
        issue = float(score[row]) if 0 <= row < score.size else 0.0
        return (-max(f.severity for f in fs), -len({f.rule.id for f in fs}), -issue, row)

    entries += [(f"row {r}", fs, r) for r, fs in sorted(by_row.items(), key=row_key)]
    return entries


def _table(result: AuditResult) -> str:
    entries = _ranked(result)
    if not entries:
        return "<h2>Suspicious rows and sources</h2><p>Nothing suspicious found.</p>"
    lines = ["<table class=\"ranked\"><tr><th>#</th><th>where</th><th>label</th><th>rules</th><th>reason</th>"
             "<th>evidence</th><th>content</th></tr>"]
    for rank, (where, fs, row) in enumerate(entries[:MAX_TABLE], start=1):
        fs = sorted(fs, key=Finding.sort_key)
        worst = fs[0]
        label = _e(result.class_names[int(result.codes[row])]) if row is not None and 0 <= row < result.rows else ""
        rules = " ".join(sorted({_e(f.rule.id) for f in fs}))
        reason = "<br>".join(_e(f.message[:300]) for f in fs[:3]) + (f"<br>(+{len(fs) - 3} more)" if len(fs) > 3 else "")
        lines.append(f'<tr class="finding"><td>{rank}</td><td>{_e(where)}</td><td>{label}</td>'
                     f'<td class="sev-{_e(worst.severity.name.lower())}">{rules}</td><td>{reason}</td>'
                     f"<td>{_evidence(worst)}</td><td>{_content(result, row) if row is not None else ''}</td></tr>")
    lines.append("</table>")
    more = f'<p class="note">{len(entries) - MAX_TABLE} more entries in the JSON report.</p>' if len(entries) > MAX_TABLE else ""
    return "<h2>Suspicious rows and sources</h2>" + "".join(lines) + more


# --- page --------------------------------------------------------------------------------------

def _summary(result: AuditResult) -> str:
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.rule.id] = counts.get(f.rule.id, 0) + 1
    rules = ", ".join(f"{_e(k)}: {v}" for k, v in sorted(counts.items())) or "none"
    return (f"<p>{result.rows} rows of {_e(result.kind)}, {len(result.class_names)} classes; "
            f"{len(result.findings)} findings ({rules}).</p>")


def render_audit_html(result: AuditResult) -> str:
    """The complete page for one audit: summary, distributions, triggers, timeline, ranked table."""
    flagged = _flagged_rows(result.findings)
    sections = [_summary(result),
                _distributions("Label-issue score per class (1 - out-of-fold p(given label))", result.label_issue_scores(),
                               result, flagged, shared=True)]
    if result.spectral is not None:
        sections.append(_distributions("Spectral score per class (squared projection on the top centred direction)",
                                       result.spectral, result, flagged, shared=False))
    else:
        sections.append('<p class="note">Spectral scores: computed on image representations only.</p>')
    sections += [_image_triggers(result), _token_chart(result), _timeline(result), _table(result)]
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>trojanguard data audit: {_e(result.path)}</title><style>{CSS}</style></head>"
            f"<body><h1>Data audit: {_e(result.path)}</h1>{''.join(sections)}</body></html>")
