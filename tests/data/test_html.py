"""The ``data audit --html`` page: self-contained, escaped, and drawing what the detectors found.

The AuditResults here are built by hand (findings from the real rules, synthetic arrays), so
the page is tested without running the detectors; ``test_audit_cli.py`` runs them end to end.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from trojanguard.data.audit import AuditResult, ImageTrigger
from trojanguard.data.feedback import RULE_SOURCE_FLIPS
from trojanguard.data.html import MAX_TABLE, png_data_uri, render_audit_html
from trojanguard.data.images import RULE_PATCH
from trojanguard.data.labels import RULE_FLIP
from trojanguard.data.triggers import RULE_TRIGGER, Trigger
from trojanguard.model import Location

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

HOSTILE = "</script><script>alert(1)</script>"


class Page(HTMLParser):
    """Every start tag with its attributes, and all text, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and (cls is None or cls in a.get("class", "").split())]


def _text_result(n: int = 60) -> AuditResult:
    rng = np.random.default_rng(0)
    codes = np.array([i % 2 for i in range(n)], dtype=np.int64)
    probs = np.column_stack([rng.uniform(0.05, 0.95, n), np.zeros(n)])
    probs[:, 1] = 1 - probs[:, 0]
    texts = [f"hello world {i}" for i in range(n)]
    texts[3] = HOSTILE
    trigger = Trigger("cf <b>now</b>", "text", "<i>spam</i>", (3, 5, 7), 4, 0.75, 0.9, -12.0, (1,))
    findings = [RULE_TRIGGER.at(Location("d.csv", row=r), f"row {r} carries trigger {trigger.name!r}",
                                evidence={"trigger": trigger.name}) for r in trigger.rows]
    findings.append(RULE_FLIP.at(Location("d.csv", row=10), "row 10 flipped", evidence={"given": "0", "likely": "1"}))
    findings.append(RULE_SOURCE_FLIPS.at(Location("d.csv", source="<img src=x onerror=alert(1)>"), "source flips",
                                         evidence={"reports": 9}))
    sources = tuple("<img src=x onerror=alert(1)>" if i % 7 == 0 else f"user{i % 5}" for i in range(n))
    return AuditResult("d<x>.csv", "text", ("ham", "<i>spam</i>"), codes, probs, tuple(findings), triggers=(trigger,),
                       texts=tuple(texts), sources=sources, times=np.arange(n, dtype=np.float64) * 60.0)


def _image_result(kind: str = "patch") -> AuditResult:
    rng = np.random.default_rng(1)
    n = 40
    images = rng.uniform(0, 16, size=(n, 8, 8))
    codes = np.array([i % 4 for i in range(n)], dtype=np.int64)
    probs = np.full((n, 4), 0.25)
    rows = (0, 4, 8, 12, 16, 20, 24, 28)
    images[list(rows), 6:8, 6:8] = 16.0
    if kind == "patch":
        trig = ImageTrigger("patch", "0", rows, box=(6, 6, 2, 2), values=(16.0, 16.0, 16.0, 16.0))
    else:
        trig = ImageTrigger("blend", "0", rows, peak=((6, 6), (7, 7)))
    findings = tuple(RULE_PATCH.at(Location("imgs", row=r), f"row {r} patch", evidence={"label": "0"}) for r in rows)
    return AuditResult("imgs", "images", ("0", "1", "2", "3"), codes, probs, findings, spectral=rng.uniform(0, 5, n),
                       image_triggers=(trig,), images=images)


def test_page_is_self_contained() -> None:
    for result in (_text_result(), _image_result()):
        page = render_audit_html(result)
        parsed = Page(page)
        assert page.startswith("<!DOCTYPE html>")
        assert "http://" not in page and "https://" not in page
        assert not parsed.having("script") and not parsed.having("link") and not parsed.having("iframe")
        csp = [a["content"] for a in parsed.having("meta") if a.get("http-equiv") == "Content-Security-Policy"]
        assert csp and "default-src 'none'" in csp[0]
        for attrs in parsed.having("img") + parsed.having("image"):
            assert (attrs.get("src") or attrs.get("href", "")).startswith("data:image/png;base64,")


def test_hostile_text_stays_text() -> None:
    page = render_audit_html(_text_result())
    parsed = Page(page)
    assert "<script" not in page and not parsed.having("b") and not parsed.having("i")
    assert all(a.get("src", "").startswith("data:") for a in parsed.having("img"))
    text = "".join(parsed.text)
    assert HOSTILE in text and "<img src=x onerror=alert(1)>" in text and "<i>spam</i>" in text


