"""The pickle import policy: THREATS.md section 1 denied by category, real checkpoint globals
allowed, aliases and dotted names resolved, everything else unknown.

Why these tests matter: the analyzer treats UNKNOWN calls as high, so a gap in the
allowlist shows up as false positives on real models and a gap in the denylist only as a
less precise message; but a *wrong ALLOW* is a bypass.  The deny cases therefore also
check that the category names the danger.
"""

from __future__ import annotations

import re

import pytest

from trojanguard.policy import pickle_globals as pg
from trojanguard.policy.pickle_globals import ALLOWLIST, DENYLIST, Status, classify, explain, normalise

P, C, F, N = "process-execution", "code-execution", "file-system", "network"
IMP, INTRO, NEST, NAT = "import-machinery", "introspection", "nested-deserialization", "native-code"

#: (module, name, category): every THREATS.md section 1 entry, spelled as a pickle names it.
THREATS_1: tuple[tuple[str, str, str], ...] = (
    ("os", "system", P), ("posix", "system", P), ("nt", "system", P), ("os", "popen", P), ("os", "execv", P),
    ("subprocess", "Popen", P), ("subprocess", "check_output", P), ("pty", "spawn", P), ("shutil", "rmtree", F),
    ("socket", "create_connection", N), ("ctypes", "CDLL", NAT), ("importlib", "import_module", IMP),
    ("runpy", "_run_code", C), ("runpy", "run_path", C), ("code", "InteractiveInterpreter.runsource", C),
    ("code", "InteractiveInterpreter.runcode", C), ("codeop", "compile_command", C), ("pdb", "run", C),
    ("bdb", "Bdb.run", C), ("cProfile", "run", C), ("cProfile", "runctx", C), ("profile", "run", C),
    ("timeit", "timeit", C), ("trace", "Trace.run", C), ("pydoc", "pipepager", C), ("pydoc", "locate", C),
    ("pip", "main", P), ("pip._internal", "main", P), ("ensurepip", "_run_pip", P), ("venv", "create", P),
    ("webbrowser", "open", P), ("idlelib.autocomplete", "AutoComplete.fetch_completions", C),
    ("idlelib.calltip", "Calltip.fetch_tip", C), ("idlelib.debugobj", "ObjectTreeItem.SetText", C),
    ("idlelib.run", "Executive.runcode", C), ("idlelib.pyshell", "ModifiedInterpreter.runcommand", C),
    ("lib2to3.pgen2.grammar", "Grammar.load", C), ("asyncio.unix_events", "_UnixSubprocessTransport._start", P),
    ("asyncio.subprocess", "create_subprocess_shell", P), ("multiprocessing.util", "spawnv_passfds", P),
    ("distutils.spawn", "spawn", P), ("setuptools._distutils.spawn", "spawn", P), ("http.client", "HTTPSConnection", N),
    ("urllib.request", "urlopen", N), ("ssl", "get_server_certificate", N), ("ftplib", "FTP", N),
    ("smtplib", "SMTP", N), ("telnetlib", "Telnet", N), ("uuid", "_get_command_stdout", P),
    ("_osx_support", "_read_output", P), ("_aix_support", "_read_cmd_output", P), ("imaplib", "IMAP4_stream", P),
    ("mailcap", "findmatch", P), ("logging.config", "dictConfig", C), ("logging", "FileHandler", F),
    ("_io", "FileIO", F), ("io", "open", F), ("builtins", "open", F), ("builtins", "eval", C), ("builtins", "exec", C),
    ("builtins", "compile", C), ("builtins", "__import__", IMP), ("builtins", "getattr", INTRO),
    ("builtins", "setattr", INTRO), ("builtins", "delattr", INTRO), ("builtins", "globals", INTRO),
    ("builtins", "locals", INTRO), ("builtins", "vars", INTRO), ("builtins", "input", C), ("builtins", "breakpoint", C),
    ("operator", "attrgetter", C), ("operator", "methodcaller", C), ("_operator", "attrgetter", C),
    ("_operator", "methodcaller", C), ("functools", "partial", C), ("functools", "reduce", C),
    ("_functools", "reduce", C), ("copyreg", "add_extension", IMP), ("copy_reg", "add_extension", IMP),
    ("pickle", "loads", NEST), ("_pickle", "loads", NEST), ("cPickle", "loads", NEST), ("dill", "loads", NEST),
    ("dill._dill", "_create_function", NEST), ("cloudpickle", "loads", NEST),
    ("cloudpickle.cloudpickle", "_make_function", NEST), ("cloudpickle.cloudpickle", "subimport", NEST),
    ("joblib", "load", NEST), ("numpy", "load", NEST), ("torch", "load", NEST), ("torch.serialization", "load", NEST),
    ("pandas", "read_pickle", NEST), ("marshal", "loads", NEST), ("types", "FunctionType", C), ("types", "CodeType", C),
    ("torch.utils.bottleneck.__main__", "run_cprofile", C), ("torch._dynamo.guards", "GuardBuilder.get", C),
    ("torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression", C),
    ("torch.utils.collect_env", "run", P), ("torch.utils.collect_env", "run_and_read_all", P),
    ("torch.utils.data.datapipes.utils.decoder", "basichandlers", NEST),
    ("torch.jit.unsupported_tensor_ops", "execWrapper", C), ("torch.utils._config_module", "ConfigModule.load_config", NEST),
    ("torch._inductor.codecache", "compile_file", C), ("torch.distributed.rpc", "rpc_sync", N),
    ("torch.jit.annotations", "parse_type_line", C), ("numpy.testing", "runstring", C),
    ("numpy.testing._private.utils", "runstring", C), ("doctest", "debug_src", C), ("doctest", "debug_script", C),
    ("site", "addsitedir", IMP), ("atexit", "register", C), ("pkgutil", "resolve_name", IMP),
    ("inspect", "getattr_static", INTRO), ("_posixsubprocess", "fork_exec", P), ("_interpreters", "run_string", C),
    ("_xxsubinterpreters", "run_string", C), ("signal", "signal", "process-control"), ("sys", "modules", INTRO),
    ("mlflow.projects.backend.local", "_run_entry_point", P),
    ("transformers.models.auto.auto_factory", "getattribute_from_module", IMP),
    ("_pyrepl.pager", "pipe_pager", C), ("test.support.script_helper", "assert_python_ok", P),
    ("ctypes", "cdll.LoadLibrary", NAT), ("_ctypes", "dlopen", NAT),
)

#: Globals real torch / numpy / sklearn / xgboost / lightgbm / joblib / pandas pickles use.
REAL_GLOBALS: tuple[tuple[str, str], ...] = (
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"), ("torch._utils", "_rebuild_qtensor"),
    ("torch._utils", "_rebuild_sparse_tensor"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("torch._utils", "_rebuild_meta_tensor_no_storage"), ("torch._utils", "_rebuild_wrapper_subclass"),
    ("torch._tensor", "_rebuild_from_type_v2"), ("torch", "FloatStorage"), ("torch", "BFloat16Storage"),
    ("torch", "HalfStorage"), ("torch", "LongStorage"), ("torch.storage", "UntypedStorage"),
    ("torch.storage", "TypedStorage"), ("torch", "device"), ("torch", "Size"), ("torch", "float32"),
    ("torch", "bfloat16"), ("torch", "int64"), ("torch.nn.parameter", "Parameter"),
    ("torch.nn.modules.linear", "Linear"), ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.conv", "Conv2d"), ("torch.serialization", "_get_layout"), ("torch", "per_tensor_affine"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "deque"), ("collections", "Counter"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "slice"),
    ("builtins", "complex"), ("builtins", "range"), ("builtins", "bytes"), ("__builtin__", "set"),
    ("__builtin__", "object"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("builtins", "object"),
    ("_codecs", "encode"), ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"),
    ("numpy", "dtype"), ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._mt19937", "MT19937"), ("numpy.random", "__RandomState_ctor"),
    ("sklearn.linear_model._logistic", "LogisticRegression"), ("sklearn.linear_model._base", "LinearRegression"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"), ("sklearn.tree._tree", "Tree"),
    ("sklearn.ensemble._forest", "RandomForestClassifier"), ("sklearn.ensemble._gb", "GradientBoostingClassifier"),
    ("sklearn.svm._classes", "SVC"), ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.preprocessing._label", "LabelEncoder"), ("sklearn.pipeline", "Pipeline"),
    ("sklearn.compose._column_transformer", "ColumnTransformer"),
    ("sklearn.feature_extraction.text", "TfidfVectorizer"), ("sklearn.naive_bayes", "MultinomialNB"),
    ("sklearn.neighbors._kd_tree", "KDTree"), ("sklearn.neighbors._kd_tree", "newObj"),
    ("sklearn.neighbors._ball_tree", "BallTree"), ("sklearn.decomposition._pca", "PCA"),
    ("sklearn.cluster._kmeans", "KMeans"), ("sklearn.impute._base", "SimpleImputer"),
    ("sklearn.linear_model.logistic", "LogisticRegression"), ("sklearn.ensemble.forest", "RandomForestClassifier"),
    ("xgboost.core", "Booster"), ("xgboost.sklearn", "XGBClassifier"), ("xgboost.sklearn", "XGBRegressor"),
    ("lightgbm.basic", "Booster"), ("lightgbm.sklearn", "LGBMClassifier"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("pandas.core.frame", "DataFrame"), ("pandas.core.series", "Series"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.internals.managers", "BlockManager"), ("pandas._libs.internals", "_unpickle_block"),
    ("datetime", "datetime"), ("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID"),
    ("pathlib", "PurePosixPath"), ("argparse", "Namespace"),
)


@pytest.mark.parametrize(("module", "name", "category"), THREATS_1, ids=lambda v: str(v))
def test_threats_section_1_is_denied_with_its_category(module: str, name: str, category: str) -> None:
    verdict = classify(module, name)
    assert verdict.status is Status.DENY, explain(module, name)
    assert verdict.category == category, explain(module, name)
    assert verdict.reason and "\n" not in verdict.reason


@pytest.mark.parametrize(("module", "name"), REAL_GLOBALS, ids=lambda v: str(v))
def test_real_checkpoint_globals_are_allowed(module: str, name: str) -> None:
    assert classify(module, name).status is Status.ALLOW, explain(module, name)


@pytest.mark.parametrize(("module", "name", "target"), [
    ("pathlib", "os.system", "os"),
    ("torch", "os.system", "os"),
    ("numpy", "testing._private.utils.runstring", "numpy.testing"),
    ("numpy", "testing.runstring", "numpy.testing"),
    ("builtins", "__import__", "builtins"),
    ("collections", "abc.sys.modules", "sys"),
    ("some_package", "subprocess.Popen", "subprocess"),
    ("torch.serialization", "pickle.loads", "pickle"),
])
def test_dotted_names_resolve_through_module_re_exports(module: str, name: str, target: str) -> None:
    assert classify(module, name).status is Status.DENY, explain(module, name)
    assert target in explain(module, name)


@pytest.mark.parametrize(("module", "name"), [
    ("builtins", "object.__subclasses__"), ("builtins", "tuple.__class__.__base__.__subclasses__"),
    ("torch._utils", "_rebuild_tensor_v2.__globals__"), ("numpy", "__builtins__"),
    ("collections", "OrderedDict.__init__.__globals__"), ("builtins", "str.__dict__"),
])
def test_introspection_chains_are_denied(module: str, name: str) -> None:
    verdict = classify(module, name)
    assert (verdict.status, verdict.category) == (Status.DENY, INTRO), explain(module, name)


@pytest.mark.parametrize(("raw", "expected"), [
    (("__builtin__", "eval"), ("builtins", "eval")), (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")),
    (("posix", "system"), ("os", "system")), (("nt", "system"), ("os", "system")),
    (("_operator", "attrgetter"), ("operator", "attrgetter")), (("_io", "FileIO"), ("io", "FileIO")),
    (("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct")),
    (("_pickle", "loads"), ("pickle", "loads")), (("cPickle", "loads"), ("pickle", "loads")),
    (("numpy.testing._private.utils", "runstring"), ("numpy.testing", "runstring")),
    (("posixpath", "exists"), ("os.path", "exists")), (("commands", "getoutput"), ("subprocess", "getoutput")),
])
def test_aliases_are_normalised(raw: tuple[str, str], expected: tuple[str, str]) -> None:
    assert normalise(*raw) == expected


def test_deny_wins_over_allow() -> None:
    """``uuid.UUID`` is allowed, ``uuid._get_command_stdout`` is not; a dotted name through an
    allowed class into a denied module is denied."""
    assert classify("uuid", "UUID").status is Status.ALLOW
    assert classify("uuid", "_get_command_stdout").status is Status.DENY
    assert classify("torch._utils", "os.system").status is Status.DENY
    assert classify("torch", "load").status is Status.DENY
    assert classify("torch", "float32").status is Status.ALLOW


@pytest.mark.parametrize(("module", "name"), [
    ("mypackage.models", "MyNet"), ("__main__", "Model"), ("sklearn.datasets", "fetch_openml"),
    ("torch", "not_a_real_thing"), ("numpy", "polyfit"), ("", "x"), ("?", "<extension 7>"),
    ("evil", "torch._utils._rebuild_tensor_v2"), ("builtins", "type"), ("sklearn", "utils"),
    ("torch.nn.modules.linear", "lowercase_function"), ("torch.nn.modules", "Linear.forward"),
])
def test_everything_else_stays_unknown(module: str, name: str) -> None:
    verdict = classify(module, name)
    assert verdict.status is Status.UNKNOWN, explain(module, name)


def test_no_wholesale_framework_prefix_is_allowed() -> None:
    """Module-prefix allows are class-name patterns, never a framework's whole namespace."""
    for pattern in pg.ALLOW_PATTERNS:
        assert pattern.prefix not in ("torch", "sklearn", "numpy", "pandas", "xgboost", "lightgbm", "")
    assert not any(key.endswith(":*") for key in ALLOWLIST)
    assert classify("sklearn.datasets", "fetch_california_housing").status is Status.UNKNOWN


def test_tables_have_reasons_and_categories() -> None:
    for table in (DENYLIST, ALLOWLIST):
        for key, entry in table.items():
            assert re.fullmatch(r"[\w.]+:[\w*]+", key), key
            assert entry.category and entry.reason and "\n" not in entry.reason, key
    assert len(DENYLIST) >= 150 and len(ALLOWLIST) >= 300


def test_hostile_names_never_raise() -> None:
    """Huge, empty, deeply dotted or non-identifier names: a verdict, never an exception."""
    for module, name in [("a" * 100_000, "b" * 100_000), ("os", "." * 10_000), ("x", ".".join("y" * 5000)),
                         ("\x00", "\udcff"), ("os.", ""), (".", "."), ("builtins", "")]:
        verdict = classify(module, name)
        assert verdict.status in Status
        assert explain(module, name)
    assert classify("x", ".".join("y" * 5000)).status is Status.DENY


def test_explain_names_the_match() -> None:
    text = explain("posix", "system")
    assert "os.system" in text and "deny" in text and "process-execution" in text and "os:*" in text
    assert "allow" in explain("torch._utils", "_rebuild_tensor_v2")
    assert "unknown" in explain("mypackage", "Thing")


def test_every_allowlist_entry_is_allowed() -> None:
    """No allowlist entry is shadowed by a deny rule (deny wins, so a shadowed entry is dead)."""
    shadowed = [key for key in ALLOWLIST if classify(*key.split(":")).status is not Status.ALLOW]
    assert not shadowed


def test_huge_names_are_denied_without_filling_the_cache() -> None:
    """A hostile stream of huge unique names gets a verdict without being cached."""
    before = pg._lookup.cache_info().currsize
    for i in range(50):
        verdict = classify(f"m{i}" + "x" * 1000, "y")
        assert (verdict.status, verdict.category) == (Status.DENY, "obfuscation")
    assert pg._lookup.cache_info().currsize == before
    assert len(explain("m" * 5000, "n")) < 600
