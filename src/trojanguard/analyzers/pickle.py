"""The pickle analyzer: what would unpickling this stream import and call?

Pickle is a program for a stack machine; "loading" it runs the program.  This module runs
it *symbolically* (``_pickle_vm``) and turns what the program would do into findings:

* every callable it would call, resolved through memo, STACK_GLOBAL, EXT codes,
  getattr/__import__/attrgetter/methodcaller/partial chains, judged by the allow/deny
  policy (``policy.pickle_globals.classify``);
* imports of non-allowlisted globals that are never called;
* nested payloads (pickle.loads of inner bytes, marshal'd code objects), which are also
  handed back to the scanner as child artifacts;
* broken streams, content after STOP and parser-confusion tricks.

Other analyzers (torch legacy, numpy, joblib) call :func:`analyze_pickle_stream` on a
stream positioned at a pickle; it never raises for hostile content except
``LimitExceeded`` and stream errors, which it returns in ``PickleScan.limit_error`` /
``read_error`` so callers can yield the findings first and then raise them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from trojanguard.analyzers import _pickle_vm as vm
from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format, register_pickle_sniffer
from trojanguard.model import Finding, Location, Rule, Severity
from trojanguard.policy import pickle_globals

DANGEROUS_CALLABLE = Rule(
    "PKL001", "pickle-denylisted-global", Severity.CRITICAL,
    "The pickle imports or calls a global that the policy denies (code execution, process, file or network access).",
    cwe=502,
)
UNKNOWN_CALL = Rule(
    "PKL002", "pickle-non-allowlisted-call", Severity.HIGH,
    "The pickle calls a callable that is not on the allowlist (or cannot be resolved statically).",
    cwe=502,
)
UNKNOWN_IMPORT = Rule(
    "PKL003", "pickle-non-allowlisted-import", Severity.MEDIUM,
    "The pickle imports a global that is not on the allowlist, without calling it directly.",
    cwe=502,
)
NESTED_PAYLOAD = Rule(
    "PKL004", "pickle-nested-payload", Severity.CRITICAL,
    "The pickle feeds inner data to a loader of pickles or code objects (pickle.loads, marshal.loads, torch.load...).",
    cwe=502,
)
MALFORMED = Rule(
    "PKL005", "pickle-malformed-stream", Severity.MEDIUM,
    "The pickle stream is truncated or invalid; an unpickler would run everything before the break.",
    cwe=20,
)
AFTER_STOP = Rule(
    "PKL006", "pickle-content-after-stop", Severity.MEDIUM,
    "The file continues after the pickle's STOP opcode (a second pickle or trailing bytes).",
    cwe=434,
)
PARSER_CONFUSION = Rule(
    "PKL007", "pickle-parser-confusion", Severity.HIGH,
    "The stream uses tricks that confuse pickle scanners (frame divergence, memo desync, unregistered EXT code, computed global names).",
    cwe=436,
)
RESOURCE_ABUSE = Rule(
    "PKL009", "pickle-huge-allocation", Severity.HIGH,
    "The pickle asks an allowlisted constructor to allocate an absurd amount of memory when loaded (denial of service).",
    cwe=789,
)
STATE_GADGET = Rule(
    "PKL008", "pickle-state-gadget", Severity.HIGH,
    "BUILD sets state on a global object or injects a __setstate__ that a later BUILD calls.",
    cwe=915,
)

_FATAL = frozenset({"truncated", "invalid-opcode", "bad-argument", "stack"})
_CONFUSION = frozenset({"memo-missing", "memo-overwrite", "memo-key", "frame-divergence", "unknown-extension",
                        "dynamic-global"})
_GADGET = frozenset({"global-state", "setstate-gadget", "class-swap"})


@dataclass(frozen=True)
class PickleScan:
    """What one static run over a pickle stream found.

    ``values`` holds the top-level symbolic value of each pickle (see ``_pickle_vm`` for the
    value types); ``persistent_ids`` the persistent ids referenced, in stream order (torch:
    ``('storage', Global, key, location, numel)`` tuples).  ``limit_error`` is set when a
    resource limit stopped the run: yield the findings, then raise it.
    """

    findings: tuple[Finding, ...]
    children: tuple[Artifact, ...]
    end_offset: int
    pickles: int
    globals: tuple[tuple[str, str], ...]
    calls: tuple[tuple[str, str], ...]
    values: tuple[object, ...]
    persistent_ids: tuple[object, ...]
    protocol: int
    complete: bool
    """True when every pickle decoded to its STOP without a fatal error or limit."""
    limit_error: LimitExceeded | None = None
    read_error: OSError | MalformedInput | None = None
    """An error of the underlying stream (I/O, a broken container member) that cut the run."""
    bytes_read: int = 0


class _Collector:
    """Deduplicates findings per (rule, subject): the first place is reported, repeats are
    counted in the ``occurrences`` evidence (a tensor-per-call checkpoint stays readable)."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self._pending: dict[tuple[str, str], tuple[Rule, int, str, Severity | None, dict[str, object]]] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, rule: Rule, subject: str, offset: int, message: str, *,
            severity: Severity | None = None, **evidence: object) -> None:
        key = (rule.id, subject)
        self._counts[key] = self._counts.get(key, 0) + 1
        if key not in self._pending:
            evidence.setdefault("offset", offset)
            self._pending[key] = (rule, offset, message, severity, evidence)

    @property
    def findings(self) -> list[Finding]:
        out = []
        for key, (rule, offset, message, severity, evidence) in self._pending.items():
            evidence = {**evidence, "occurrences": self._counts[key]}
            out.append(rule.at(self.location.at_offset(offset), message, evidence=evidence, severity=severity))
        return out


