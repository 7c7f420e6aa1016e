"""Model repositories with code: ``auto_map`` + shipped ``.py`` files, redundant pickle weights.

``transformers`` with ``trust_remote_code=True`` imports the modules that ``config.json`` /
``tokenizer_config.json`` name in ``auto_map``; whatever those modules do at import or call
time runs on the loader's machine.  This analyzer

* reports every ``auto_map`` entry (REP001) and analyses the referenced files,
* parses every ``.py`` file with :mod:`ast` (never imports it) and reports process, network,
  file-system, exec and dynamic-import calls (REP002) and decode-then-exec obfuscation
  (REP003) — with a higher severity when ``auto_map`` reaches the file or the call runs at
  import time,
* reports a repository that ships the same weights as safetensors *and* pickle (REP004),
  decided once per directory while analysing its ``config.json`` (sibling file names only).

It also understands the Hugging Face cache layout (``models--org--name/snapshots/<rev>/``
symlinks into ``blobs/``): a blob is mapped back to its file name through the snapshots.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from trojanguard.analyzers.base import Context, Result
from trojanguard.analyzers.gguf import screen_template
from trojanguard.analyzers.keras import check_config as check_keras_config
from trojanguard.artifact import Artifact
from trojanguard.formats import Format
from trojanguard.model import Location, Rule, ScanError, Severity
from trojanguard.policy import pickle_globals
from trojanguard.policy import python_calls as policy

# low by default: auto_map is declared behaviour that only runs with trust_remote_code=True, and
# the code it names is analysed on its own (REP002/REP003); high when it leaves the repository.
REMOTE_CODE = Rule(
    "REP001",
    "repo-remote-code",
    Severity.LOW,
    "A model config's auto_map makes trust_remote_code import Python code shipped with (or referenced by) the repository.",
    cwe=94,
)
DANGEROUS_CALL = Rule(
    "REP002",
    "repo-code-dangerous-call",
    Severity.HIGH,
    "Python code shipped with a model runs processes, opens network connections, writes files, execs strings or imports dynamically.",
    cwe=78,
)
OBFUSCATED_EXEC = Rule(
    "REP003",
    "repo-code-obfuscated-exec",
    Severity.CRITICAL,
    "Python code shipped with a model decodes a hidden payload (base64/zlib/marshal/hex) and executes it.",
    cwe=506,
)
REDUNDANT_PICKLE = Rule(
    "REP004",
    "repo-redundant-pickle-weights",
    Severity.LOW,
    "A repository ships its weights both as safetensors and as a pickle-based checkpoint; the pickle is needless attack surface.",
    cwe=502,
)

CONFIG_TARGET = Rule(
    "REP005",
    "config-instantiation-target",
    Severity.HIGH,
    "A Hydra/NeMo-style config names a denied callable in _target_, which instantiate() imports and calls when the "
    "model is built.",
    cwe=94,
)

CONFIG_NAMES = frozenset({"config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json"})
#: transformers >= 4.43 may keep the chat template beside tokenizer_config.json.
TEMPLATE_CONFIG = "chat_template.json"
MAX_SOURCE = 8 << 20
MAX_CONFIG = 16 << 20
MAX_WALK = 20_000
_PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_RAISE = {Severity.INFO: Severity.LOW, Severity.LOW: Severity.MEDIUM, Severity.MEDIUM: Severity.HIGH,
          Severity.HIGH: Severity.CRITICAL, Severity.CRITICAL: Severity.CRITICAL}
_LOWER = {Severity.INFO: Severity.INFO, Severity.LOW: Severity.INFO, Severity.MEDIUM: Severity.LOW,
          Severity.HIGH: Severity.MEDIUM, Severity.CRITICAL: Severity.HIGH}


class RepoCodeAnalyzer:
    name = "repo"
    formats = frozenset({Format.PYTHON, Format.JSON, Format.TEXT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        logical = _logical_path(artifact)
        name = os.path.basename(logical) if logical else artifact.name
        if name.endswith((".py", ".pyw", ".pyi")):
            yield from _analyze_python(artifact, logical)
        elif name in CONFIG_NAMES or name == TEMPLATE_CONFIG:
            yield from _analyze_config(artifact, logical, name)
        elif name.lower().endswith(_JINJA_SUFFIXES):
            yield from _analyze_jinja(artifact)
        elif name.lower().endswith(_YAML_SUFFIXES) or b"_target_" in artifact.head():
            yield from _analyze_targets(artifact)
        elif b'"class_name"' in artifact.head():
            yield from _analyze_keras_json(artifact)


# --------------------------------------------------------------------------- locations


def _logical_path(artifact: Artifact) -> str | None:
    """The on-disk path under its real name; for a Hugging Face cache blob, its snapshot link."""
    if artifact.fs_path is None:
        return None
    parent = os.path.dirname(os.path.abspath(artifact.fs_path))
    cache_root = os.path.dirname(parent)
    if os.path.basename(parent) != "blobs" or not os.path.basename(cache_root).startswith(("models--", "datasets--")):
        return artifact.fs_path
    target = os.path.realpath(artifact.fs_path)
    seen = 0
    for dirpath, _dirs, files in os.walk(os.path.join(cache_root, "snapshots")):
        for fname in sorted(files):
            seen += 1
            if seen > MAX_WALK:
                return artifact.fs_path
            full = os.path.join(dirpath, fname)
            if os.path.islink(full) and os.path.realpath(full) == target:
                return full
    return artifact.fs_path


def _display_sibling(artifact: Artifact, logical: str | None, name: str) -> Location:
    base = os.path.dirname(logical) if logical and logical != artifact.fs_path else os.path.dirname(artifact.location.path)
    return Location(os.path.join(base, name))


# --------------------------------------------------------------------------- configs


def auto_map_modules(config: object) -> list[tuple[str, str, str]]:
    """``(auto class, module, remote repo or "")`` for every auto_map entry of a parsed config."""
    if not isinstance(config, dict):
        return []
    auto_map = config.get("auto_map")
    if not isinstance(auto_map, dict):
        return []
    out: list[tuple[str, str, str]] = []
    for key, value in auto_map.items():
        refs = value if isinstance(value, list) else [value]
        for ref in refs:
            if not isinstance(ref, str) or "." not in ref:
                continue
            repo, _, ref = ref.rpartition("--")
            out.append((str(key), ref.rsplit(".", 1)[0], repo))
    return out


def _escapes_repo(module: str) -> bool:
    """Whether an auto_map module names a file outside the repository.

    transformers joins the module file onto the repository directory, so an absolute
    path (``/tmp/x``, ``C:\\x``), a backslash path or ``..`` loads code from anywhere on
    the machine; such a file is never read by the scanner either.
    """
    return module.startswith(("/", "\\", "~")) or "\\" in module or ":" in module or ".." in module


def _read_json(path: str) -> object:
    try:
        if os.path.getsize(path) > MAX_CONFIG:
            return None
        with open(path, "rb") as handle:
            return json.loads(handle.read(MAX_CONFIG))
    except (OSError, ValueError, RecursionError):
        return None


def _referencing_configs(directory: str) -> dict[str, str]:
    """module name -> the config file that names it, for the configs in ``directory``."""
    refs: dict[str, str] = {}
    for name in sorted(CONFIG_NAMES):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            for _key, module, repo in auto_map_modules(_read_json(path)):
                if not repo:
                    refs.setdefault(module, name)
    return refs


def _analyze_config(artifact: Artifact, logical: str | None, name: str) -> Iterator[Result]:
    raw = artifact.read_all(MAX_CONFIG)
    yield from _target_findings(raw, artifact.location)
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        yield ScanError(artifact.location, f"{name} is not valid JSON: {exc}", "malformed")
        return
    yield from _chat_templates(config, artifact.location)
    if _is_keras_model(config):
        yield from check_keras_config(config, artifact.location)
    directory = os.path.dirname(logical) if logical else None
    for key, module, repo in auto_map_modules(config):
        escapes = _escapes_repo(module)
        where = f"another repository ({repo})" if repo else f"{module.replace('.', '/')}.py"
        if escapes:
            where = f"{module}.py, a path outside the repository"
        yield REMOTE_CODE.at(
            artifact.location,
            f"auto_map {key} -> {module}: trust_remote_code imports code from {where}",
            evidence={"auto_class": key, "module": module, "repo": repo, "escapes": escapes},
            severity=Severity.HIGH if repo or escapes else None,
        )
        if directory and not repo and not escapes:
            path = os.path.join(directory, module.replace(".", "/") + ".py")
            if os.path.isfile(path):
                loc = _display_sibling(artifact, logical, module.replace(".", "/") + ".py")
                yield from _python_findings(_read_source(path), loc, referenced_by=name)
    if name == "config.json" and directory:
        yield from _redundant_weights(artifact, directory)


_YAML_SUFFIXES = (".yaml", ".yml")
#: transformers >= 4.50 saves chat templates as ``chat_template.jinja`` (and
#: ``additional_chat_templates/<name>.jinja``).
_JINJA_SUFFIXES = (".jinja", ".jinja2", ".j2")


def _analyze_jinja(artifact: Artifact) -> Iterator[Result]:
    text = artifact.read_all(MAX_CONFIG).decode("utf-8", errors="replace")
    yield from screen_template(text, artifact.location, artifact.name)
#: ``_target_: pkg.mod.fn`` in YAML (plain, quoted, flow style) or JSON.
_TARGET = re.compile(rb"""["']?_target_["']?\s*:\s*["']?([A-Za-z_][\w.]*)""")
MAX_TARGETS = 50


def _analyze_targets(artifact: Artifact) -> Iterator[Result]:
    """Hydra ``_target_`` entries of a YAML/JSON config (NeMo's model_config.yaml).

    ``hydra.utils.instantiate`` imports the dotted path and calls it with the sibling keys
    as arguments, so a config is code: each target is judged by the pickle-globals policy
    (the same import-and-call semantics). The text is scanned, never parsed as YAML.
    """
    with artifact.open() as stream:
        raw = stream.read(MAX_CONFIG + 1)
    if len(raw) > MAX_CONFIG:
        yield ScanError(artifact.location, f"config larger than {MAX_CONFIG} bytes; only its start was checked", "limit")
    yield from _target_findings(raw[:MAX_CONFIG], artifact.location)


def _target_findings(raw: bytes, where: Location) -> Iterator[Result]:
    seen: set[str] = set()
    for match in _TARGET.finditer(raw):
        target = match.group(1).decode("ascii", "replace")
        module, _, name = target.rpartition(".")
        if not module or target in seen:
            continue
        seen.add(target)
        if len(seen) > MAX_TARGETS:
            return
        verdict = pickle_globals.classify(module, name)
        if verdict.status is pickle_globals.Status.DENY:
            yield CONFIG_TARGET.at(
                where.at_offset(match.start()),
                f"_target_ {target} ({verdict.category}: {verdict.reason}) is imported and called by instantiate()",
                evidence={"target": target, "category": verdict.category},
                severity=Severity.CRITICAL,
            )


def _is_keras_model(config: object) -> bool:
    """A Keras model JSON (``model.to_json()``): what ``model_from_json`` rebuilds."""
    return isinstance(config, dict) and isinstance(config.get("class_name"), str) and isinstance(config.get("config"), dict)


def _analyze_keras_json(artifact: Artifact) -> Iterator[Result]:
    """A loose JSON file that may be a Keras model config (Keras 2 ``model_from_json`` has no
    safe mode: its Lambda layers run); only files naming ``class_name`` early are read."""
    try:
        config = json.loads(artifact.read_all(MAX_CONFIG))
    except (ValueError, RecursionError):
        return  # not JSON after all: nothing loads it as a model either
    if _is_keras_model(config):
        yield from check_keras_config(config, artifact.location)


def _chat_templates(config: object, where: Location) -> Iterator[Result]:
    """Jinja chat templates in a tokenizer config: the same template injection as in GGUF.

    ``chat_template`` is a string or a list of ``{"name", "template"}`` entries; servers
    that render it outside a sandbox run whatever the template reaches.
    """
    if not isinstance(config, dict):
        return
    value = config.get("chat_template")
    entries: list[tuple[str, object]] = [("chat_template", value)]
    if isinstance(value, list):
        entries = [(f"chat_template[{item.get('name', i)}]", item.get("template"))
                   for i, item in enumerate(value[:64]) if isinstance(item, dict)]
    for key, text in entries:
        if isinstance(text, str) and text:
            yield from screen_template(text, where, key)


def _redundant_weights(artifact: Artifact, directory: str) -> Iterator[Result]:
    try:
        names = sorted(os.listdir(directory))[:MAX_WALK]
    except OSError:
        return
    safetensors = [n for n in names if n.endswith(".safetensors")]
    pickles = [n for n in names if n.endswith(_PICKLE_WEIGHTS) and not n.startswith("training_args")]
    if safetensors and pickles:
        yield REDUNDANT_PICKLE.at(
            artifact.location,
            f"weights shipped twice: {', '.join(safetensors[:3])} and pickle-based {', '.join(pickles[:3])}",
            evidence={"safetensors": tuple(safetensors[:20]), "pickles": tuple(pickles[:20])},
        )


# --------------------------------------------------------------------------- python


def _read_source(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SOURCE + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_SOURCE else None


def _analyze_python(artifact: Artifact, logical: str | None) -> Iterator[Result]:
    source = artifact.read_all(MAX_SOURCE)
    referenced_by = None
    if logical:
        module = os.path.splitext(os.path.basename(logical))[0]
        referenced_by = _referencing_configs(os.path.dirname(logical)).get(module)
    location = artifact.location
    if logical and logical != artifact.fs_path:
        location = _display_sibling(artifact, logical, os.path.basename(logical))
    yield from _python_findings(source, location, referenced_by)


def _python_findings(source: bytes | None, where: Location, referenced_by: str | None) -> Iterator[Result]:
    if source is None:
        yield ScanError(where, "Python source unreadable or too large", "limit")
        return
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        yield ScanError(where, f"Python source does not parse: {type(exc).__name__}: {exc}", "malformed")
        return
    visitor = _CallVisitor()
    try:
        visitor.visit(tree)
    except RecursionError:
        yield ScanError(where, "Python source nested too deeply", "limit")
        return
    yield from _report(visitor, where, referenced_by)


def _report(visitor: _CallVisitor, where: Location, referenced_by: str | None) -> Iterator[Result]:
    reach = f"imported by trust_remote_code via {referenced_by}" if referenced_by else "not referenced by auto_map"
    for call in visitor.calls:
        severity = policy.severity_of(call.category)
        if call.import_time:
            severity = _RAISE[severity]
        if not referenced_by:
            severity = _LOWER[severity]
        if call.category == "file" and not call.import_time:
            continue  # reading files inside functions is ordinary model code
        when = "at import time" if call.import_time else "when called"
        yield DANGEROUS_CALL.at(
            where,
            f"line {call.line}: {call.target}() {when} ({call.reason}; {reach})",
            evidence={"call": call.target, "line": call.line, "category": call.category,
                      "import_time": call.import_time, "referenced_by": referenced_by or ""},
            severity=severity,
        )
    for line, sink, decoder in visitor.obfuscated:
        yield OBFUSCATED_EXEC.at(
            where,
            f"line {line}: {sink}() runs data decoded by {decoder} ({reach})",
            evidence={"sink": sink, "decoder": decoder, "line": line, "referenced_by": referenced_by or ""},
            severity=None if referenced_by else Severity.HIGH,
        )


@dataclass(frozen=True)
class _Call:
    target: str
    line: int
    category: str
    reason: str
    import_time: bool


_BUILTINS = frozenset({"exec", "eval", "compile", "__import__", "open", "getattr"})
_SINKS = frozenset({"builtins.exec", "builtins.eval", "builtins.compile", "types.FunctionType", "marshal.loads",
                    "pickle.loads"})


@dataclass
class _CallVisitor(ast.NodeVisitor):
    """Resolve import aliases and collect policy-relevant calls (statically, never executed)."""

    aliases: dict[str, str] = field(default_factory=dict)
    tainted: dict[str, str] = field(default_factory=dict)
    calls: list[_Call] = field(default_factory=list)
    obfuscated: list[tuple[int, str, str]] = field(default_factory=list)
    depth: int = 0

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                root = alias.name.split(".", 1)[0]
                self.aliases[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _scoped(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _scoped  # noqa: N815

    def resolve(self, expr: ast.expr) -> str | None:
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if isinstance(expr, ast.Call):
            base_call = self._dynamic_base(expr)
            return None if base_call is None else ".".join([base_call, *reversed(parts)])
        if not isinstance(expr, ast.Name):
            return None
        base = self.aliases.get(expr.id)
        if base is None:
            base = f"builtins.{expr.id}" if expr.id in _BUILTINS else expr.id
        return ".".join([base, *reversed(parts)])

    def _dynamic_base(self, call: ast.Call) -> str | None:
        """``__import__("os")`` / ``importlib.import_module("os")`` -> ``os``;
        ``getattr(os, "system")`` -> ``os.system`` (literal names only)."""
        target = self.resolve(call.func)
        args = call.args
        literal = [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if target in ("builtins.__import__", "importlib.import_module") and args and literal[:1] == [getattr(args[0], "value", None)]:
            return literal[0]
        if target == "builtins.getattr" and len(args) >= 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str):
            owner = self.resolve(args[0]) if isinstance(args[0], (ast.Name, ast.Attribute, ast.Call)) else None
            return None if owner is None else f"{owner}.{args[1].value}"
        return None

    def _decoder_in(self, node: ast.AST) -> str | None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                target = self.resolve(sub.func)
                if target in policy.DECODERS:
                    return target
            if isinstance(sub, ast.Name) and sub.id in self.tainted:
                return self.tainted[sub.id]
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        decoder = self._decoder_in(node.value)
        if decoder:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.tainted[target.id] = decoder
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        target = self.resolve(node.func)
        if target is not None:
            hit = policy.classify_call(target)
            if hit is not None:
                self.calls.append(_Call(target, node.lineno, hit[0], hit[1], self.depth == 0))
            if target in _SINKS and node.args:
                decoder = self._decoder_in(node.args[0])
                if decoder:
                    self.obfuscated.append((node.lineno, target, decoder))
        self.generic_visit(node)
