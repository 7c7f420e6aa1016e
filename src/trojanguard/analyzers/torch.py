"""PyTorch checkpoints: ``torch.save`` zips, TorchScript archives and the legacy format.

A PyTorch file is a pickle plus raw tensor storages.  Loading it runs the pickle, and
loading a TorchScript archive compiles the Python-like source in ``code/``.  This module
therefore

* analyses every pickle in the file (``data.pkl``, ``constants.pkl``, extra ``*.pkl``;
  the five back-to-back pickles of the legacy format) with the pickle analyzer;
* parses TorchScript ``code/**/*.py`` with :mod:`ast` (never compiles or runs it) and
  reports names outside the TorchScript vocabulary and custom native operator namespaces;
* checks the layout torch relies on (records, storages the pickle references) while never
  reading a storage's bytes: scan cost follows the metadata, not the weights;
* yields every other member back to the scanner so nothing in the archive goes unseen.

Zips are walked with :func:`containers.iter_zip_entries`, so duplicate ``data.pkl``
members, CRC tricks and hidden entries get the same hostile-zip checks as any zip.
"""

from __future__ import annotations

import ast
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..artifact import Artifact
from ..errors import LimitExceeded, MalformedInput
from ..formats import Format
from ..model import Finding, Location, Rule, ScanError, Severity
from . import _pickle_vm as vm
from .base import Context, Result
from .containers import ZipEntry, iter_zip_entries
from .pickle import PickleScan, analyze_pickle_stream

TORCHSCRIPT_CODE = Rule(
    "TOR001", "torchscript-outside-vocabulary", Severity.HIGH,
    "TorchScript source in the archive uses a name outside the TorchScript vocabulary (Python modules, eval/open, "
    "introspection escapes).",
    cwe=94,
)
CUSTOM_NATIVE_OP = Rule(
    "TOR002", "torchscript-custom-native-op", Severity.HIGH,
    "TorchScript source calls an operator or class from a non-PyTorch native namespace (torch.ops.<ns>, "
    "torch.classes.<ns>), i.e. native code loaded from outside PyTorch.",
    cwe=829,
)
LAYOUT = Rule(
    "TOR003", "torch-layout-malformed", Severity.LOW,
    "The checkpoint's layout or records (version, byteorder, member prefix, legacy sections) differ from what "
    "torch.save writes.",
    cwe=20,
)
STORAGE = Rule(
    "TOR004", "torch-storage-mismatch", Severity.MEDIUM,
    "A tensor storage the pickle references is missing, or its size disagrees with the element count the pickle "
    "declares.",
    cwe=130,
)

#: Bytes per element of the storage classes torch pickles (``torch.FloatStorage`` ...).
_ITEMSIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "ComplexHalfStorage": 4, "QInt8Storage": 1,
    "QUInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}

#: Small text records torch writes beside the pickle; values are checked, never trusted.
_RECORD_MAX = 256
#: Largest TorchScript source file checked (real ones are tens of KiB; an AST costs ~100x
#: its text in memory) and the total kept for one archive.
_CODE_FILE_MAX = 2 << 20
_CODE_TOTAL_MAX = 64 << 20


# --------------------------------------------------------------------------- records


def _check_version(text: str) -> str | None:
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 20:
        return "expected a small decimal version number"
    return None


def _check_alignment(text: str) -> str | None:
    value = text.strip()
    if not value.isdigit() or int(value) not in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096):
        return "expected a power of two up to 4096"
    return None


def _check_byteorder(text: str) -> str | None:
    return None if text.strip() in ("little", "big") else "expected 'little' or 'big'"


def _check_serialization_id(text: str) -> str | None:
    value = text.strip()
    if not value or len(value) > 64 or not value.isalnum():
        return "expected a short alphanumeric id"
    return None


_RECORDS = {
    "version": _check_version,
    ".data/version": _check_version,
    ".format_version": _check_version,
    ".storage_alignment": _check_alignment,
    "byteorder": _check_byteorder,
    ".data/serialization_id": _check_serialization_id,
}


def _read_small(entry: ZipEntry, limit: int) -> bytes:
    """At most ``limit`` bytes of a member (records, code files), or MalformedInput."""
    try:
        with entry.open() as stream:
            return bytes(stream.read(limit + 1))
    except (zlib.error, EOFError, ValueError) as exc:
        raise MalformedInput(f"corrupt zip member {entry.name}: {exc}") from exc


def _record_findings(entry: ZipEntry, rel: str, where: Location) -> Iterator[Finding]:
    data = _read_small(entry, _RECORD_MAX)
    problem: str | None
    if len(data) > _RECORD_MAX:
        problem = f"larger than {_RECORD_MAX} bytes"
    else:
        try:
            problem = _RECORDS[rel](data.decode("ascii"))
        except UnicodeDecodeError:
            problem = "not ASCII text"
    if problem is not None:
        shown = data[:40].decode("ascii", "backslashreplace")
        yield LAYOUT.at(where, f"record '{rel}' holds {shown!r}: {problem}",
                        evidence={"record": rel, "value": shown, "problem": problem})


# --------------------------------------------------------------------------- storages


@dataclass(frozen=True)
class _StorageRef:
    key: str
    storage_type: str
    numel: int | None

    @property
    def nbytes(self) -> int | None:
        size = _ITEMSIZE.get(self.storage_type)
        return None if size is None or self.numel is None else size * self.numel


def _storage_refs(pids: Iterable[object]) -> list[_StorageRef]:
    """The ``('storage', type, key, location, numel, ...)`` persistent ids torch writes."""
    refs: dict[str, _StorageRef] = {}
    for pid in pids:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            continue
        key = pid[2]
        if not isinstance(key, str) or key in refs:
            continue
        kind = pid[1]
        type_name = kind.name if isinstance(kind, vm.Global) else "?"
        numel = pid[4] if isinstance(pid[4], int) and not isinstance(pid[4], bool) else None
        refs[key] = _StorageRef(key, type_name, numel)
    return list(refs.values())


def _storage_findings(refs: list[_StorageRef], sizes: dict[str, int], folder: str,
                      where: Location, prefix: str = "") -> Iterator[Finding]:
    for ref in refs:
        size = sizes.get(f"{folder}/{ref.key}")
        member = f"{prefix}{folder}/{ref.key}"
        if size is None:
            yield STORAGE.at(where, f"storage '{ref.key}' referenced by the pickle has no member '{member}'",
                             evidence={"storage": ref.key, "member": member})
            continue
        expected = ref.nbytes
        if expected is not None and expected != size:
            yield STORAGE.at(
                where,
                f"storage '{ref.key}' ({ref.storage_type}, {ref.numel} elements) should be {expected} bytes "
                f"but '{member}' is {size}",
                evidence={"storage": ref.key, "storage_type": ref.storage_type, "expected": expected, "size": size},
            )


# --------------------------------------------------------------------------- TorchScript vocabulary

#: Names TorchScript's importer resolves (builtins, type names, the ``torch``/``ops`` roots).
_TS_NAMES = frozenset({
    "torch", "ops", "__torch__", "CONSTANTS", "self", "int", "float", "bool", "str", "complex", "len", "range",
    "getattr", "hasattr", "isinstance", "annotate", "unchecked_cast", "uninitialized", "print", "enumerate",
    "zip", "list", "tuple", "dict", "min", "max", "abs", "round", "divmod", "hash", "ord", "chr", "hex", "oct",
    "bin", "any", "all", "sum", "sorted", "fork", "wait", "Tensor", "List", "Dict", "Optional", "Tuple", "Any",
    "NoneType", "Future", "RRef", "Union", "Device", "Stream", "Generator", "Storage", "Layout", "ScalarType",
    "MemoryFormat", "QScheme", "Await", "Enum", "NamedTuple", "Module", "Final", "Callable", "Exception",
    "NotImplemented", "Ellipsis", "__torch_function__", "rpc_async", "rpc_sync", "remote", "op_version_set",
    "_awaitable", "_awaitable_wait", "_awaitable_nowait", "isfinite", "iter", "next", "reversed", "pow",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "inf", "nan", "infj", "nanj",
    "__annotations__", "ValueError", "RuntimeError", "AssertionError", "IndexError", "KeyError", "TypeError", "StopIteration",
    "ZeroDivisionError", "NotImplementedError", "AttributeError", "Interface",
})

#: Python names that only exist to run code or touch the system: critical wherever they appear.
_DANGEROUS_NAMES = frozenset({
    "eval", "exec", "compile", "open", "__import__", "globals", "locals", "vars", "input", "breakpoint", "exit",
    "quit", "setattr", "delattr", "__builtins__", "memoryview",
})
_DANGEROUS_MODULES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "socket", "shutil", "pickle", "marshal", "ctypes",
    "posix", "nt", "pty", "runpy", "io", "pathlib", "urllib", "requests", "http", "ftplib", "telnetlib",
    "webbrowser", "signal", "multiprocessing", "threading", "tempfile", "glob", "platform", "code", "codeop",
    "cffi", "dill", "cloudpickle", "joblib", "shelve", "asyncio", "commands", "popen2",
})
#: Attributes used to escape a sandbox from any object.
_ESCAPE_ATTRS = frozenset({
    "__globals__", "__builtins__", "__subclasses__", "__class__", "__bases__", "__base__", "__mro__", "__code__",
    "__dict__", "__getattribute__", "__reduce__", "__reduce_ex__", "__closure__", "__func__", "__self__",
    "__loader__", "__spec__", "__import__", "f_globals", "f_locals", "gi_frame", "co_code",
})
#: ``torch.<name>`` entries that read or write files or load other code.
_TORCH_DANGEROUS = frozenset({
    "load", "save", "from_file", "hub", "_C", "utils", "package", "serialization", "multiprocessing",
    "distributed", "cuda", "backends", "_dynamo", "compile", "_inductor", "export", "_ops", "library",
})
_JIT_DANGEROUS = frozenset({"load", "save", "_load_for_lite_interpreter", "_import_ir_module_from_package"})
#: Operator namespaces PyTorch itself registers.
_BUILTIN_OP_NS = frozenset({
    "aten", "prim", "prims", "quantized", "_quantized", "quantized_decomposed", "prepacked", "profiler", "cuda",
    "mkldnn", "mkldnn_prepacked", "onednn", "xnnpack", "_nnapi", "sparse", "_c10d_functional", "c10d_functional",
    "_c10d_functional_autograd", "c10d", "_dtensor", "rngprims", "higher_order", "debugprims", "fbgemm", "_caffe2",
    "_test", "inductor", "mkl", "_fbgemm", "_mkldnn", "_refs", "mps",
})
#: Custom-class namespaces PyTorch itself registers (quantized packed params ...).
_BUILTIN_CLASS_NS = frozenset({"quantized", "xnnpack", "_nnapi", "onednn", "mkldnn", "c10d", "dist_c10d",
                               "dist_rpc", "profiling", "_TorchScriptTesting", "sparse", "rnn"})
#: Native-op namespaces of the PyTorch domain libraries: still native code outside torch, but expected.
_KNOWN_LIBRARY_NS = frozenset({"torchvision", "torchaudio", "torchtext", "image", "torch_scatter", "torch_sparse"})


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``['a', 'b', 'c']`` when the chain is rooted at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the source itself binds (locals, parameters, defs, classes, loop targets)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


@dataclass
class _Hit:
    rule: Rule
    line: int
    message: str
    severity: Severity | None
    count: int = 1


@dataclass
class _CodeReport:
    """Findings for one code file, one per (rule, subject) with an occurrence count."""

    where: Location
    hits: dict[tuple[str, str], _Hit] = field(default_factory=dict)

    def add(self, rule: Rule, subject: str, line: int, message: str, severity: Severity | None = None) -> None:
        hit = self.hits.get((rule.id, subject))
        if hit is not None:
            hit.count += 1
        else:
            self.hits[(rule.id, subject)] = _Hit(rule, line, message, severity)

    def findings(self) -> Iterator[Finding]:
        for (_, subject), hit in self.hits.items():
            yield hit.rule.at(self.where, f"{hit.message} (line {hit.line})", severity=hit.severity,
                              evidence={"name": subject, "line": hit.line, "occurrences": hit.count})


@dataclass(frozen=True)
class _Defined:
    """What the archive's code files define: modules and their top-level classes/functions."""

    modules: frozenset[str]
    symbols: frozenset[str]

    def resolves(self, parts: list[str]) -> bool:
        dotted = ".".join(parts)
        if dotted in self.modules:
            return True
        return any(".".join(parts[:i]) in self.symbols for i in range(2, len(parts) + 1))


class _CodeChecker:
    """Judges one parsed TorchScript file against the vocabulary.

    Only whole attribute chains are judged (``torch.ops.aten.add``, not also its prefixes),
    so each use is reported once.
    """

    def __init__(self, report: _CodeReport, defined: _Defined, bound: set[str]) -> None:
        self.report = report
        self.defined = defined
        self.bound = bound

    def check(self, tree: ast.AST) -> None:
        inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)
            elif isinstance(node, ast.Attribute):
                if node.attr in _ESCAPE_ATTRS:
                    self.report.add(TORCHSCRIPT_CODE, node.attr, node.lineno,
                                    f"uses introspection attribute {node.attr}", Severity.CRITICAL)
                if id(node) not in inner and isinstance(node.ctx, ast.Load):
                    self._attribute(node)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self._name(node, chained=id(node) in inner)
            elif isinstance(node, ast.Call):
                self._call(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Lambda, ast.AsyncFunctionDef, ast.Await,
                                   ast.Yield, ast.YieldFrom)):
                kind = type(node).__name__
                self.report.add(TORCHSCRIPT_CODE, kind, node.lineno, f"Python construct {kind} is not TorchScript")

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or "."]
        for module in modules:
            root = module.split(".")[0]
            if root in ("__torch__", "torch"):
                continue
            severity = Severity.CRITICAL if root in _DANGEROUS_MODULES else None
            self.report.add(TORCHSCRIPT_CODE, module, node.lineno, f"imports Python module {module}", severity)

    def _name(self, node: ast.Name, *, chained: bool) -> None:
        name = node.id
        if name in self.bound:  # a parameter or local (``input: Tensor``), not the Python builtin
            return
        if name in _DANGEROUS_NAMES:
            self.report.add(TORCHSCRIPT_CODE, name, node.lineno, f"uses Python's {name}", Severity.CRITICAL)
        elif name in _TS_NAMES:
            return
        elif name in _DANGEROUS_MODULES:
            if not chained:  # a chain (os.system) is reported whole by _attribute
                self.report.add(TORCHSCRIPT_CODE, name, node.lineno, f"uses Python module {name}", Severity.CRITICAL)
        else:
            self.report.add(TORCHSCRIPT_CODE, name, node.lineno, f"uses unresolved name {name}")

    def _attribute(self, node: ast.Attribute) -> None:
        parts = _dotted(node)
        if parts is None:
            return
        root = parts[0]
        if root == "torch":
            self._torch(parts, node.lineno)
        elif root == "ops" and len(parts) >= 2:
            self._op_namespace(parts[1], ".".join(parts), node.lineno)
        elif root == "__torch__":
            self._archive_name(parts, node.lineno)
        elif root in _DANGEROUS_MODULES and root not in self.bound:
            dotted = ".".join(parts)
            self.report.add(TORCHSCRIPT_CODE, dotted, node.lineno, f"uses Python's {dotted}", Severity.CRITICAL)

    def _torch(self, parts: list[str], line: int) -> None:
        if len(parts) < 2:
            return
        dotted = ".".join(parts)
        if parts[1] == "ops" and len(parts) >= 3:
            if parts[2] in ("load_library", "_load_library"):
                self.report.add(TORCHSCRIPT_CODE, dotted, line, f"calls {dotted} (loads a native library)",
                                Severity.CRITICAL)
            else:
                self._op_namespace(parts[2], dotted, line)
        elif parts[1] == "classes" and len(parts) >= 3:
            self._class_namespace(parts[2], dotted, line)
        elif parts[1] == "jit" and len(parts) >= 3 and parts[2] in _JIT_DANGEROUS:
            self.report.add(TORCHSCRIPT_CODE, dotted, line, f"calls {dotted} (loads or writes files)",
                            Severity.CRITICAL)
        elif parts[1] in _TORCH_DANGEROUS:
            severity = Severity.CRITICAL if parts[1] in ("load", "save", "from_file", "hub", "_C") else None
            self.report.add(TORCHSCRIPT_CODE, dotted, line,
                            f"uses {dotted}, which TorchScript never emits (file, process or native access)", severity)

    def _op_namespace(self, ns: str, dotted: str, line: int) -> None:
        if ns in _BUILTIN_OP_NS:
            return
        severity = Severity.LOW if ns in _KNOWN_LIBRARY_NS else None
        self.report.add(CUSTOM_NATIVE_OP, f"ops.{ns}", line,
                        f"calls custom native operator {dotted} (namespace '{ns}' is not PyTorch's)", severity)

    def _class_namespace(self, ns: str, dotted: str, line: int) -> None:
        if ns in _BUILTIN_CLASS_NS:
            return
        severity = Severity.LOW if ns in _KNOWN_LIBRARY_NS else None
        self.report.add(CUSTOM_NATIVE_OP, f"classes.{ns}", line,
                        f"uses custom native class {dotted} (namespace '{ns}' is not PyTorch's)", severity)

    def _archive_name(self, parts: list[str], line: int) -> None:
        if len(parts) >= 4 and parts[1] == "torch" and parts[2] == "classes":
            self._class_namespace(parts[3], ".".join(parts), line)
        elif not self.defined.resolves(parts):
            dotted = ".".join(parts)
            self.report.add(TORCHSCRIPT_CODE, dotted, line, f"references {dotted}, which the archive does not define",
                            Severity.LOW)

    def _call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.report.add(TORCHSCRIPT_CODE, "getattr(<computed>)", node.lineno,
                                "getattr with a computed attribute name (TorchScript only emits literals)")
            elif name.value in _ESCAPE_ATTRS or name.value in _DANGEROUS_NAMES:
                self.report.add(TORCHSCRIPT_CODE, name.value, node.lineno,
                                f"getattr reads {name.value!r}", Severity.CRITICAL)


def _module_of(rel: str) -> str | None:
    """``code/__torch__/a/b.py`` -> ``__torch__.a.b`` (None for other paths)."""
    if not rel.startswith("code/") or not rel.endswith(".py"):
        return None
    return rel[len("code/"):-len(".py")].replace("/", ".")


def _definitions(module: str, tree: ast.Module) -> Iterator[str]:
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            yield f"{module}.{node.name}"
            if isinstance(node, ast.ClassDef):
                for inner in node.body:
                    if isinstance(inner, (ast.FunctionDef, ast.ClassDef)):
                        yield f"{module}.{node.name}.{inner.name}"


@dataclass
class _Sources:
    """The archive's TorchScript files (text only) and what they define.

    Trees are not kept: a file's AST is many times its size, so each file is parsed once
    to collect definitions and again to be judged, one file in memory at a time.
    """

    files: list[tuple[str, str, Location]]
    defined: _Defined
    errors: list[Finding]


def _parse(rel: str, text: str) -> ast.Module:
    return ast.parse(text, filename=rel)


def _parse_sources(sources: list[tuple[str, str, Location]]) -> _Sources:
    files: list[tuple[str, str, Location]] = []
    errors: list[Finding] = []
    modules: set[str] = set()
    symbols: set[str] = set()
    for rel, text, where in sources:
        try:
            tree = _parse(rel, text)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            errors.append(LAYOUT.at(where, f"TorchScript source {rel} does not parse: {type(exc).__name__}: {exc}",
                                    evidence={"member": rel}, severity=Severity.MEDIUM))
            continue
        module = _module_of(rel)
        if module is not None:
            modules.add(module)
            symbols.update(_definitions(module, tree))
        del tree
        files.append((rel, text, where))
    return _Sources(files, _Defined(frozenset(modules), frozenset(symbols)), errors)


def _judge_sources(sources: _Sources) -> Iterator[Finding]:
    yield from sources.errors
    for rel, text, where in sources.files:
        report = _CodeReport(where)
        try:
            tree = _parse(rel, text)
            _CodeChecker(report, sources.defined, _bound_names(tree)).check(tree)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            yield LAYOUT.at(where, "TorchScript source is nested too deeply to check", severity=Severity.MEDIUM)
        yield from report.findings()


def check_torchscript_sources(sources: list[tuple[str, str, Location]]) -> Iterator[Finding]:
    """Judge TorchScript source files ``(relative path, text, location)`` of one archive.

    Parsed with :func:`ast.parse` only.  Classes and functions defined by any file of the
    archive may be referenced as ``__torch__.<module>.<name>`` from every other file.
    """
    yield from _judge_sources(_parse_sources(sources))


def _archive_class_finding(finding: Finding, defined: _Defined) -> bool:
    """A pickle finding about a ``__torch__.*`` class the archive's own code defines.

    TorchScript's unpickler resolves ``__torch__`` globals to classes compiled from
    ``code/`` (never to Python imports), so such a class is part of the model, not a payload.
    """
    if finding.rule.id not in ("PKL002", "PKL003"):
        return False
    name = dict(finding.evidence).get("callable")
    return isinstance(name, str) and name.startswith("__torch__.") and defined.resolves(name.split("."))


# --------------------------------------------------------------------------- torch zip


def _pickle_results(scan: PickleScan) -> Iterator[Result]:
    yield from scan.findings
    yield from scan.children
    if scan.limit_error is not None:
        raise scan.limit_error
    if scan.read_error is not None:
        raise scan.read_error


@dataclass
class _ZipState:
    """What the walk over one torch zip collected before the cross-member checks."""

    prefix: str
    sizes: dict[str, int] = field(default_factory=dict)
    storages: dict[str, ZipEntry] = field(default_factory=dict)
    refs: dict[str, list[_StorageRef]] = field(default_factory=dict)
    code: list[tuple[str, str, Location]] = field(default_factory=list)
    code_bytes: int = 0
    pickle_findings: list[Finding] = field(default_factory=list)


def _archive_prefix(entries: list[ZipEntry]) -> str:
    """The directory torch writes every record under (``archive/`` ...), from ``data.pkl``."""
    for entry in entries:
        name = entry.raw_name or entry.name
        if entry.kind == "member" and (name == "data.pkl" or name.endswith("/data.pkl")):
            return name[: -len("data.pkl")]
    return ""


def _storage_folder(rel: str) -> str | None:
    folder, _, key = rel.partition("/")
    if folder in ("data", "constants") and key and "/" not in key:
        return folder
    return None


class TorchZipAnalyzer:
    """``torch.save`` zips (>= 1.6) and TorchScript archives (``torch.jit.save``)."""

    name = "torch"
    formats = frozenset({Format.TORCH_ZIP, Format.TORCHSCRIPT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        entries: list[ZipEntry] = []
        for item in iter_zip_entries(artifact, ctx):
            if isinstance(item, ZipEntry):
                entries.append(item)
            else:
                yield item
        state = _ZipState(_archive_prefix(entries))
        for entry in entries:
            if entry.kind == "member":
                state.sizes[self._rel(entry, state) or ""] = entry.size
        for entry in entries:
            yield from self._entry(artifact, entry, state, ctx)
        referenced: set[str] = set()
        for folder, refs in state.refs.items():
            yield from _storage_findings(refs, state.sizes, folder,
                                         artifact.location.child(f"{state.prefix}{folder}.pkl"), state.prefix)
            referenced.update(f"{folder}/{r.key}" for r in refs)
        for rel, entry in state.storages.items():
            if rel not in referenced:  # nothing loads it: let the scanner identify what it is
                yield entry.artifact(artifact)
        sources = _parse_sources(state.code)
        for finding in state.pickle_findings:
            if not _archive_class_finding(finding, sources.defined):
                yield finding
        yield from _judge_sources(sources)

    @staticmethod
    def _rel(entry: ZipEntry, state: _ZipState) -> str | None:
        name = (entry.raw_name or entry.name).replace("\\", "/")
        if not name.startswith(state.prefix):
            return None
        return name[len(state.prefix):]

    def _entry(self, artifact: Artifact, entry: ZipEntry, state: _ZipState, ctx: Context) -> Iterator[Result]:
        where = artifact.location.child(entry.name)
        if entry.kind in ("prefix", "gap", "suffix"):
            yield entry.artifact(artifact)
            return
        rel = self._rel(entry, state)
        if rel is None:
            yield LAYOUT.at(where, f"member '{entry.name}' lies outside the archive folder '{state.prefix}'",
                            evidence={"member": entry.name, "prefix": state.prefix})
            yield entry.artifact(artifact)
            return
        primary = entry.kind == "member" and entry.duplicate_index == 1
        if rel in ("data.pkl", "constants.pkl") and primary:
            yield from self._main_pickle(artifact, entry, rel, state, ctx)
        elif rel.endswith((".pkl", ".debug_pkl")) or rel in ("data.pkl", "constants.pkl"):
            yield entry.artifact(artifact, hint=Format.PICKLE.value)
        elif _storage_folder(rel) is not None and primary:
            state.storages[rel] = entry  # never read: yielded only if no pickle references it
        elif rel in _RECORDS:
            yield from _record_findings(entry, rel, where)
        elif rel.startswith("code/") and rel.endswith(".py"):
            yield from self._code(entry, rel, where, state, ctx)
        else:
            yield entry.artifact(artifact)

    def _main_pickle(self, artifact: Artifact, entry: ZipEntry, rel: str, state: _ZipState,
                     ctx: Context) -> Iterator[Result]:
        """Analysed here (not by the scanner) because its persistent ids name the storages."""
        child = entry.artifact(artifact, hint=Format.PICKLE.value)
        with child.open() as stream:
            scan = analyze_pickle_stream(stream, child.location, ctx, parent=child)
        state.refs[rel[: -len(".pkl")]] = _storage_refs(scan.persistent_ids)
        state.pickle_findings.extend(scan.findings)  # judged once the archive's classes are known
        yield from scan.children
        if scan.limit_error is not None or scan.read_error is not None:
            yield from state.pickle_findings
            raise scan.limit_error or scan.read_error  # type: ignore[misc]

    def _code(self, entry: ZipEntry, rel: str, where: Location, state: _ZipState, ctx: Context) -> Iterator[Result]:
        total = min(_CODE_TOTAL_MAX, ctx.limits.max_in_memory)
        if state.code_bytes + min(entry.size, _CODE_FILE_MAX + 1) > total:
            raise LimitExceeded(f"TorchScript sources exceed {total} bytes in total at {entry.name}",
                                limit="max_in_memory")
        data = _read_small(entry, _CODE_FILE_MAX) if entry.size <= _CODE_FILE_MAX else b""
        if entry.size > _CODE_FILE_MAX or len(data) > _CODE_FILE_MAX:
            yield LAYOUT.at(where, f"TorchScript source {rel} is larger than {_CODE_FILE_MAX} bytes; not checked",
                            evidence={"member": rel, "size": entry.size}, severity=Severity.MEDIUM)
            yield ScanError(where, f"TorchScript source larger than {_CODE_FILE_MAX} bytes was not checked", "limit")
            return
        state.code_bytes += len(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield LAYOUT.at(where, f"TorchScript source {rel} is not UTF-8 text", evidence={"member": rel},
                            severity=Severity.MEDIUM)
            return
        state.code.append((rel, text, where))


# --------------------------------------------------------------------------- legacy format

_LEGACY_SECTIONS = ("magic number", "protocol version", "sys info", "main", "storage keys")
_LEGACY_PROTOCOL = 1001
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class TorchLegacyAnalyzer:
    """``torch.save(..., _use_new_zipfile_serialization=False)``: pickles, then raw storages.

    The five pickles are analysed one at a time (``single=True``); the storage bytes after
    them are skipped by seeking, using the element counts torch writes before each storage.
    """

    name = "torch"
    formats = frozenset({Format.TORCH_LEGACY})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        if artifact.depth > 0 and artifact.name in _TAR_WALKERS and artifact.hint == Format.TORCH_LEGACY.value:
            yield from analyze_legacy_tar_member(artifact, ctx)
            return
        scans: list[PickleScan] = []
        with artifact.open() as stream:
            for section in _LEGACY_SECTIONS:
                start = stream.tell()
                scan = analyze_pickle_stream(stream, artifact.location, ctx, single=True, parent=artifact)
                yield from _pickle_results(scan)
                if not scan.complete:
                    yield LAYOUT.at(artifact.location.at_offset(start),
                                    f"legacy torch file: the {section} pickle is broken; later sections not analysed",
                                    evidence={"section": section}, severity=Severity.MEDIUM)
                    return
                scans.append(scan)
            yield from _legacy_headers(scans, artifact.location)
            yield from _legacy_storages(artifact, stream, scans, ctx)


def _legacy_headers(scans: list[PickleScan], where: Location) -> Iterator[Finding]:
    magic = scans[0].values[0] if scans[0].values else None
    protocol = scans[1].values[0] if scans[1].values else None
    if magic != _LEGACY_MAGIC:
        yield LAYOUT.at(where, f"legacy torch magic number is {magic!r}", evidence={"value": repr(magic)[:64]})
    if protocol != _LEGACY_PROTOCOL:
        yield LAYOUT.at(where, f"legacy torch protocol version is {protocol!r}", evidence={"value": repr(protocol)[:64]})


def _legacy_keys(scan: PickleScan) -> list[str] | None:
    value = scan.values[0] if scan.values else None
    if isinstance(value, (list, tuple)) and all(isinstance(k, str) for k in value):
        return list(value)
    return None


def _legacy_storages(artifact: Artifact, stream: BinaryIO, scans: list[PickleScan], ctx: Context) -> Iterator[Result]:
    """Skip each storage (8-byte element count + data) without reading its bytes."""
    keys = _legacy_keys(scans[4])
    if keys is None:
        yield LAYOUT.at(artifact.location, "legacy torch storage-keys pickle is not a list of strings",
                        severity=Severity.MEDIUM)
        return
    refs = {r.key: r for r in _storage_refs(scans[3].persistent_ids)}
    size = _stream_size(artifact, stream)
    pos = stream.tell()
    for key in keys:
        head = stream.read(8)
        ref = refs.get(key)
        itemsize = _ITEMSIZE.get(ref.storage_type) if ref is not None else None
        if len(head) < 8 or itemsize is None:
            problem = "is truncated" if len(head) < 8 else "has an unknown storage type"
            yield STORAGE.at(artifact.location.at_offset(pos), f"legacy storage '{key}' {problem}; not skipped",
                             evidence={"storage": key})
            return
        numel = int.from_bytes(head, "little")
        end = pos + 8 + numel * itemsize
        if ref is not None and ref.numel is not None and ref.numel != numel:
            yield STORAGE.at(artifact.location.at_offset(pos),
                             f"legacy storage '{key}' holds {numel} elements, the pickle declares {ref.numel}",
                             evidence={"storage": key, "expected": ref.numel, "size": numel})
        if size is not None and end > size:
            yield STORAGE.at(artifact.location.at_offset(pos),
                             f"legacy storage '{key}' claims {numel} elements, past the end of the file",
                             evidence={"storage": key, "size": numel})
            return
        stream.seek(end)
        pos = end
    yield from _legacy_trailer(artifact, size, pos, ctx)


def _legacy_trailer(artifact: Artifact, size: int | None, pos: int, ctx: Context) -> Iterator[Result]:
    if size is None or pos >= size:
        return
    yield LAYOUT.at(artifact.location.at_offset(pos), f"{size - pos} bytes follow the last storage",
                    evidence={"offset": pos, "size": size - pos}, severity=Severity.MEDIUM)
    yield artifact.window(f"<trailing@{pos}>", pos, size - pos)


def _stream_size(artifact: Artifact, stream: BinaryIO) -> int | None:
    if artifact.size is not None:
        return artifact.size
    return None


# --------------------------------------------------------------------------- legacy tar members
# torch < 0.4 wrote a tar with members sys_info, pickle, storages and tensors.  ``pickle``
# and ``sys_info`` are single pickles; ``storages`` and ``tensors`` interleave small
# pickles with raw bytes, so they are walked here: every pickle analysed, raw bytes skipped.


def _one_pickle(artifact: Artifact, stream: BinaryIO, ctx: Context, what: str) -> Iterator[Result | PickleScan]:
    start = stream.tell()
    scan = analyze_pickle_stream(stream, artifact.location, ctx, single=True, parent=artifact)
    yield from _pickle_results(scan)
    if not scan.complete or not scan.values:
        yield LAYOUT.at(artifact.location.at_offset(start), f"legacy tar member '{artifact.name}': {what} pickle is "
                        "broken; the rest was not analysed", evidence={"section": what}, severity=Severity.MEDIUM)
        return
    yield scan


def _count(value: object, limit: int) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit else None


def _skip(artifact: Artifact, stream: BinaryIO, size: int | None, n: int, what: str) -> Iterator[Finding]:
    """Seek over ``n`` raw bytes; a finding (and StopIteration for the caller) past the end."""
    end = stream.tell() + n
    if size is not None and end > size:
        yield STORAGE.at(artifact.location.at_offset(stream.tell()), f"legacy {what} runs past the end of the member",
                         evidence={"size": n})
        return
    stream.seek(end)


def _tar_storage_record(artifact: Artifact, stream: BinaryIO, ctx: Context, size: int | None) -> Iterator[Result | bool]:
    """One ``(key, location, storage_type)`` pickle, an element count and the raw data."""
    scan: PickleScan | None = None
    for item in _one_pickle(artifact, stream, ctx, "storage record"):
        if isinstance(item, PickleScan):
            scan = item
        else:
            yield item
    if scan is None:
        return
    args = scan.values[0]
    kind = args[2] if isinstance(args, tuple) and len(args) == 3 else None
    itemsize = _ITEMSIZE.get(kind.name) if isinstance(kind, vm.Global) else None
    head = stream.read(8)
    if itemsize is None or len(head) < 8:
        yield STORAGE.at(artifact.location.at_offset(stream.tell()),
                         "legacy storage record has no known storage type or is truncated; not skipped")
        return
    findings = list(_skip(artifact, stream, size, int.from_bytes(head, "little") * itemsize, "storage"))
    yield from findings
    yield not findings


def _tar_tensor_record(artifact: Artifact, stream: BinaryIO, ctx: Context, size: int | None) -> Iterator[Result | bool]:
    """One ``(key, storage_id, tensor_type)`` pickle, then ndim, sizes, strides and offset."""
    ok = False
    for item in _one_pickle(artifact, stream, ctx, "tensor record"):
        if isinstance(item, PickleScan):
            ok = True
        else:
            yield item
    head = stream.read(8) if ok else b""
    if len(head) < 8:
        if ok:
            yield STORAGE.at(artifact.location.at_offset(stream.tell()), "legacy tensor record is truncated")
        return
    ndim = int.from_bytes(head[:4], "little", signed=True)
    if not 0 <= ndim <= 64:
        yield STORAGE.at(artifact.location.at_offset(stream.tell()), f"legacy tensor record has {ndim} dimensions")
        return
    findings = list(_skip(artifact, stream, size, 16 * ndim + 8, "tensor record"))
    yield from findings
    yield not findings


_TAR_WALKERS = {"storages": _tar_storage_record, "tensors": _tar_tensor_record}


def analyze_legacy_tar_member(artifact: Artifact, ctx: Context) -> Iterator[Result]:
    """Walk the ``storages`` or ``tensors`` member of a legacy torch tar.

    Layout: a pickled count, then per record a pickle and raw bytes (storages: an 8-byte
    element count and the data; tensors: ndim, padding, sizes, strides, offset), then for
    ``storages`` a pickle of storage views.  Every pickle is analysed; raw bytes are skipped.
    """
    walker = _TAR_WALKERS[artifact.name]
    size = artifact.size
    with artifact.open() as stream:
        head: PickleScan | None = None
        for item in _one_pickle(artifact, stream, ctx, "count"):
            if isinstance(item, PickleScan):
                head = item
            else:
                yield item
        if head is None:
            return
        count = _count(head.values[0], ctx.limits.max_members)
        if count is None:
            yield LAYOUT.at(artifact.location, f"legacy tar member '{artifact.name}' starts with {head.values[0]!r}, "
                            "not a record count", severity=Severity.MEDIUM)
            return
        for _ in range(count):
            done = True
            for result in walker(artifact, stream, ctx, size):
                if isinstance(result, bool):
                    done = not result
                else:
                    yield result
            if done:
                return
        if artifact.name == "storages":
            for item in _one_pickle(artifact, stream, ctx, "storage views"):
                if not isinstance(item, PickleScan):
                    yield item
        if size is not None and stream.tell() < size:
            yield from _legacy_trailer(artifact, size, stream.tell(), ctx)


__all__ = [
    "CUSTOM_NATIVE_OP", "LAYOUT", "STORAGE", "TORCHSCRIPT_CODE",
    "TorchLegacyAnalyzer", "TorchZipAnalyzer", "analyze_legacy_tar_member", "check_torchscript_sources",
]
