"""Chat-template analysis: a Jinja2 template is parsed with jinja2's parser, never rendered.

Split from :mod:`trojanguard.analyzers.gguf` so that jinja2 (about a third of the scanner's
import time) is imported only when a GGUF file or tokenizer config actually carries a template.
The rules stay in ``gguf`` (one catalogue entry each, defined when the analyzers load).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import jinja2
from jinja2 import nodes

from trojanguard.analyzers.gguf import MAX_REPORTED, TEMPLATE_INJECTION, TEMPLATE_SUSPICIOUS, TEMPLATE_UNPARSABLE
from trojanguard.model import Finding, Location, Rule, Severity
from trojanguard.policy import jinja_policy as policy

_ENV = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])


def analyze_template(text: str, loc: Location, key: str = "tokenizer.chat_template") -> list[Finding]:
    """Findings for one Jinja2 template: parsed, never rendered.  Reusable for tokenizer configs."""
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return [TEMPLATE_UNPARSABLE.at(loc, f"{key}: Jinja2 syntax error at line {exc.lineno}: {exc.message}",
                                       evidence={"key": key})]
    except RecursionError:
        return [TEMPLATE_UNPARSABLE.at(loc, f"{key}: template nested too deeply to parse", evidence={"key": key})]
    walker = _TemplateWalker(loc, key)
    walker.defined = {m.name for m in _iter_nodes(tree) if isinstance(m, nodes.Macro)}
    walker.walk(tree)
    return walker.findings[:MAX_REPORTED * 2]


def _iter_nodes(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, iteratively (hostile templates nest deeper than Python's recursion limit)."""
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.iter_child_nodes())


def _is_dunder(name: str) -> bool:
    return name.startswith("__") or name in policy.DANGEROUS_ATTRIBUTES


@dataclass
class _TemplateWalker:
    loc: Location
    key: str
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    defined: set[str] = field(default_factory=set)

    def add(self, rule: Rule, what: str, message: str, severity: Severity | None = None) -> None:
        if (rule.id, what) in self.seen:
            return
        self.seen.add((rule.id, what))
        self.findings.append(rule.at(self.loc, f"{self.key}: {message}", evidence={"key": self.key, "construct": what},
                                     severity=severity))

    def walk(self, tree: nodes.Node) -> None:
        for node in _iter_nodes(tree):
            self.visit(node)

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr):
            self.attribute(node.attr, "attribute")
        elif isinstance(node, nodes.Getitem):
            self.subscript(node.arg)
        elif isinstance(node, nodes.Filter):
            self.filter(node)
        elif isinstance(node, nodes.Test):
            if node.name not in policy.ALLOWED_TESTS:
                self.add(TEMPLATE_SUSPICIOUS, f"test:{node.name}", f"test '{node.name}' is not available in a sandbox")
        elif isinstance(node, nodes.Name):
            self.name(node.name)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            self.literal(node.value)
        elif isinstance(node, (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
            kind = type(node).__name__.lower()
            self.add(TEMPLATE_SUSPICIOUS, kind, f"'{kind}' loads another template from the renderer's loader",
                     Severity.HIGH)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            self.call(node.node.name)
            if node.node.name == "range" and any(_huge(a, MAX_RANGE) for a in node.args):
                self.dos("range", "range() over more than 100000 items")
        elif isinstance(node, nodes.Pow) and _huge(node.right, 64):
            self.dos("pow", "power with an exponent above 64")
        elif isinstance(node, nodes.Mul) and (_huge(node.left, MAX_RANGE) or _huge(node.right, MAX_RANGE)):
            self.dos("mul", "multiplication by more than 100000 (string/list repetition)")

    def dos(self, what: str, message: str) -> None:
        """Render-time denial of service: the sandbox caps range() only, a plain Environment nothing."""
        self.add(TEMPLATE_SUSPICIOUS, f"dos:{what}", f"{message} exhausts the renderer's CPU or memory")

    def call(self, name: str) -> None:
        if name not in policy.ALLOWED_CALL_GLOBALS and name not in self.defined:
            self.add(TEMPLATE_SUSPICIOUS, f"call:{name}", f"calls unknown global '{name}()'", Severity.LOW)

    def attribute(self, attr: str, how: str) -> None:
        if _is_dunder(attr):
            self.add(TEMPLATE_INJECTION, f"{how}:{attr}", f"{how} access to '{attr}' reaches Python internals")
        elif attr.startswith("_"):
            self.add(TEMPLATE_INJECTION, f"{how}:{attr}", f"{how} access to private '{attr}'", Severity.HIGH)

    def subscript(self, arg: nodes.Node) -> None:
        if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
            self.attribute(arg.value, "item")
        elif _builds_name(arg):
            self.add(TEMPLATE_INJECTION, "dynamic-item", "subscript with a key assembled from strings at run time",
                     Severity.HIGH)

    def filter(self, node: nodes.Filter) -> None:
        if node.name == "attr" and node.args:
            arg = node.args[0]
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                self.attribute(arg.value, "attr() filter")
            else:
                self.add(TEMPLATE_INJECTION, "attr-dynamic", "attr() filter with a name computed at run time",
                         Severity.HIGH)
        elif node.name not in policy.ALLOWED_FILTERS:
            self.add(TEMPLATE_SUSPICIOUS, f"filter:{node.name}", f"filter '{node.name}' is not available in a sandbox")

    def name(self, name: str) -> None:
        entry = policy.SUSPICIOUS_NAMES.get(name)
        if entry is not None:
            severity, reason = entry
            self.add(TEMPLATE_SUSPICIOUS, f"name:{name}", f"uses '{name}': {reason}", severity)

    def literal(self, value: str) -> None:
        match = policy.DANGEROUS_WORDS.search(value)
        stripped = value.strip()
        if match is not None:
            word = match.group(1)
            rule = TEMPLATE_INJECTION if word.startswith("__") else TEMPLATE_SUSPICIOUS
            self.add(rule, f"literal:{word}", f"string literal names '{word}'", Severity.HIGH)
        elif stripped in policy.DANGEROUS_MODULE_LITERALS:
            self.add(TEMPLATE_SUSPICIOUS, f"literal:{stripped}", f"string literal names module '{stripped}'",
                     Severity.HIGH)
        elif value in ("_", "__") or (set(value) == {"_"} and len(value) <= 4):
            self.add(TEMPLATE_SUSPICIOUS, "literal:underscores", "underscore-only literal (dunder name assembly)")


#: jinja2.sandbox.MAX_RANGE: no chat template needs a bigger loop or repetition.
MAX_RANGE = 100_000


def _huge(node: nodes.Node, limit: int) -> bool:
    """A numeric literal above ``limit`` (or an arithmetic expression of such literals)."""
    if isinstance(node, nodes.Const):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value > limit
    if isinstance(node, (nodes.Mul, nodes.Pow, nodes.Add)):
        return _huge(node.left, limit) or _huge(node.right, limit) or (
            isinstance(node, nodes.Pow) and _huge(node.right, 8))
    return False


def _builds_name(node: nodes.Node) -> bool:
    """True for expressions that assemble a string (concatenation, ~, format/join filters)."""
    if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mod)):
        return any(isinstance(n, nodes.Const) and isinstance(n.value, str) for n in _iter_nodes(node))
    if isinstance(node, nodes.Filter):
        return node.name in policy.NAME_BUILDING_FILTERS
    return False
