"""The pickle analyzer: every rule both ways, THREATS.md section 2 tricks, joblib dialect, cost.

Payloads are assembled opcode by opcode (tests/builders/pickles.py) or made with
``pickle.dumps`` of trusted objects; nothing is ever loaded.
"""

from __future__ import annotations

import base64
import collections
import io
import pickle
import zlib
from collections.abc import Iterator

import pytest

from builders.pickles import PickleBuilder, reduce_call
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers import _pickle_vm as vm
from trojanguard.analyzers import pickle as pickle_analyzer
from trojanguard.analyzers.base import Context
from trojanguard.analyzers.pickle import PickleScan, analyze_pickle_stream, sniff_pickle
from trojanguard.artifact import Artifact, Budget, Limits
from trojanguard.model import Finding, Location, Severity
from trojanguard.policy.pickle_globals import Classification, Status

CTX = Context(Limits(), Budget(Limits()))
BENIGN_ALLOW = {
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
    ("_codecs", "encode"), ("codecs", "encode"), ("copyreg", "_reconstructor"), ("builtins", "object"),
    ("builtins", "bytes"),
}


@pytest.fixture
def basic_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Allow the handful of globals plain containers need, whatever the real policy says.

    Why: these tests are about the machine, not the policy (owned elsewhere); everything
    else still goes through the real ``classify``.
    """
    real = pickle_analyzer.pickle_globals.classify

    def classify(module: str, name: str) -> Classification:
        if (module, name) in BENIGN_ALLOW:
            return Classification(Status.ALLOW, "test", "allowed in tests")
        return real(module, name)

    monkeypatch.setattr(pickle_analyzer.pickle_globals, "classify", classify)
    yield


def analyze(data: bytes, **kw: object) -> PickleScan:
    return analyze_pickle_stream(io.BytesIO(data), Location("t.pkl"), CTX, **kw)  # type: ignore[arg-type]


def ids(scan: PickleScan | list[Finding]) -> set[str]:
    findings = scan.findings if isinstance(scan, PickleScan) else scan
    return {f.rule.id for f in findings}


def call_chain(p: PickleBuilder) -> PickleBuilder:
    """``getattr(__import__('os'), 'system')`` pushed on the stack."""
    p.global_ref("builtins", "getattr")
    p.global_ref("builtins", "__import__").args("os").reduce()
    p.value("system").tuple2().reduce()
    return p


# ------------------------------------------------------------------ benign
@pytest.mark.parametrize("protocol", range(6))
def test_benign_pickles_are_clean(protocol: int, basic_policy: None) -> None:
    obj = {
        "ints": [0, 1, -1, 255, 65535, 2**31, -(2**63), 2**100], "floats": [0.5, -1e300, float("inf")],
        "text": ["", "x" * 300, "é✓"], "bytes": [b"", b"\x00" * 10], "nested": ({"a": (1, 2)}, [[], {}]),
        "none": None, "bools": (True, False), "od": collections.OrderedDict(a=1, b=[1, 2]),
        "set": {1, 2}, "fs": frozenset({3}), "ba": bytearray(b"xy"),
    }
    obj["shared"] = [obj["nested"], obj["nested"]]  # memo reuse
    scan = analyze(pickle.dumps(obj, protocol=protocol))
    assert scan.findings == (), [f.message for f in scan.findings]
    assert scan.complete and scan.pickles == 1
    for rule in ("PKL001", "PKL002", "PKL003", "PKL005", "PKL006", "PKL007"):
        assert_silent(scan.findings, rule)


def test_values_are_walkable() -> None:
    data = pickle.dumps({"a": [1, "x"], "b": (2.5, None)}, protocol=4)
    value = analyze(data).values[0]
    assert isinstance(value, vm.PDict)
    assert value.get("a") == [1, "x"] and value.get("b") == (2.5, None)


def test_persistent_ids_and_single_mode() -> None:
    p = PickleBuilder(2).proto()
    p.global_("torch._utils", "_rebuild_tensor_v2")
    p.mark().value("storage").global_("torch", "FloatStorage").value("0").value("cpu").value(4).tuple_().binpersid()
    p.value(0).tuple2().reduce().stop()
    first = p.bytes()
    tail = b"RAW STORAGE BYTES"
    stream = io.BytesIO(first + reduce_call("collections", "OrderedDict", protocol=2) + tail)
    scan = analyze_pickle_stream(stream, Location("t"), CTX, single=True)
    assert scan.pickles == 1 and scan.end_offset == len(first) and stream.tell() == len(first)
    pid = scan.persistent_ids[0]
    assert isinstance(pid, tuple) and pid[0] == "storage" and isinstance(pid[1], vm.Global)
    assert pid[1].qualname == "torch.FloatStorage"
    second = analyze_pickle_stream(stream, Location("t"), CTX, single=True)
    assert second.end_offset == len(first) + len(reduce_call("collections", "OrderedDict", protocol=2))
    assert_silent(scan.findings, "PKL006")


# ------------------------------------------------------------------ PKL001 / PKL002 / PKL003
@pytest.mark.parametrize("protocol", range(6))
def test_os_system_is_critical(protocol: int) -> None:
    scan = analyze(reduce_call("os", "system", "id", protocol=protocol))
    found = assert_fires(scan.findings, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")
    assert dict(found[0].evidence)["category"]
    assert found[0].location.offset is not None


def test_unknown_callable_is_high_and_named() -> None:
    scan = analyze(reduce_call("mypkg.internal", "helper", "x", protocol=4))
    assert_fires(scan.findings, "PKL002", min_severity=Severity.HIGH, contains="mypkg.internal.helper")
    assert_silent(scan.findings, "PKL003")
    assert_silent(scan.findings, "PKL001")


def test_unknown_import_never_called_is_medium() -> None:
    p = PickleBuilder(4).proto().global_ref("mypkg.internal", "Thing").stop()
    scan = analyze(p.bytes())
    found = assert_fires(scan.findings, "PKL003", contains="mypkg.internal.Thing")
    assert found[0].severity == Severity.MEDIUM
    assert_silent(scan.findings, "PKL002")


def test_denylisted_import_without_call_is_still_critical() -> None:
    p = PickleBuilder(2).proto().global_("os", "system").stop()
    assert_fires(analyze(p.bytes()).findings, "PKL001", min_severity=Severity.CRITICAL)


def test_python2_builtin_names_are_mapped() -> None:
    scan = analyze(reduce_call("__builtin__", "eval", "1+1", protocol=2))
    assert_fires(scan.findings, "PKL001", contains="builtins.eval")


# ------------------------------------------------------------------ resolution tricks
def _assert_system(scan: PickleScan) -> None:
    assert_fires(scan.findings, "PKL001", contains="os.system")
    assert ("os", "system") in scan.calls, scan.calls


def test_getattr_import_chain_is_resolved() -> None:
    p = call_chain(PickleBuilder(4).proto()).args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


@pytest.mark.parametrize("importer", [("importlib", "import_module"), ("cloudpickle.cloudpickle", "subimport")])
def test_importer_chain(importer: tuple[str, str]) -> None:
    p = PickleBuilder(2).proto().global_("builtins", "getattr")
    p.global_(*importer).args("subprocess").reduce().value("Popen").tuple2().reduce()
    p.args("id").reduce().stop()
    scan = analyze(p.bytes())
    assert ("subprocess", "Popen") in scan.calls
    assert_fires(scan.findings, "PKL001", contains="subprocess.Popen")


def test_attrgetter_chain() -> None:
    p = PickleBuilder(4).proto()
    p.global_ref("operator", "attrgetter").args("system").reduce()
    p.global_ref("builtins", "__import__").args("os").reduce().tuple1().reduce()
    p.args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_methodcaller_chain() -> None:
    p = PickleBuilder(4).proto()
    p.global_ref("_operator", "methodcaller").args("system", "id").reduce()
    p.global_ref("importlib", "import_module").args("os").reduce().tuple1().reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_functools_partial_wrapper() -> None:
    p = PickleBuilder(4).proto().global_ref("functools", "partial")
    call_chain(p).value("id").tuple2().reduce().empty_tuple().reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_functools_reduce_wrapper() -> None:
    p = PickleBuilder(4).proto().global_ref("functools", "reduce")
    call_chain(p).mark().value("id").list_().tuple2().reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_pkgutil_resolve_name() -> None:
    p = PickleBuilder(4).proto().global_ref("pkgutil", "resolve_name").args("os:system").reduce()
    p.args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_dotted_name_is_passed_as_found() -> None:
    scan = analyze(reduce_call("pathlib", "os.system", "id", protocol=4))
    assert ("pathlib", "os.system") in scan.calls
    found = [f for f in scan.findings if "os.system" in f.message]
    assert found and max(f.severity for f in found) >= Severity.HIGH


def test_stack_global_operands_from_memo_get() -> None:
    p = PickleBuilder(4).proto()
    p.value("os").memoize().pop().value("system").memoize().pop()
    p.value("decoy").value("decoy").pop().pop()
    p.binget(0).binget(1).stack_global_op().args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


@pytest.mark.parametrize("push", ["string", "binstring", "short_binstring", "unicode", "binunicode", "binunicode8"])
def test_stack_global_operands_from_any_string_opcode(push: str) -> None:
    p = PickleBuilder(4).proto()
    getattr(p, push)("os")
    getattr(p, push)("system")
    p.stack_global_op().args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_escaped_module_name_in_string() -> None:
    p = PickleBuilder(4).proto().raw(b"S'o\\x73'\n").raw(b"S'sys\\x74em'\n").stack_global_op()
    p.args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


def test_stack_global_non_string_operands_is_malformed() -> None:
    p = PickleBuilder(4).proto().value(1).value(2).stack_global_op().stop()
    assert_fires(analyze(p.bytes()).findings, "PKL005")


def test_stack_global_computed_operands_is_confusion() -> None:
    p = PickleBuilder(4).proto()
    p.global_ref("codecs", "decode").args("bf", "rot13").reduce().value("system").stack_global_op()
    p.args("id").reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL007", contains="computed")
    assert_fires(scan.findings, "PKL002")


def test_copyreg_extension_registered_in_stream() -> None:
    p = PickleBuilder(2).proto().global_("copyreg", "add_extension").args("os", "system", 0xF0).reduce().pop()
    p.ext1(0xF0).args("id").reduce().stop()
    scan = analyze(p.bytes())
    _assert_system(scan)
    assert_silent(scan.findings, "PKL007")


def test_unknown_extension_code_is_a_finding() -> None:
    p = PickleBuilder(2).proto().ext2(0x1234).args("id").reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL007", contains="4660")
    assert_fires(scan.findings, "PKL002")


@pytest.mark.parametrize("opcode", ["inst", "obj", "newobj", "newobj_ex"])
def test_object_creation_opcodes_discarded_by_pop_still_count(opcode: str) -> None:
    p = PickleBuilder(4).proto()
    if opcode == "inst":
        p.mark().value("id").inst("os", "system")
    elif opcode == "obj":
        p.mark().global_ref("os", "system").value("id").obj()
    elif opcode == "newobj":
        p.global_ref("os", "system").args("id").newobj()
    else:
        p.global_ref("os", "system").args("id").empty_dict().newobj_ex()
    p.pop().none().stop()
    scan = analyze(p.bytes())
    _assert_system(scan)


# ------------------------------------------------------------------ memo desync (PKL007)
def test_memo_missing_key_is_a_finding_not_a_crash() -> None:
    p = PickleBuilder(2).proto().binget(7).args("id").reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL007", contains="memo key 7")
    assert_fires(scan.findings, "PKL002")


def test_memo_overwrite_and_put_after_pop() -> None:
    p = PickleBuilder(2).proto()
    p.global_("collections", "OrderedDict").binput(0).pop()
    p.global_("os", "system").binput(0)  # same slot, new value
    p.pop().binget(0).args("id").reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL007", contains="overwritten")
    _assert_system(scan)


def test_memo_key_not_equal_to_length_is_low() -> None:
    p = PickleBuilder(2).proto().value("x").binput(42).stop()
    found = assert_fires(analyze(p.bytes()).findings, "PKL007")
    assert found[0].severity == Severity.LOW


def test_dup_then_put_resolves_faithfully() -> None:
    p = PickleBuilder(2).proto().global_("os", "system").dup().binput(0).pop().pop()
    p.binget(0).args("id").reduce().stop()
    _assert_system(analyze(p.bytes()))


# ------------------------------------------------------------------ streams: PKL005 / PKL006
def test_second_pickle_after_stop() -> None:
    first = pickle.dumps([1, 2], protocol=2)
    scan = analyze(first + reduce_call("os", "system", "id", protocol=2))
    assert scan.pickles == 2
    assert_fires(scan.findings, "PKL006", contains="another pickle")
    hit = assert_fires(scan.findings, "PKL001")
    assert hit[0].location.offset is not None and hit[0].location.offset >= len(first)


def test_junk_after_stop() -> None:
    scan = analyze(pickle.dumps([1], protocol=4) + b"\x00\xffjunk")
    assert_fires(scan.findings, "PKL006", contains="trailing")
    assert_silent(scan.findings, "PKL005")


def test_single_pickle_has_no_after_stop_finding() -> None:
    assert_silent(analyze(pickle.dumps([1], protocol=4)).findings, "PKL006")


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\xff\xfe", b"X\xff\xff\xff\x7f"])
def test_truncated_or_invalid_after_dangerous_prefix(tail: bytes) -> None:
    p = PickleBuilder(2).proto().global_("os", "system").args("id").reduce().raw(tail)
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL001")
    assert_fires(scan.findings, "PKL005")
    assert not scan.complete


def test_missing_mark_is_malformed() -> None:
    p = PickleBuilder(2).proto().value(1).tuple_().stop()
    assert_fires(analyze(p.bytes()).findings, "PKL005", contains="MARK")


# ------------------------------------------------------------------ frames
def test_frame_divergence_is_flagged() -> None:
    body = PickleBuilder(4).binbytes(b"A" * 8).bytes()
    p = PickleBuilder(4).proto().frame(3).raw(body)  # the frame ends inside BINBYTES
    p.global_ref("os", "system").pop().none().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL007", contains="FRAME")
    assert_fires(scan.findings, "PKL001")


def test_honest_frames_are_silent() -> None:
    data = pickle.dumps({"k": list(range(5000)), "b": b"x" * 200_000}, protocol=5)
    assert_silent(analyze(data).findings, "PKL007")


# ------------------------------------------------------------------ nested payloads (PKL004)
def test_pickle_loads_of_inner_bytes_yields_child() -> None:
    inner = reduce_call("os", "system", "id", protocol=2)
    p = PickleBuilder(3).proto().global_("pickle", "loads").args(inner).reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL004", min_severity=Severity.CRITICAL, contains="pickle.loads")
    assert len(scan.children) == 1
    with scan.children[0].open() as stream:
        assert stream.read() == inner


def test_nested_payload_is_scanned_by_scanner() -> None:
    inner = reduce_call("subprocess", "Popen", "id", protocol=0)
    encoded = base64.b64encode(zlib.compress(inner)).decode()
    p = PickleBuilder(4).proto().global_ref("_pickle", "loads")
    p.global_ref("zlib", "decompress").global_ref("base64", "b64decode").args(encoded).reduce().tuple1().reduce()
    p.tuple1().reduce().stop()
    findings, errors, _ = scan_bytes(p.bytes(), "outer.pkl")
    assert_fires(findings, "PKL004")
    nested = [f for f in findings if f.rule.id == "PKL001" and "subprocess.Popen" in f.message]
    assert nested and any("nested pickle" in m for m in nested[0].location.members), nested


def test_large_nested_payload_is_read_back_on_demand() -> None:
    inner = PickleBuilder(4).proto().binbytes(b"\x00" * 100_000).pop().call("os", "system", "id").stop().bytes()
    p = PickleBuilder(4).proto().global_ref("pickle", "loads")
    p.global_ref("io", "BytesIO").args(inner).reduce().tuple1().reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL004")
    assert len(scan.children) == 1 and scan.children[0].size == len(inner)
    with scan.children[0].open() as stream:
        child = analyze_pickle_stream(stream, Location("inner"), CTX)
    assert_fires(child.findings, "PKL001", contains="os.system")


def test_marshal_code_object_payload() -> None:
    p = PickleBuilder(4).proto().global_ref("types", "FunctionType")
    p.global_ref("marshal", "loads").args(b"\xe3\x00\x00code").reduce().empty_dict().tuple2().reduce().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL004", contains="marshal.loads")
    assert scan.children == ()


def test_plain_bytes_are_not_nested_payloads() -> None:
    data = pickle.dumps({"blob": reduce_call("os", "system", "id")}, protocol=4)
    assert_silent(analyze(data).findings, "PKL004")


# ------------------------------------------------------------------ BUILD gadgets (PKL008)
def test_injected_setstate_gadget() -> None:
    p = PickleBuilder(2).proto().global_("mypkg", "Box").empty_tuple().newobj()
    p.empty_dict().value("__setstate__").global_("os", "system").setitem().build()
    p.value("id").build().stop()
    scan = analyze(p.bytes())
    assert_fires(scan.findings, "PKL008", contains="__setstate__")
    _assert_system(scan)


def test_build_on_a_global_mutates_it() -> None:
    p = PickleBuilder(2).proto().global_("numpy", "size")
    p.empty_dict().value("__builtins__").empty_dict().setitem().build().stop()
    assert_fires(analyze(p.bytes()).findings, "PKL008", contains="numpy.size")


def test_plain_build_state_is_silent(basic_policy: None) -> None:
    p = PickleBuilder(2).proto().global_("copyreg", "_reconstructor")
    p.global_("builtins", "object").global_("builtins", "object").none().tuple3().reduce()
    p.empty_dict().value("a").value(1).setitem().build().stop()
    scan = analyze(p.bytes())
    assert_silent(scan.findings, "PKL008")


# ------------------------------------------------------------------ resource abuse
def test_billion_laughs_is_linear() -> None:
    p = PickleBuilder(2).proto().empty_list().binput(0)
    for _ in range(2000):
        p.mark().binget(0).binget(0).binget(0).list_().binput(0)
    p.dup().binget(0).append().stop()  # cyclic
    scan = analyze(p.bytes())
    assert scan.complete
    assert_silent(scan.findings, "PKL005")


def test_deep_nesting_does_not_recurse() -> None:
    p = PickleBuilder(2).proto()
    p.raw(b"(" * 100_000 + b"]" + b"t" * 100_000).stop()
    scan = analyze(p.bytes())
    assert scan.complete


def test_opcode_limit_raises_through_scanner() -> None:
    data = PickleBuilder(2).proto().raw(b"N0" * 5000).none().stop().bytes()
    scan = analyze_pickle_stream(io.BytesIO(data), Location("t"), Context(Limits(max_pickle_ops=1000), Budget(Limits())))
    assert scan.limit_error is not None
    findings, errors, _ = scan_bytes(data, "x.pkl", Limits(max_pickle_ops=1000))
    assert_fires(findings, "SCN002")


def test_large_bytes_are_skipped_not_read() -> None:
    size = 50 << 20
    p = PickleBuilder(4).proto().binbytes8(b"\x00" * size).pop()
    p.global_ref("os", "system").pop().none().stop()

    class Counting(io.BytesIO):
        total = 0

        def read(self, n: int | None = -1) -> bytes:
            data = super().read(n)
            Counting.total += len(data)
            return data

    stream = Counting(p.bytes())
    scan = analyze_pickle_stream(stream, Location("big.pkl"), CTX)
    assert_fires(scan.findings, "PKL001")
    assert scan.complete
    assert Counting.total < 1 << 20, Counting.total
    assert scan.bytes_read < 1 << 20


def test_unseekable_stream_is_read_through() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self._inner.readinto(buffer)

    p = PickleBuilder(4).proto().binbytes(b"\x01" * 300_000).pop().call("os", "system", "id").stop()
    scan = analyze_pickle_stream(Pipe(p.bytes()), Location("pipe"), CTX)  # type: ignore[arg-type]
    assert scan.complete
    assert_fires(scan.findings, "PKL001")


def test_stream_error_keeps_findings_then_raises() -> None:
    data = PickleBuilder(2).proto().global_("os", "system").bytes() + b"X" * 200_000

    class Failing(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            if self.tell() > 100:
                raise OSError("disk gone")
            return super().read(n)

    artifact = Artifact(Location("f.pkl"), "f.pkl", lambda: Failing(data), len(data))
    results = []
    with pytest.raises(OSError, match="disk gone"):
        for item in pickle_analyzer.PickleAnalyzer().analyze(artifact, CTX):
            results.append(item)
    assert_fires([r for r in results if isinstance(r, Finding)], "PKL001")


# ------------------------------------------------------------------ sniffer and scanner path
@pytest.mark.parametrize("protocol", [0, 1])
def test_sniffer_accepts_headerless_pickles(protocol: int) -> None:
    assert sniff_pickle(pickle.dumps({"a": [1, 2.5, "x"]}, protocol=protocol))
    assert sniff_pickle(reduce_call("os", "system", "id", protocol=protocol))


def test_sniffer_accepts_tricky_headerless_pickle() -> None:
    p = PickleBuilder(0).global_("os", "system").put(7).put(7).pop().get(7).string("id").tuple1().reduce().stop()
    assert sniff_pickle(p.bytes())


@pytest.mark.parametrize("text", [
    b"hello world\n", b'{"a": 1, "b": [1, 2]}\n', b"a,b,c\n1,2,3\n", b"import os\nos.system('id')\n",
    b"def f():\n    return 1\n", b"# title\n\nsome text\n", b"(just a parenthesis)\n", b"cat\ndog\n",
    b"[1, 2, 3]", b"Name,Value\nx,1\n", b"N", b"\x00\x01\x02",
])
def test_sniffer_rejects_text(text: bytes) -> None:
    assert not sniff_pickle(text)


def test_protocol0_without_header_is_found_by_scanner() -> None:
    findings, errors, scanned = scan_bytes(reduce_call("os", "system", "id", protocol=0), "notes.txt")
    assert_fires(findings, "PKL001")
    assert scanned[0].format == "pickle"


def test_benign_file_through_scanner_has_no_errors() -> None:
    findings, errors, _ = scan_bytes(pickle.dumps([1, 2, {"a": None}], protocol=4), "model.pkl")
    assert not errors
    assert_silent(findings, "PKL005")


# ------------------------------------------------------------------ joblib dialect
def _fake_joblib(aligned: bool) -> bytes:
    """A joblib-style stream: NumpyArrayWrapper BUILD followed by raw array bytes."""
    p = PickleBuilder(4).proto().empty_dict().value("w")
    p.global_ref("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    p.mark().value("subclass").global_ref("numpy", "ndarray").value("shape").value(3).value(4).tuple2()
    p.value("order").value("C").value("dtype").global_ref("numpy", "dtype").args("f8", False, True).reduce()
    p.mark().value(3).value("<").none().none().none().value(-1).value(-1).value(0).tuple_().build()
    p.value("allow_mmap").value(True)
    if aligned:
        p.value("numpy_array_alignment_bytes").value(16)
    p.dict_().build()
    if aligned:
        p.raw(b"\x03\xff\xff\xff")
    p.raw(b"\x2e" * 96)  # array bytes that happen to be STOP opcodes
    p.setitem().stop()
    return p.bytes()


@pytest.mark.parametrize("aligned", [False, True])
def test_joblib_inline_array_bytes_are_skipped(aligned: bool) -> None:
    scan = analyze(_fake_joblib(aligned))
    assert scan.complete and scan.pickles == 1
    assert_silent(scan.findings, "PKL005")
    assert_silent(scan.findings, "PKL006")


def test_real_joblib_file_parses_cleanly() -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    joblib.dump({"w": np.arange(600.0).reshape(20, 30), "o": np.array([1, "x", None], dtype=object),
                 "s": np.array(["ab", "c"]), "f": np.asfortranarray(np.ones((3, 4), "f4"))}, buf)
    scan = analyze(buf.getvalue())
    assert scan.complete and scan.end_offset == len(buf.getvalue())
    for rule in ("PKL005", "PKL006", "PKL007"):
        assert_silent(scan.findings, rule)


# -- PKL009: allocation bombs through allowlisted constructors; call-through wrappers -------------


def test_huge_bytearray_allocation_is_flagged() -> None:
    data = PickleBuilder(4).proto().stack_global("builtins", "bytearray").long1(1 << 40).tuple1().reduce().stop().bytes()
    assert_fires(scan_bytes(data, "m.pkl"), "PKL009", min_severity=Severity.HIGH, contains="1099511627776")


def test_small_bytearray_is_silent() -> None:
    data = PickleBuilder(4).proto().stack_global("builtins", "bytearray").binint(4096).tuple1().reduce().stop().bytes()
    assert_silent(scan_bytes(data, "m.pkl"), "PKL009")


@pytest.mark.parametrize(
    ("module", "name", "index"),
    [
        ("torch._tensor", "_rebuild_from_type_v2", 0),
        ("numpy.random._pickle", "__randomstate_ctor", 1),
        ("sklearn.neighbors._kd_tree", "newObj", 0),
    ],
)
def test_allowlisted_wrapper_does_not_launder_the_call_it_makes(module: str, name: str, index: int) -> None:
    p = PickleBuilder(4).proto().stack_global(module, name).mark()
    for i in range(max(2, index + 1)):
        if i == index:
            p.stack_global("mypkg.evil", "run")
        else:
            p.short_binunicode("x")
    data = p.tuple_().reduce().stop().bytes()
    assert_fires(scan_bytes(data, "m.pkl"), "PKL002", contains="mypkg.evil.run")


def test_legacy_torch_module_persistent_id_resolves_to_its_class() -> None:
    """('module', cls, file, source) persistent ids stand for cls: an unknown class is named."""
    p = PickleBuilder(2).proto().mark().binunicode("module").global_("mypkg.evil", "Net").binunicode("net.py")
    p.binunicode("class Net: ...").tuple_().binpersid().empty_tuple().newobj().stop()
    found = assert_fires(scan_bytes(p.bytes(), "m.pt"), "PKL002", contains="mypkg.evil.Net")
    assert all("Persistent" not in f.message for f in found)