class _Policy:
    """Policy verdicts memoised per run: a checkpoint repeats a few globals
    (``torch._utils._rebuild_tensor_v2``) once per tensor."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], pickle_globals.Classification] = {}

    def __call__(self, module: str, name: str) -> pickle_globals.Classification:
        key = (module, name)
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._cache[key] = pickle_globals.classify(module, name)
        return verdict


def _judge_calls(machine: vm.Machine, out: _Collector, classify: _Policy) -> set[tuple[str, str]]:
    called: set[tuple[str, str]] = set()
    for event in machine.calls:
        target = event.target
        via = f" via {event.via}" if event.via else ""
        if target is None or target.module == "?":
            out.add(UNKNOWN_CALL, f"?{event.described}", event.offset,
                    f"{event.opcode} calls {event.described}{via}, which cannot be resolved statically",
                    callable=event.described, opcode=event.opcode)
            continue
        called.add((target.module, target.name))
        verdict = classify(target.module, target.name)
        if verdict.status is pickle_globals.Status.ALLOW:
            continue
        if verdict.status is pickle_globals.Status.DENY:
            out.add(DANGEROUS_CALLABLE, target.qualname, event.offset,
                    f"{event.opcode} calls {target.qualname}{via} ({verdict.category}: {verdict.reason})",
                    callable=target.qualname, category=verdict.category, reason=verdict.reason, opcode=event.opcode)
        else:
            out.add(UNKNOWN_CALL, target.qualname, event.offset,
                    f"{event.opcode} calls non-allowlisted {target.qualname}{via}",
                    callable=target.qualname, opcode=event.opcode)
    return called


def _judge_imports(machine: vm.Machine, called: set[tuple[str, str]], out: _Collector, classify: _Policy) -> None:
    for ref in machine.imports:
        if ref.module == "?" or not ref.name:
            continue
        verdict = classify(ref.module, ref.name)
        if verdict.status is pickle_globals.Status.ALLOW:
            continue
        if verdict.status is pickle_globals.Status.DENY:
            out.add(DANGEROUS_CALLABLE, ref.qualname, ref.offset,
                    f"imports {ref.qualname} with {ref.how} ({verdict.category}: {verdict.reason})",
                    callable=ref.qualname, category=verdict.category, reason=verdict.reason, opcode=ref.how)
        elif (ref.module, ref.name) not in called:
            out.add(UNKNOWN_IMPORT, ref.qualname, ref.offset,
                    f"imports non-allowlisted {ref.qualname} with {ref.how} (never called directly)",
                    callable=ref.qualname, opcode=ref.how)


def _judge_anomalies(anomalies: list[vm.Anomaly], out: _Collector) -> None:
    for a in anomalies:
        if a.kind in _FATAL:
            out.add(MALFORMED, a.kind, a.offset, f"broken pickle at offset {a.offset}: {a.message}", kind=a.kind)
        elif a.kind in _CONFUSION:
            severity = Severity.LOW if a.kind == "memo-key" else None
            out.add(PARSER_CONFUSION, a.kind, a.offset, a.message, severity=severity, kind=a.kind)
        elif a.kind == "huge-allocation":
            out.add(RESOURCE_ABUSE, a.kind, a.offset, a.message, kind=a.kind)
        elif a.kind in _GADGET:
            out.add(STATE_GADGET, a.kind, a.offset, a.message, kind=a.kind)
        else:
            out.add(AFTER_STOP, a.kind, a.offset, a.message, kind=a.kind,
                    severity=Severity.LOW if a.kind == "trailing-padding" else None)


def _nested_children(machine: vm.Machine, out: _Collector, parent: Artifact | None) -> list[Artifact]:
    children: list[Artifact] = []
    for event in machine.nested:
        loader = event.loader.qualname
        size = len(event.payload) if event.payload is not None else (event.blob.size if event.blob else None)
        what = "a nested pickle" if event.how == "pickle" else "serialized code"
        out.add(NESTED_PAYLOAD, f"{loader}@{event.offset}", event.offset,
                f"{loader} loads {what} from inside the pickle" + (f" ({size} bytes)" if size is not None else ""),
                loader=loader, payload_size=size if size is not None else -1,
                payload_head=(event.payload or (event.blob.prefix if event.blob else b""))[:32])
        if event.how != "pickle":
            continue
        name = f"<nested pickle @offset {event.offset}>"
        if event.payload:
            data = event.payload
            if parent is not None:
                children.append(parent.member(name, lambda d=data: io.BytesIO(d), len(data), hint="pickle"))  # type: ignore[misc]
            else:
                children.append(Artifact.from_bytes(data, out.location.child(name), name, depth=1))
        elif event.blob is not None and parent is not None:
            children.append(parent.window(name, event.blob.offset, event.blob.size, hint="pickle"))
    return children


def _after_stop(reader: vm.Reader, machine: vm.Machine) -> bool:
    """Record what follows a STOP; True when it should be decoded as another pickle."""
    offset = reader.tell()
    head = reader.peek(64)
    if head[0] in vm._NAMES:
        machine.anomalies.append(vm.Anomaly("second-pickle", offset, f"another pickle starts after STOP at offset {offset}"))
        return True
    kind = "trailing-padding" if not head.strip(b"\x00 \t\r\n") else "trailing-bytes"
    machine.anomalies.append(vm.Anomaly(kind, offset, f"{kind.replace('-', ' ')} after STOP at offset {offset}: {head[:16]!r}"))
    return False


def analyze_pickle_stream(
    stream: BinaryIO,
    location: Location,
    ctx: Context,
    *,
    single: bool = False,
    parent: Artifact | None = None,
) -> PickleScan:
    """Statically analyse the pickle(s) starting at the stream's current position.

    ``single=True`` analyses exactly one pickle and leaves a seekable stream positioned right
    after its STOP (torch legacy files are pickles back to back followed by raw storage).
    Otherwise every pickle up to the end of the stream is analysed and content after the
    first STOP is reported.  ``parent`` is the artifact whose ``open()`` yields the same bytes
    as ``stream`` (offsets are relative to it); it is used to build child artifacts for
    nested payloads too large to keep in memory.
    """
    reader = vm.Reader(stream)
    machine = vm.Machine(reader, ctx.limits.max_pickle_ops)
    values: list[object] = []
    end = reader.tell()
    limit_error: LimitExceeded | None = None
    read_error: OSError | MalformedInput | None = None
    complete = False
    try:
        while True:
            values.append(machine.run_one())
            end = reader.tell()
            if single or reader.at_eof() or not _after_stop(reader, machine):
                complete = True
                break
    except vm.Broken as exc:
        machine.anomalies.append(vm.Anomaly(exc.kind, exc.offset, str(exc), fatal=True))
        end = reader.tell()
    except LimitExceeded as exc:
        limit_error = exc
        end = reader.tell()
    except (OSError, MalformedInput) as exc:
        read_error = exc
        end = reader.tell()
    except (ValueError, struct.error, OverflowError) as exc:
        machine.anomalies.append(vm.Anomaly("bad-argument", reader.tell(), f"undecodable argument: {exc}", fatal=True))
        end = reader.tell()
    if single:
        try:
            stream.seek(end)
        except (OSError, ValueError):
            pass
    out = _Collector(location)
    policy = _Policy()
    called = _judge_calls(machine, out, policy)
    _judge_imports(machine, called, out, policy)
    _judge_anomalies(machine.anomalies, out)
    children = _nested_children(machine, out, parent)
    return PickleScan(
        findings=tuple(out.findings),
        children=tuple(children),
        end_offset=end,
        pickles=len(values),
        globals=tuple(dict.fromkeys((g.module, g.name) for g in machine.imports)),
        calls=tuple(dict.fromkeys((c.target.module, c.target.name) for c in machine.calls if c.target)),
        values=tuple(values),
        persistent_ids=tuple(p.pid for p in machine.persistent),
        protocol=machine.protocol,
        complete=complete and limit_error is None and read_error is None,
        limit_error=limit_error,
        read_error=read_error,
        bytes_read=reader.bytes_read,
    )


class PickleAnalyzer:
    """Analyses plain pickle files (any protocol, with or without a PROTO header)."""

    name = "pickle"
    formats = frozenset({Format.PICKLE})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        with artifact.open() as stream:
            scan = analyze_pickle_stream(stream, artifact.location, ctx, parent=artifact)
        yield from scan.findings
        yield from scan.children
        if scan.limit_error is not None:
            raise scan.limit_error
        if scan.read_error is not None:
            raise scan.read_error


def sniff_pickle(head: bytes, opener: Callable[[], BinaryIO] | None = None) -> bool:
    """Whether a header-less head is a pickle (registered with ``formats``); ``opener``
    re-reads the whole artifact when the head is cut inside a long first argument."""
    return vm.sniff_protocol01(head, opener)


register_pickle_sniffer(sniff_pickle)

__all__ = ["PickleAnalyzer", "PickleScan", "analyze_pickle_stream", "sniff_pickle"]