def test_label_issue_distributions_mark_flagged_rows() -> None:
    parsed = Page(render_audit_html(_text_result()))
    panels = parsed.having("svg", "hist")
    assert len(panels) == 2  # one per class; no spectral scores for text
    assert parsed.having("rect", "flagged")
    assert "computed on image representations only" in "".join(parsed.text)


def test_spectral_distribution_and_patch_drawn_on_samples() -> None:
    parsed = Page(render_audit_html(_image_result("patch")))
    assert len(parsed.having("svg", "hist")) == 8  # four classes, two scores
    boxes = parsed.having("rect", "trigger-box")
    assert len(boxes) == 6  # MAX_SAMPLES sample images, each with the red box
    assert {(b["x"], b["y"], b["width"], b["height"]) for b in boxes} == {("72", "72", "24", "24")}  # 8x8 drawn at 12x
    assert parsed.having("svg", "patch") and "Patch trigger at (6,6) 2x2" in "".join(parsed.text)


def test_large_images_are_shrunk_in_the_page() -> None:
    rng = np.random.default_rng(2)
    small = _image_result("patch")
    images = rng.uniform(0, 255, size=(small.rows, 600, 600))
    big = AuditResult("imgs", "images", small.class_names, small.codes, small.probs, small.findings,
                      image_triggers=(ImageTrigger("patch", "0", small.image_triggers[0].rows, box=(590, 590, 10, 10)),),
                      images=images)
    page = render_audit_html(big)
    assert len(page) < 2_000_000  # 6 samples of 600x600 noise would be ~3 MB as PNGs
    assert {(b["x"], b["width"]) for b in Page(page).having("rect", "trigger-box")} == {("590", "10")}


def test_blend_pattern_is_drawn() -> None:
    parsed = Page(render_audit_html(_image_result("blend")))
    assert parsed.having("svg", "pattern") and len(parsed.having("rect", "trigger-box")) == 12  # two peak pixels x 6


def test_degenerate_inputs_still_render() -> None:
    """Constant times, NaN scores, an empty class, no findings: a page, never an exception."""
    n = 12
    codes = np.array([0] * 6 + [2] * 6, dtype=np.int64)  # class 1 has no rows
    probs = np.full((n, 3), np.nan)
    result = AuditResult("d.csv", "tabular", ("a", "b", "c"), codes, probs, (), spectral=np.full(n, np.nan),
                         features=np.zeros((n, 2)), sources=tuple("s" for _ in range(n)), times=np.zeros(n))
    parsed = Page(render_audit_html(result))
    assert len(parsed.having("svg", "hist")) == 4 and parsed.having("svg", "timeline")
    assert "Nothing suspicious found." in "".join(parsed.text)


def test_trigger_token_chart() -> None:
    parsed = Page(render_audit_html(_text_result()))
    assert len(parsed.having("rect", "token")) == 1
    text = "".join(parsed.text)
    assert "cf <b>now</b>" in text and "3/4 rows" in text and "purity 75%" in text


def test_feedback_timeline_highlights_flagged_source() -> None:
    parsed = Page(render_audit_html(_text_result()))
    assert parsed.having("svg", "timeline") and parsed.having("circle", "lane")
    timeline = render_audit_html(_text_result()).split('class="timeline"')[1].split("</svg>")[0]
    assert 'class="flagged"' in timeline


def test_ranked_table_sources_first_then_rows() -> None:
    parsed = Page(render_audit_html(_text_result()))
    rows = parsed.having("tr", "finding")
    assert len(rows) == 5
    text = "".join(parsed.text)
    assert text.index("source <img") < text.index("row 3") < text.index("row 10")  # HIGH trigger rows before MEDIUM flip


def test_ranked_table_is_capped() -> None:
    base = _text_result(400)
    many = tuple(RULE_FLIP.at(Location("d.csv", row=r), f"row {r}", evidence={}) for r in range(400))
    page = render_audit_html(AuditResult(base.path, "text", base.class_names, base.codes, base.probs, many, texts=base.texts))
    assert len(Page(page).having("tr", "finding")) == MAX_TABLE and f"{400 - MAX_TABLE} more entries" in page


def test_png_data_uri_round_trips() -> None:
    image = pytest.importorskip("PIL.Image")
    import base64

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = np.stack([grey, grey[::-1], grey], axis=2)
    for arr in (grey, rgb):
        data = base64.b64decode(png_data_uri(arr).split(",", 1)[1])
        assert np.array_equal(np.asarray(image.open(io.BytesIO(data))), arr)


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = str(BROWSER)
    page = tmp_path / "audit.html"
    page.write_text(render_audit_html(_text_result()), encoding="utf-8")
    proc = subprocess.run(  # noqa: S603 - trusted local browser, generated page
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    dom = proc.stdout
    assert "<svg" in dom and 'class="timeline"' in dom and "<script" not in dom
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom
