"""Pickle import policy: which globals a pickle may import, which it must not, and why.

A pickle names every callable it runs as ``module`` + ``name`` (GLOBAL, STACK_GLOBAL, INST,
EXT codes).  The pickle analyzer resolves those references statically and asks
:func:`classify` about each one.  Three answers:

* ``DENY`` - the global reaches outside of rebuilding data: it runs processes or code,
  touches files or the network, imports modules, walks object internals, loads a nested
  pickle, or calls native code.  Every entry names its danger by category.
* ``ALLOW`` - the global is one that real checkpoints use (tensor rebuild functions,
  containers, numpy arrays, scikit-learn / xgboost / lightgbm estimators, pandas frames)
  and it is harmless to construct or call with any arguments.
* ``UNKNOWN`` - anything else.  The analyzer treats an unknown *call* as high severity, so
  this module is an allowlist policy: the denylist exists to *name* the danger, not to be
  the line of defence.

Design rules (DESIGN.md principle 6, "policy is data with reasons"):

* Every entry carries a one-line reason.  Tables are declared as readable tuples and
  flattened once at import into :data:`DENYLIST` / :data:`ALLOWLIST` (keys ``module:name``
  for an exact global, ``module:*`` for a module and all its submodules).
* DENY wins over ALLOW.  Module-prefix *allow* rules exist only where every callable under
  the prefix is harmless (a class-name pattern, never a whole framework: ``sklearn.*``
  includes ``fetch_*`` that hit the network, ``torch.*`` includes ``torch.load``).
* Names are normalised the way CPython's unpickler resolves them: Python 2 names
  (``__builtin__``, ``copy_reg``), C accelerator modules and platform modules
  (``posix``/``nt`` -> ``os``, ``_pickle`` -> ``pickle``), private re-exports
  (``numpy.testing._private.utils`` -> ``numpy.testing``) and dotted names
  (``('pathlib', 'os.system')`` is ``os.system`` because ``pathlib.os`` *is* the os module).
"""

from __future__ import annotations

import _compat_pickle  # the unpickler's own Python 2 name tables (data only)
import enum
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "ALLOWLIST",
    "ALLOW_PATTERNS",
    "DENYLIST",
    "DENY_PATTERNS",
    "MODULE_ALIASES",
    "Classification",
    "Entry",
    "Status",
    "classify",
    "explain",
    "normalise",
]


class Status(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classification:
    status: Status
    category: str  # e.g. "process-execution", "code-execution", "tensor-rebuild"
    reason: str  # one line: why it is allowed / dangerous


@dataclass(frozen=True)
class Entry:
    """One policy row: the category it belongs to and a one-line reason."""

    category: str
    reason: str


# --------------------------------------------------------------------------- categories
PROCESS = "process-execution"
PROCESS_CONTROL = "process-control"
CODE = "code-execution"
FILES = "file-system"
NETWORK = "network"
IMPORT = "import-machinery"
INTROSPECTION = "introspection"
NESTED = "nested-deserialization"
NATIVE = "native-code"
DOS = "denial-of-service"
OBFUSCATION = "obfuscation"

TENSOR = "tensor-rebuild"
CONTAINER = "container"
SCALAR = "scalar"
RECONSTRUCT = "object-reconstruction"
ARRAY = "array-reconstruction"
ESTIMATOR = "estimator"
BOOSTER = "gradient-boosting"
FRAME = "dataframe"
VALUE = "value-type"
TORCH_MODULE = "torch-module"
RANDOM = "random-state"

# --------------------------------------------------------------------------- normalisation
#: Module names an unpickler resolves to another module (longest prefix wins).  C
#: accelerators and platform modules are the same functions under another name.
MODULE_ALIASES: Mapping[str, str] = MappingProxyType({
    "__builtin__": "builtins",
    "exceptions": "builtins",
    "copy_reg": "copyreg",
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "genericpath": "os.path",
    "_operator": "operator",
    "_io": "io",
    "_pyio": "io",
    "_pickle": "pickle",
    "cPickle": "pickle",
    "_compat_pickle": "pickle",
    "_functools": "functools",
    "_codecs": "codecs",
    "_collections": "collections",
    "_socket": "socket",
    "_ssl": "ssl",
    "_signal": "signal",
    "_thread": "threading",
    "thread": "threading",
    "_ctypes": "ctypes",
    "_tkinter": "tkinter",
    "Tkinter": "tkinter",
    "commands": "subprocess",
    "popen2": "subprocess",
    "urllib2": "urllib.request",
    "httplib": "http.client",
    "xmlrpclib": "xmlrpc.client",
    "SocketServer": "socketserver",
    "numpy._core": "numpy.core",
    "numpy.testing._private": "numpy.testing",
    "numpy.testing._private.utils": "numpy.testing",
    "numpy.lib._npyio_impl": "numpy.lib.npyio",
    "sklearn.externals.joblib": "joblib",
    "setuptools._distutils": "distutils",
    "_interpreters": "_xxsubinterpreters",
    "interpreters": "_xxsubinterpreters",
    "concurrent.interpreters": "_xxsubinterpreters",
})

#: Attribute names that walk from any object to code, globals or the import system
#: (``().__class__.__base__.__subclasses__()``, ``f.__globals__['__builtins__']``).
INTROSPECTION_ATTRIBUTES = frozenset({
    "__builtins__", "__globals__", "__subclasses__", "__class__", "__base__", "__bases__", "__mro__",
    "__dict__", "__code__", "__closure__", "__getattribute__", "__getattr__", "__import__", "__loader__",
    "__spec__", "__reduce__", "__reduce_ex__", "__setstate__", "__init_subclass__", "__func__", "__self__",
    "__module__", "__call__", "__init__", "__new__", "__setattr__", "__delattr__", "__defaults__",
    "__kwdefaults__", "func_globals", "func_code", "gi_frame", "gi_code", "f_globals", "f_builtins",
    "f_locals", "f_back", "tb_frame", "__traceback__", "co_code", "im_func", "im_self",
})

#: Longest dotted chain worth resolving; legitimate names have a handful of parts.
MAX_PARTS = 10
#: Longest module + name worth resolving (and caching): real globals are far shorter, and
#: a hostile stream of huge unique names must not fill the verdict cache.
MAX_NAME_CHARS = 512


# --------------------------------------------------------------------------- denylist
#: (key, category, reason).  ``module:*`` denies the module and all its submodules;
#: ``module:name1 name2`` denies exact globals (names separated by spaces).
_DENY_SPEC: tuple[tuple[str, str, str], ...] = (
    # -- process execution
    ("os:*", PROCESS, "os runs commands (system, popen, exec*, spawn*, fork) and changes the process"),
    ("os:remove unlink rmdir removedirs rename renames replace mkdir makedirs chmod chown lchown symlink link "
     "truncate open fdopen write listdir scandir walk putenv unsetenv chdir chroot mkfifo mknod utime",
     FILES, "os file-system call: creates, deletes, renames or lists files"),
    ("os.path:*", FILES, "probes the file system of the loading machine"),
    ("subprocess:*", PROCESS, "runs external processes"),
    ("pty:*", PROCESS, "pty.spawn runs a process on a pseudo-terminal"),
    ("_posixsubprocess:*", PROCESS, "fork_exec primitive behind subprocess"),
    ("_winapi:*", PROCESS, "CreateProcess and handle primitives on Windows"),
    ("platform:*", PROCESS, "platform helpers shell out (_syscmd_file, popen) and read system files"),
    ("webbrowser:*", PROCESS, "launches a browser process with an attacker-chosen URL or command"),
    ("multiprocessing:*", PROCESS, "spawns processes (util.spawnv_passfds, Process, Pool)"),
    ("concurrent.futures:*", CODE, "executors call arbitrary callables in threads or processes"),
    ("asyncio:*", NETWORK, "opens connections, servers and subprocesses"),
    ("asyncio.subprocess:*", PROCESS, "asyncio subprocess helpers run external commands"),
    ("asyncio.unix_events:*", PROCESS, "_UnixSubprocessTransport._start runs external commands"),
    ("asyncio.base_subprocess:*", PROCESS, "subprocess transports run external commands"),
    ("asyncio.windows_utils:*", PROCESS, "Popen wrapper for asyncio on Windows"),
    ("distutils:*", PROCESS, "distutils.spawn.spawn runs commands; build helpers compile code"),
    ("setuptools:*", PROCESS, "setuptools spawns compilers and runs setup code"),
    ("pip:*", PROCESS, "pip.main installs and runs arbitrary packages"),
    ("ensurepip:*", PROCESS, "ensurepip._run_pip runs pip with attacker-chosen arguments"),
    ("venv:*", PROCESS, "venv.create runs pip and shell-expands the prompt"),
    ("_osx_support:*", PROCESS, "_read_output runs a shell command"),
    ("_aix_support:*", PROCESS, "_read_cmd_output runs a shell command"),
    ("uuid:_get_command_stdout _popen _find_mac _find_mac_near_keyword _find_mac_under_heading "
     "_ifconfig_getnode _ip_getnode _arp_getnode _lanscan_getnode _netstat_getnode _ipconfig_getnode "
     "_netbios_getnode _windll_getnode _load_system_functions getnode",
     PROCESS, "uuid MAC-address helpers run external commands"),
    ("imaplib:IMAP4_stream", PROCESS, "IMAP4_stream runs its argument as a shell command"),
    ("mailcap:*", PROCESS, "mailcap.findmatch builds shell commands from mailcap entries"),
    ("test.support:*", PROCESS, "script_helper.assert_python_ok runs a Python subprocess"),
    # -- modules whose *import* does something (find_class imports before any call)
    ("antigravity:*", PROCESS, "importing it opens a web browser (webbrowser.open at import time)"),
    ("unittest.__main__:*", CODE, "importing it runs unittest.main: imports and runs test*.py from the cwd"),
    ("test.__main__:*", PROCESS, "importing it runs CPython's regression test suite"),
    ("test.autotest:*", PROCESS, "importing it runs CPython's regression test suite"),
    ("test.regrtest:*", PROCESS, "CPython's regression test runner (spawns interpreters)"),
    ("test.libregrtest:*", PROCESS, "CPython's regression test runner (spawns interpreters)"),
    ("numpy.distutils:*", PROCESS, "exec_command runs shell commands"),
    ("numpy.f2py:*", PROCESS, "f2py runs compilers and imports the result"),
    ("torch.utils.collect_env:*", PROCESS, "run/run_and_read_all execute a shell command"),
    ("torch.multiprocessing:*", PROCESS, "spawns processes"),
    ("mlflow.projects:*", PROCESS, "runs project entry points as local commands"),
    ("mlflow.utils.process:*", PROCESS, "_exec_cmd runs shell commands"),
    ("signal:*", PROCESS_CONTROL, "installs signal handlers that call callables, or signals processes"),
    # -- code execution
    ("builtins:eval exec compile execfile apply breakpoint input help exit quit",
     CODE, "evaluates code, calls its argument or hands control to an interactive prompt"),
    ("code:*", CODE, "InteractiveInterpreter.runsource/runcode execute Python source"),
    ("codeop:*", CODE, "compiles Python source for execution"),
    ("runpy:*", CODE, "runs modules and code objects (_run_code, run_path)"),
    ("pdb:*", CODE, "pdb.run executes a statement under the debugger"),
    ("bdb:*", CODE, "Bdb.run executes a statement"),
    ("cProfile:*", CODE, "run/runctx execute a statement"),
    ("profile:*", CODE, "run/runctx execute a statement"),
    ("timeit:*", CODE, "timeit/repeat/Timer execute a statement string"),
    ("trace:*", CODE, "Trace.run/runctx execute a statement"),
    ("doctest:*", CODE, "debug_src/debug_script/run_docstring_examples execute source"),
    ("pydoc:*", CODE, "pipepager runs a shell pipe; locate imports any module"),
    ("_pyrepl:*", CODE, "pager.pipe_pager runs a shell pipe; the REPL executes code"),
    ("idlelib:*", CODE, "IDLE internals (run, pyshell, debugobj, calltip) evaluate code"),
    ("lib2to3:*", CODE, "grammar loading unpickles cached tables and runs pgen"),
    ("rlcompleter:*", CODE, "Completer.attr_matches evaluates expressions"),
    ("tkinter:*", CODE, "Tcl interpreter: Tcl().eval runs Tcl, which can exec processes"),
    ("_xxsubinterpreters:*", CODE, "run_string executes source in a sub-interpreter"),
    ("_xxinterpchannels:*", CODE, "sub-interpreter channels"),
    ("_testcapi:*", CODE, "C-API test hooks can corrupt memory and run code"),
    ("_testinternalcapi:*", CODE, "C-API test hooks can corrupt memory and run code"),
    ("threading:*", CODE, "starts threads that call arbitrary callables"),
    ("atexit:*", CODE, "atexit.register runs a callable when the process exits"),
    ("logging.config:*", CODE, "dictConfig instantiates callables named in strings ('()': 'subprocess.call'); listen() evals"),
    ("operator:attrgetter methodcaller call", CODE, "resolves attributes or calls methods named by strings"),
    ("functools:partial reduce partialmethod", CODE, "calls its first argument (hides the real callable)"),
    ("types:FunctionType LambdaType CodeType MethodType", CODE, "builds functions from code objects"),
    ("new:*", CODE, "Python 2 new.function/new.code build functions from code objects"),
    ("numpy.testing:*", CODE, "runstring executes source (re-exported from numpy.testing._private.utils)"),
    ("numpy:frompyfunc vectorize apply_along_axis apply_over_axes piecewise fromfunction",
     CODE, "calls an arbitrary callable it is given"),
    ("pandas:eval", CODE, "evaluates an expression string"),
    ("pandas.core.computation:*", CODE, "evaluates expression strings"),
    ("torch.utils.bottleneck:*", CODE, "__main__.run_cprofile executes code"),
    ("torch._dynamo:*", CODE, "guards (GuardBuilder.get) evaluate source strings"),
    ("torch.fx:*", CODE, "GraphModule reduction execs generated source; ShapeEnv.evaluate_guards_expression evals"),
    # torch.jit is denied per submodule, not wholesale: torch.jit._pickle's list builders are what
    # every TorchScript archive's constants.pkl/data.pkl calls (allowlisted below); anything else
    # under torch.jit that is not listed here stays UNKNOWN, so calling it is still PKL002 (high).
    ("torch.jit:load script trace trace_module compile interface ignore export _script_if_tracing",
     CODE, "TorchScript loaders and compilers execute or compile code"),
    ("torch.jit._serialization:*", NESTED, "torch.jit.load reads a TorchScript archive (code)"),
    ("torch.jit.unsupported_tensor_ops:*", CODE, "execWrapper executes source strings"),
    ("torch.jit.annotations:*", CODE, "parse_type_line evaluates type comments"),
    ("torch.jit.frontend:*", CODE, "compiles Python source into TorchScript"),
    ("torch.jit._script:*", CODE, "scripting compiles Python source"),
    ("torch.jit._trace:*", CODE, "tracing runs the callable it is given"),
    ("torch.jit._recursive:*", CODE, "compiles Python source of modules"),
    ("torch.jit._fuser:*", CODE, "changes fusion backends (compiles kernels)"),
    ("torch.jit.mobile:*", NESTED, "loads mobile TorchScript archives (code)"),
    ("torch.jit._state:*", CODE, "global TorchScript state (enables Python execution paths)"),
    ("torch._inductor:*", CODE, "codecache.compile_file compiles and loads code"),
    ("torch.package:*", CODE, "PackageImporter imports code shipped inside the package"),
    ("torch.utils.benchmark:*", CODE, "Timer executes statement strings"),
    ("torch.testing._internal:*", CODE, "test helpers run code and processes"),
    ("torch:compile", CODE, "compiles and runs generated code"),
    ("tensorflow.python.ops.script_ops:*", CODE, "py_func calls Python callables"),
    ("transformers.dynamic_module_utils:*", CODE, "downloads and imports remote Python code"),
    ("transformers.models.auto.auto_factory:getattribute_from_module", IMPORT,
     "resolves an attribute by name (reaches from_pretrained: indirect model loading from a hub)"),
    # -- file system
    ("builtins:open", FILES, "opens a file for reading or writing"),
    ("io:open open_code FileIO", FILES, "opens a file for reading or writing"),
    ("shutil:*", FILES, "copies, moves and deletes files and trees"),
    ("tempfile:*", FILES, "creates files and directories"),
    ("glob:*", FILES, "lists the file system"),
    ("fileinput:*", FILES, "reads and rewrites files in place"),
    ("filecmp:*", FILES, "reads files"),
    ("linecache:*", FILES, "reads source files"),
    ("readline:*", FILES, "reads and writes history files"),
    ("mmap:*", FILES, "maps files into memory"),
    ("zipfile:*", FILES, "creates or extracts archives"),
    ("tarfile:*", FILES, "creates or extracts archives (path traversal)"),
    ("gzip:open GzipFile", FILES, "opens a file"),
    ("bz2:open BZ2File", FILES, "opens a file"),
    ("lzma:open LZMAFile", FILES, "opens a file"),
    ("codecs:open EncodedFile StreamReaderWriter", FILES, "opens a file"),
    ("sqlite3:*", FILES, "opens or creates database files (and loads extensions)"),
    ("dbm:*", FILES, "opens or creates database files"),
    ("py_compile:*", FILES, "compiles and writes .pyc files"),
    ("compileall:*", FILES, "compiles and writes .pyc files"),
    ("zipapp:*", FILES, "writes archives"),
    ("logging:FileHandler basicConfig", FILES, "creates or appends to a file"),
    ("logging.handlers:*", FILES, "handlers write files and send records to sockets, HTTP and SMTP"),
    ("numpy:save savez savez_compressed savetxt loadtxt genfromtxt fromfile memmap fromregex",
     FILES, "reads or writes files named by the pickle"),
    ("numpy.lib.npyio:*", FILES, "reads and writes files (load may unpickle)"),
    ("numpy.lib.format:open_memmap", FILES, "creates a file"),
    ("numpy.lib._datasource:*", NETWORK, "DataSource.open fetches URLs and writes files"),
    ("numpy:DataSource", NETWORK, "DataSource.open fetches URLs and writes files"),
    ("joblib:dump Memory", FILES, "writes files"),
    ("joblib.memory:*", FILES, "caches results on disk"),
    ("joblib.numpy_pickle:dump", FILES, "writes files"),
    ("torch:save", FILES, "writes a file"),
    ("torch.serialization:save _save _legacy_save _open_file _open_file_like _open_zipfile_writer _open_zipfile_reader",
     FILES, "opens or writes files"),
    ("torch.utils.tensorboard:*", FILES, "writes event files"),
    ("torch.utils.cpp_extension:*", NATIVE, "compiles C++ and loads the shared library"),
    ("tensorflow.io:*", FILES, "gfile reads and writes files"),
    ("tensorflow.python.lib.io:*", FILES, "gfile reads and writes files"),
    # -- network
    ("socket:*", NETWORK, "opens network connections"),
    ("ssl:*", NETWORK, "get_server_certificate connects out (DNS exfiltration)"),
    ("http:*", NETWORK, "HTTP(S) connections and servers"),
    ("urllib:*", NETWORK, "urlopen fetches URLs (SSRF, exfiltration)"),
    ("urllib3:*", NETWORK, "HTTP client"),
    ("requests:*", NETWORK, "HTTP client"),
    ("httpx:*", NETWORK, "HTTP client"),
    ("aiohttp:*", NETWORK, "HTTP client and server"),
    ("ftplib:*", NETWORK, "FTP client"),
    ("smtplib:*", NETWORK, "sends mail"),
    ("smtpd:*", NETWORK, "mail server"),
    ("telnetlib:*", NETWORK, "telnet client"),
    ("imaplib:*", NETWORK, "IMAP client"),
    ("poplib:*", NETWORK, "POP3 client"),
    ("nntplib:*", NETWORK, "NNTP client"),
    ("xmlrpc:*", NETWORK, "XML-RPC client and server"),
    ("socketserver:*", NETWORK, "network servers"),
    ("wsgiref:*", NETWORK, "HTTP server"),
    ("asyncore:*", NETWORK, "socket dispatcher"),
    ("asynchat:*", NETWORK, "socket dispatcher"),
    ("paramiko:*", NETWORK, "SSH client (remote command execution)"),
    ("huggingface_hub:*", NETWORK, "downloads files from a hub"),
    ("torch.hub:*", NETWORK, "downloads and runs hubconf.py from a repository"),
    ("torch.distributed:*", NETWORK, "rpc and process groups open connections and run remote calls"),
    ("torch.utils.model_zoo:*", NETWORK, "downloads and loads checkpoints"),
    ("pandas.io:*", NETWORK, "readers fetch URLs and files (read_pickle unpickles)"),
    # -- import machinery
    ("builtins:__import__ reload", IMPORT, "imports any module by name"),
    ("importlib:*", IMPORT, "imports any module by name"),
    ("imp:*", IMPORT, "imports any module or file"),
    ("pkgutil:*", IMPORT, "resolve_name('os:system') resolves any global (universal resolver)"),
    ("zipimport:*", IMPORT, "imports code from archives"),
    ("site:*", IMPORT, "processes .pth files (which exec) and changes sys.path"),
    ("pkg_resources:*", IMPORT, "EntryPoint.load imports code"),
    ("modulefinder:*", IMPORT, "runs import analysis over files"),
    ("copyreg:add_extension remove_extension clear_extension_cache", IMPORT,
     "registers extension codes so EXT opcodes import arbitrary globals"),
    # -- introspection
    ("builtins:getattr setattr delattr globals locals vars dir", INTROSPECTION,
     "reads or writes attributes or namespaces by name (reaches any global)"),
    ("sys:*", INTROSPECTION, "sys.modules, settrace, setprofile, path: the interpreter's internals"),
    ("gc:*", INTROSPECTION, "get_objects/get_referrers reach every live object"),
    ("inspect:*", INTROSPECTION, "getattr_static and frame access reach any attribute"),
    ("ctypes:*", NATIVE, "CDLL loads native libraries and calls arbitrary addresses"),
    ("cffi:*", NATIVE, "loads native libraries"),
    ("_cffi_backend:*", NATIVE, "loads native libraries"),
    ("dl:*", NATIVE, "loads native libraries"),
    ("numpy.ctypeslib:*", NATIVE, "load_library loads native libraries"),
    ("torch._C:*", NATIVE, "raw libtorch bindings (loaders, JIT, dispatcher)"),
    ("torch.ops:load_library", NATIVE, "loads a native library"),
    ("torch._ops:*", NATIVE, "operator registry and library loading"),
    ("torch.library:*", NATIVE, "registers operator implementations"),
    # -- nested deserialization
    ("pickle:*", NESTED, "loads/Unpickler run a nested pickle"),
    ("pickletools:*", NESTED, "not needed by any model; genops walks attacker data"),
    ("marshal:*", NESTED, "loads code objects"),
    ("shelve:*", NESTED, "opens pickled databases"),
    ("dill:*", NESTED, "loads pickles and rebuilds functions from code objects"),
    ("cloudpickle:*", NESTED, "_make_function/subimport rebuild code and import modules"),
    ("jsonpickle:*", NESTED, "decodes arbitrary objects"),
    ("pstats:*", NESTED, "Stats(file) unmarshals a file"),
    ("yaml:load load_all unsafe_load unsafe_load_all full_load full_load_all", NESTED,
     "constructs arbitrary Python objects from YAML"),
    ("yaml.constructor:*", NESTED, "constructs arbitrary Python objects from YAML"),
    ("joblib:load", NESTED, "unpickles a file"),
    ("joblib.numpy_pickle:load _unpickle NumpyUnpickler", NESTED, "unpickles a file or stream"),
    ("joblib:Parallel delayed", CODE, "calls arbitrary callables"),
    ("joblib.parallel:*", CODE, "calls arbitrary callables"),
    ("numpy:load", NESTED, "numpy.load(allow_pickle=True) unpickles"),
    ("numpy.lib.format:read_array", NESTED, "reads arrays and may unpickle object arrays"),
    ("pandas:read_pickle", NESTED, "unpickles a file or URL"),
    ("torch:load", NESTED, "loads a pickle (CVE-2025-32434: even with weights_only)"),
    ("torch.serialization:load _load _legacy_load add_safe_globals safe_globals register_package",
     NESTED, "loads pickles or changes what torch.load accepts"),
    ("torch.storage:_load_from_bytes", NESTED, "torch.load of bytes held in the pickle"),
    ("torch.utils.data.datapipes:*", NESTED, "decoder handlers unpickle data"),
    ("torch.utils._config_module:*", NESTED, "ConfigModule.load_config unpickles its argument"),
    ("torch.export:*", NESTED, "loads serialized programs"),
    ("torch._export:*", NESTED, "loads serialized programs"),
    ("keras.models:load_model", NESTED, "loads a model that may run Lambda code"),
    ("keras.saving:*", NESTED, "loads models that may run Lambda code"),
    ("tensorflow.keras.models:load_model", NESTED, "loads a model that may run Lambda code"),
    ("mlflow.pyfunc:load_model", NESTED, "loads a cloudpickled model"),
    # -- denial of service
    ("time:sleep", DOS, "stalls the loading process"),
    ("resource:*", DOS, "setrlimit changes the process limits"),
    ("faulthandler:*", DOS, "dump_traceback_later and enable(file) hang or write files"),
)

#: (module prefix, name regex, category, reason): names denied by shape.
_DENY_PATTERN_SPEC: tuple[tuple[str, str, str, str], ...] = (
    ("pandas", r"read_\w+", NETWORK, "pandas readers fetch URLs and read files"),
    ("", r"(?:\w+\.)*from_pretrained", NETWORK, "from_pretrained downloads and may run remote code"),
    ("", r"(?:\w+\.)*(?:load_model|load_state)", NESTED, "model loaders deserialize nested files"),
)


# --------------------------------------------------------------------------- allowlist
_DTYPES = ("float32 float float64 double float16 half bfloat16 complex32 chalf complex64 cfloat complex128 cdouble "
           "uint8 int8 int16 short int32 int int64 long bool uint16 uint32 uint64 qint8 quint8 qint32 quint4x2 "
           "quint2x4 float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz bits8 bits16")
_STORAGES = ("FloatStorage DoubleStorage HalfStorage BFloat16Storage LongStorage IntStorage ShortStorage "
             "CharStorage ByteStorage BoolStorage ComplexFloatStorage ComplexDoubleStorage QUInt8Storage "
             "QInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage UntypedStorage TypedStorage")
_REBUILD = ("_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter _rebuild_parameter_with_state "
            "_rebuild_qtensor _rebuild_sparse_tensor _rebuild_sparse_csr_tensor _rebuild_nested_tensor "
            "_rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor _rebuild_xla_tensor "
            "_rebuild_mtia_tensor _rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass")

_TORCH_ALLOW: tuple[tuple[str, str, str], ...] = (
    (f"torch._utils:{_REBUILD}", TENSOR, "rebuilds a tensor or parameter from storage and metadata"),
    ("torch.jit._pickle:build_intlist build_tensorlist build_doublelist build_boollist build_tensor_from_id "
     "restore_type_tag", TENSOR, "TorchScript's constant-list builders: turn a list argument into a typed list"),
    ("torch._tensor:_rebuild_from_type _rebuild_from_type_v2 Tensor", TENSOR,
     "rebuilds a tensor subclass (its func argument is judged as a global of its own)"),
    (f"torch:{_STORAGES} Tensor", TENSOR, "typed/untyped storage classes referenced by persistent ids"),
    (f"torch.cuda:{_STORAGES}", TENSOR, "legacy CUDA storage classes referenced by persistent ids"),
    ("torch.storage:UntypedStorage TypedStorage _LegacyStorage", TENSOR, "storage classes"),
    (f"torch:{_DTYPES}", SCALAR, "dtype constants"),
    ("torch:device Size dtype layout memory_format strided sparse_coo sparse_csr sparse_csc sparse_bsr sparse_bsc "
     "_mkldnn contiguous_format channels_last channels_last_3d preserve_format per_tensor_affine "
     "per_channel_affine per_tensor_symmetric per_channel_symmetric per_channel_affine_float_qparams",
     SCALAR, "device, shape, layout and quantisation scheme values"),
    ("torch.serialization:_get_layout", SCALAR, "maps a layout name to the torch.layout constant"),
    ("torch.nn.parameter:Parameter Buffer UninitializedParameter UninitializedBuffer", TENSOR,
     "wraps a tensor as a parameter or buffer"),
    ("torch.nn.utils.weight_norm:WeightNorm", TORCH_MODULE, "weight-norm hook state of full-model pickles"),
    ("torch.nn.utils.spectral_norm:SpectralNorm SpectralNormStateDictHook SpectralNormLoadStateDictPreHook",
     TORCH_MODULE, "spectral-norm hook state of full-model pickles"),
    ("torch.amp.grad_scaler:GradScaler", TORCH_MODULE, "mixed-precision scaler state"),
    ("torch.optim.sgd:SGD", TORCH_MODULE, "optimizer class of a full pickle (state set by BUILD)"),
    ("torch.optim.adam:Adam", TORCH_MODULE, "optimizer class of a full pickle (state set by BUILD)"),
    ("torch.optim.adamw:AdamW", TORCH_MODULE, "optimizer class of a full pickle (state set by BUILD)"),
    ("torch.optim.rmsprop:RMSprop", TORCH_MODULE, "optimizer class of a full pickle (state set by BUILD)"),
    ("torch.optim.adagrad:Adagrad", TORCH_MODULE, "optimizer class of a full pickle (state set by BUILD)"),
    ("torch.optim.lr_scheduler:StepLR MultiStepLR ExponentialLR CosineAnnealingLR CosineAnnealingWarmRestarts "
     "LinearLR ConstantLR OneCycleLR PolynomialLR ReduceLROnPlateau", TORCH_MODULE,
     "scheduler without user callables (LambdaLR, MultiplicativeLR and CyclicLR call theirs, so they are not here)"),
    ("torch.cuda.amp.grad_scaler:GradScaler", TORCH_MODULE, "mixed-precision scaler state"),
)

_PY_ALLOW: tuple[tuple[str, str, str], ...] = (
    ("builtins:set frozenset bytearray slice complex range bytes str int float bool dict list tuple object "
     "NotImplemented Ellipsis", CONTAINER, "builtin container or scalar type"),
    ("collections:OrderedDict defaultdict deque Counter", CONTAINER,
     "container type (a defaultdict factory is judged as a global of its own)"),
    ("copyreg:_reconstructor __newobj__ __newobj_ex__", RECONSTRUCT,
     "protocol 0-2 object reconstruction; the class it builds is judged as a global of its own"),
    ("codecs:encode decode", SCALAR, "numpy and Python 2 pickles encode byte strings through latin-1"),
    ("datetime:datetime date time timedelta timezone", VALUE, "date/time value"),
    ("decimal:Decimal", VALUE, "decimal number"),
    ("fractions:Fraction", VALUE, "fraction"),
    ("uuid:UUID", VALUE, "UUID value (the module's getnode helpers are denied)"),
    ("pathlib:PurePath PurePosixPath PureWindowsPath", VALUE, "pure path value; never touches the file system"),
    ("argparse:Namespace", VALUE, "training arguments saved in checkpoints"),
    ("re:_compile", VALUE, "a compiled regular expression (tokenizer patterns)"),
)

_NUMPY_ALLOW: tuple[tuple[str, str, str], ...] = (
    ("numpy.core.multiarray:_reconstruct scalar", ARRAY, "rebuilds an ndarray or numpy scalar from bytes"),
    ("numpy.core.numeric:_frombuffer", ARRAY, "rebuilds an ndarray from a pickle-5 buffer"),
    ("numpy:ndarray dtype matrix bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 "
     "longdouble complex64 complex128 str_ bytes_ object_ void datetime64 timedelta64", ARRAY,
     "array, dtype or scalar type"),
    ("numpy.matrixlib.defmatrix:matrix", ARRAY, "matrix subclass of ndarray"),
    ("numpy.ma.core:_mareconstruct MaskedArray", ARRAY, "rebuilds a masked array"),
    ("numpy.ma:MaskedArray", ARRAY, "masked array (public re-export that pickles name)"),
    ("numpy.random:__RandomState_ctor", RANDOM, "legacy RandomState constructor"),
    ("numpy.random._pickle:__bit_generator_ctor __generator_ctor __randomstate_ctor", RANDOM,
     "rebuilds a random generator by bit-generator name"),
    ("numpy.random._mt19937:MT19937", RANDOM, "bit generator state"),
    ("numpy.random.bit_generator:SeedSequence __pyx_unpickle_SeedSequence", RANDOM,
     "seed sequence of a generator (Cython unpickle helper: class + checksum + state)"),
    ("numpy.random._pcg64:PCG64 PCG64DXSM", RANDOM, "bit generator state"),
    ("numpy.random._philox:Philox", RANDOM, "bit generator state"),
    ("numpy.random._sfc64:SFC64", RANDOM, "bit generator state"),
    ("numpy.random._generator:Generator", RANDOM, "random generator"),
    ("numpy.random.mtrand:RandomState", RANDOM, "legacy random state"),
    ("joblib.numpy_pickle:NumpyArrayWrapper", ARRAY, "joblib's inline array header (the bytes follow in the stream)"),
)

_BOOSTER_ALLOW: tuple[tuple[str, str, str], ...] = (
    ("xgboost.core:Booster", BOOSTER, "xgboost booster; state is a serialized model buffer"),
    ("xgboost.sklearn:XGBClassifier XGBRegressor XGBRanker XGBRFClassifier XGBRFRegressor XGBModel", BOOSTER,
     "xgboost scikit-learn wrapper"),
    ("lightgbm.basic:Booster", BOOSTER, "lightgbm booster; state is a model string"),
    ("lightgbm.sklearn:LGBMClassifier LGBMRegressor LGBMRanker LGBMModel", BOOSTER, "lightgbm scikit-learn wrapper"),
)

_PANDAS_ALLOW: tuple[tuple[str, str, str], ...] = (
    ("pandas.core.frame:DataFrame", FRAME, "data frame"),
    ("pandas.core.series:Series", FRAME, "series"),
    ("pandas.core.internals.managers:BlockManager SingleBlockManager", FRAME, "block manager state"),
    ("pandas.core.internals.blocks:new_block Block ObjectBlock NumpyBlock ExtensionBlock DatetimeTZBlock", FRAME,
     "data block"),
    ("pandas._libs.internals:_unpickle_block BlockPlacement", FRAME, "data block"),
    ("pandas.core.indexes.base:_new_Index Index", FRAME, "index reconstruction"),
    ("pandas.core.indexes.range:RangeIndex", FRAME, "index"),
    ("pandas.core.indexes.multi:MultiIndex", FRAME, "index"),
    ("pandas.core.indexes.datetimes:_new_DatetimeIndex DatetimeIndex", FRAME, "index"),
    ("pandas.core.indexes.period:_new_PeriodIndex PeriodIndex", FRAME, "index"),
    ("pandas.core.indexes.numeric:Int64Index Float64Index UInt64Index", FRAME, "legacy index"),
    ("pandas.core.arrays.categorical:Categorical", FRAME, "categorical array"),
    ("pandas.core.arrays.datetimes:DatetimeArray", FRAME, "datetime array"),
    ("pandas.core.arrays.string_:StringArray StringDtype", FRAME, "string array"),
    ("pandas.core.arrays.integer:Int8Dtype Int16Dtype Int32Dtype Int64Dtype IntegerArray", FRAME, "integer dtype"),
    ("pandas.core.dtypes.dtypes:CategoricalDtype DatetimeTZDtype PeriodDtype", FRAME, "extension dtype"),
    ("pandas._libs.tslibs.timestamps:_unpickle_timestamp Timestamp", FRAME, "timestamp"),
    ("pandas._libs.tslibs.timedeltas:_timedelta_unpickle Timedelta", FRAME, "timedelta"),
    ("pandas._libs.tslibs.nattype:__nat_unpickle", FRAME, "NaT"),
)

#: scikit-learn, by the private module that pickles name (``__module__``).  Each module
#: also accepts its pre-0.22 public spelling (``sklearn.linear_model.logistic``) and the
#: package it is re-exported from.
_SKLEARN: tuple[tuple[str, str], ...] = (
    ("linear_model._base", "LinearRegression"),
    ("linear_model._logistic", "LogisticRegression LogisticRegressionCV"),
    ("linear_model._ridge", "Ridge RidgeClassifier RidgeCV RidgeClassifierCV _RidgeGCV"),
    ("linear_model._coordinate_descent", "Lasso ElasticNet LassoCV ElasticNetCV MultiTaskLasso MultiTaskElasticNet"),
    ("linear_model._stochastic_gradient", "SGDClassifier SGDRegressor SGDOneClassSVM"),
    ("linear_model._sgd_fast", "Hinge Log ModifiedHuber SquaredLoss Huber EpsilonInsensitive "
                               "SquaredEpsilonInsensitive SquaredHinge"),
    ("linear_model._perceptron", "Perceptron"),
    ("linear_model._passive_aggressive", "PassiveAggressiveClassifier PassiveAggressiveRegressor"),
    ("linear_model._bayes", "BayesianRidge ARDRegression"),
    ("linear_model._huber", "HuberRegressor"),
    ("linear_model._least_angle", "Lars LassoLars LassoLarsCV LassoLarsIC"),
    ("linear_model._omp", "OrthogonalMatchingPursuit"),
    ("linear_model._ransac", "RANSACRegressor"),
    ("linear_model._theil_sen", "TheilSenRegressor"),
    ("linear_model._quantile", "QuantileRegressor"),
    ("linear_model._glm.glm", "PoissonRegressor GammaRegressor TweedieRegressor _GeneralizedLinearRegressor"),
    ("_loss.loss", "HalfSquaredError HalfBinomialLoss HalfMultinomialLoss HalfPoissonLoss HalfGammaLoss "
                   "HalfTweedieLoss HalfTweedieLossIdentity AbsoluteError PinballLoss HuberLoss ExponentialLoss"),
    ("_loss._loss", "CyHalfSquaredError CyHalfBinomialLoss CyHalfMultinomialLoss CyHalfPoissonLoss CyHalfGammaLoss "
                    "CyHalfTweedieLoss CyHalfTweedieLossIdentity CyAbsoluteError CyPinballLoss CyHuberLoss "
                    "CyExponentialLoss"),
    ("_loss.link", "IdentityLink LogLink LogitLink HalfLogitLink MultinomialLogit Interval"),
    ("tree._classes", "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor"),
    ("tree._tree", "Tree"),
    ("ensemble._forest", "RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor "
                         "RandomTreesEmbedding"),
    ("ensemble._gb", "GradientBoostingClassifier GradientBoostingRegressor"),
    ("ensemble._gb_losses", "BinomialDeviance MultinomialDeviance LeastSquaresError LeastAbsoluteError "
                            "HuberLossFunction QuantileLossFunction ExponentialLoss"),
    ("ensemble._hist_gradient_boosting.gradient_boosting", "HistGradientBoostingClassifier "
                                                           "HistGradientBoostingRegressor"),
    ("ensemble._hist_gradient_boosting.predictor", "TreePredictor"),
    ("ensemble._hist_gradient_boosting.binning", "_BinMapper"),
    ("ensemble._weight_boosting", "AdaBoostClassifier AdaBoostRegressor"),
    ("ensemble._bagging", "BaggingClassifier BaggingRegressor"),
    ("ensemble._iforest", "IsolationForest"),
    ("ensemble._voting", "VotingClassifier VotingRegressor"),
    ("ensemble._stacking", "StackingClassifier StackingRegressor"),
    ("svm._classes", "SVC SVR NuSVC NuSVR LinearSVC LinearSVR OneClassSVM"),
    ("preprocessing._data", "StandardScaler MinMaxScaler MaxAbsScaler RobustScaler Normalizer Binarizer "
                            "QuantileTransformer PowerTransformer KernelCenterer"),
    ("preprocessing._encoders", "OneHotEncoder OrdinalEncoder"),
    ("preprocessing._label", "LabelEncoder LabelBinarizer MultiLabelBinarizer"),
    ("preprocessing._polynomial", "PolynomialFeatures SplineTransformer"),
    ("preprocessing._discretization", "KBinsDiscretizer"),
    ("preprocessing._function_transformer", "FunctionTransformer"),
    ("preprocessing._target_encoder", "TargetEncoder"),
    ("pipeline", "Pipeline FeatureUnion"),
    ("compose._column_transformer", "ColumnTransformer make_column_selector"),
    ("compose._target", "TransformedTargetRegressor"),
    ("feature_extraction.text", "CountVectorizer TfidfVectorizer TfidfTransformer HashingVectorizer"),
    ("feature_extraction._dict_vectorizer", "DictVectorizer"),
    ("feature_extraction._hash", "FeatureHasher"),
    ("naive_bayes", "GaussianNB MultinomialNB BernoulliNB ComplementNB CategoricalNB"),
    ("neighbors._classification", "KNeighborsClassifier RadiusNeighborsClassifier"),
    ("neighbors._regression", "KNeighborsRegressor RadiusNeighborsRegressor"),
    ("neighbors._unsupervised", "NearestNeighbors"),
    ("neighbors._nearest_centroid", "NearestCentroid"),
    ("neighbors._lof", "LocalOutlierFactor"),
    ("neighbors._kde", "KernelDensity"),
    ("neighbors._kd_tree", "KDTree KDTree32 KDTree64 newObj"),
    ("neighbors._ball_tree", "BallTree BallTree32 BallTree64 newObj"),
    ("metrics._dist_metrics", "DistanceMetric DistanceMetric32 DistanceMetric64 EuclideanDistance "
                              "EuclideanDistance64 EuclideanDistance32 ManhattanDistance ManhattanDistance64 "
                              "ChebyshevDistance MinkowskiDistance MinkowskiDistance64 SEuclideanDistance "
                              "HaversineDistance newObj"),
    ("decomposition._pca", "PCA"),
    ("decomposition._incremental_pca", "IncrementalPCA"),
    ("decomposition._truncated_svd", "TruncatedSVD"),
    ("decomposition._nmf", "NMF MiniBatchNMF"),
    ("decomposition._fastica", "FastICA"),
    ("decomposition._kernel_pca", "KernelPCA"),
    ("decomposition._lda", "LatentDirichletAllocation"),
    ("decomposition._factor_analysis", "FactorAnalysis"),
    ("decomposition._sparse_pca", "SparsePCA MiniBatchSparsePCA"),
    ("cluster._kmeans", "KMeans MiniBatchKMeans"),
    ("cluster._dbscan", "DBSCAN"),
    ("cluster._agglomerative", "AgglomerativeClustering FeatureAgglomeration"),
    ("cluster._birch", "Birch _CFNode _CFSubcluster"),
    ("cluster._mean_shift", "MeanShift"),
    ("cluster._spectral", "SpectralClustering"),
    ("impute._base", "SimpleImputer MissingIndicator"),
    ("impute._knn", "KNNImputer"),
    ("impute._iterative", "IterativeImputer"),
    ("feature_selection._univariate_selection", "SelectKBest SelectPercentile f_classif f_regression chi2"),
    ("feature_selection._mutual_info", "mutual_info_classif mutual_info_regression"),
    ("feature_selection._variance_threshold", "VarianceThreshold"),
    ("feature_selection._from_model", "SelectFromModel"),
    ("feature_selection._rfe", "RFE RFECV"),
    ("model_selection._search", "GridSearchCV RandomizedSearchCV"),
    ("model_selection._split", "KFold StratifiedKFold GroupKFold ShuffleSplit StratifiedShuffleSplit"),
    ("calibration", "CalibratedClassifierCV _CalibratedClassifier _SigmoidCalibration"),
    ("isotonic", "IsotonicRegression"),
    ("multiclass", "OneVsRestClassifier OneVsOneClassifier"),
    ("multioutput", "MultiOutputClassifier MultiOutputRegressor ClassifierChain RegressorChain"),
    ("dummy", "DummyClassifier DummyRegressor"),
    ("discriminant_analysis", "LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis"),
    ("gaussian_process._gpc", "GaussianProcessClassifier"),
    ("gaussian_process._gpr", "GaussianProcessRegressor"),
    ("gaussian_process.kernels", "RBF ConstantKernel WhiteKernel Matern DotProduct RationalQuadratic "
                                 "ExpSineSquared Sum Product Exponentiation Hyperparameter"),
    ("neural_network._multilayer_perceptron", "MLPClassifier MLPRegressor"),
    ("neural_network._stochastic_optimizers", "AdamOptimizer SGDOptimizer"),
    ("kernel_approximation", "RBFSampler Nystroem"),
    ("utils._bunch", "Bunch"),
)

#: (module prefix, name regex, category, reason): every name of that shape under the prefix
#: is a harmless class (no functions: ``[A-Z]`` first, no dots).
_ALLOW_PATTERN_SPEC: tuple[tuple[str, str, str, str], ...] = (
    ("torch._utils", r"_rebuild_\w+", TENSOR, "tensor rebuild function"),
    ("torch.nn.modules", r"[A-Z]\w*", TORCH_MODULE, "nn.Module class of a full-model pickle (state set by BUILD)"),
    ("torch.ao.nn", r"[A-Z]\w*", TORCH_MODULE, "quantized nn.Module class of a full-model pickle"),
    ("torch.nn.quantized", r"[A-Z]\w*", TORCH_MODULE, "quantized nn.Module class of a full-model pickle"),
    ("numpy.dtypes", r"[A-Z]\w*DType", ARRAY, "numpy 2 dtype class"),
)


# --------------------------------------------------------------------------- tables
def _expand(spec: tuple[tuple[str, str, str], ...]) -> Iterator[tuple[str, Entry]]:
    """``("mod:a b", cat, why)`` -> ``("mod:a", Entry)``, ``("mod:b", Entry)``."""
    for key, category, reason in spec:
        module, _, names = key.partition(":")
        for name in names.split():
            yield f"{module}:{name}", Entry(category, reason)


def _sklearn_spec() -> Iterator[tuple[str, str, str]]:
    """Private module, pre-0.22 public spelling and the re-exporting package, per estimator."""
    for module, names in _SKLEARN:
        full = f"sklearn.{module}"
        spellings = {full}
        parent, _, last = full.rpartition(".")
        if last.startswith("_"):
            spellings.add(f"{parent}.{last.lstrip('_')}")
            spellings.add(parent)
        for spelling in sorted(spellings):
            yield f"{spelling}:{names}", ESTIMATOR, "scikit-learn estimator or helper; state set by __setstate__"


def _build_deny() -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    for key, category, reason in _DENY_SPEC:
        module, _, names = key.partition(":")
        if names == "*":
            table[f"{module}:*"] = Entry(category, reason)
    table.update(_expand(tuple(s for s in _DENY_SPEC if not s[0].endswith(":*"))))
    return table


def _build_allow() -> dict[str, Entry]:
    spec = _TORCH_ALLOW + _PY_ALLOW + _NUMPY_ALLOW + _BOOSTER_ALLOW + _PANDAS_ALLOW + tuple(_sklearn_spec())
    return dict(_expand(spec))


@dataclass(frozen=True)
class _Pattern:
    prefix: str
    name: re.Pattern[str]
    entry: Entry

    def matches(self, module: str, name: str) -> bool:
        under = not self.prefix or module == self.prefix or module.startswith(self.prefix + ".")
        return under and self.name.fullmatch(name) is not None


#: ``module:name`` / ``module:*`` -> Entry, for docs and benchmarks.
DENYLIST: Mapping[str, Entry] = MappingProxyType(_build_deny())
#: ``module:name`` -> Entry, for docs and benchmarks.
ALLOWLIST: Mapping[str, Entry] = MappingProxyType(_build_allow())
DENY_PATTERNS: tuple[_Pattern, ...] = tuple(
    _Pattern(p, re.compile(rx), Entry(c, r)) for p, rx, c, r in _DENY_PATTERN_SPEC
)
ALLOW_PATTERNS: tuple[_Pattern, ...] = tuple(
    _Pattern(p, re.compile(rx), Entry(c, r)) for p, rx, c, r in _ALLOW_PATTERN_SPEC
)
_LONGEST_ALIAS = max(alias.count(".") + 1 for alias in MODULE_ALIASES)


# --------------------------------------------------------------------------- lookup
def normalise_module(module: str) -> str:
    """Apply :data:`MODULE_ALIASES` (longest matching dotted prefix first)."""
    if "." not in module:
        return MODULE_ALIASES.get(module, module)
    parts = module.split(".")
    for i in range(min(len(parts), _LONGEST_ALIAS), 0, -1):
        target = MODULE_ALIASES.get(".".join(parts[:i]))
        if target is not None:
            return ".".join([target, *parts[i:]])
    return module


def normalise(module: str, name: str) -> tuple[str, str]:
    """The module and name an unpickler would resolve, with module aliases applied.

    Python 2 names go through CPython's own ``_compat_pickle`` tables first (as
    ``Unpickler.find_class`` does), then through :data:`MODULE_ALIASES`.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return normalise_module(module), name


def _candidates(module: str, name: str) -> Iterator[tuple[str, str]]:
    """Every (module, name) a dotted reference may really be.

    ``('pathlib', 'os.system')``: CPython walks ``getattr(pathlib, 'os')`` then
    ``.system``; ``pathlib.os`` is a module re-export, so the target is ``os.system``.
    Statically we do not know which attributes are modules, so every split is a
    candidate: inside the module (``pkg.sub:fn`` for ``pkg:sub.fn``) and absolute from any
    attribute on (``sys:modules`` for ``collections:abc.sys.modules``).
    """
    parts = name.split(".")
    yield module, name
    for i in range(1, len(parts) + 1):
        tail = ".".join(parts[i:])
        yield normalise_module(".".join([module, *parts[:i]])), tail
        for j in range(i):
            yield normalise_module(".".join(parts[j:i])), tail


def _deny_entry(module: str, name: str) -> tuple[str, Entry] | None:
    """The denylist entry matching one candidate (exact, then longest module prefix)."""
    if name:
        exact = DENYLIST.get(f"{module}:{name}")
        if exact is not None:
            return f"{module}:{name}", exact
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i]) + ":*"
        hit = DENYLIST.get(key)
        if hit is not None:
            return key, hit
    for pattern in DENY_PATTERNS:
        if name and pattern.matches(module, name):
            return f"{pattern.prefix or '*'}:{pattern.name.pattern}", pattern.entry
    return None


def _introspection(name: str) -> str | None:
    """The first attribute of a dotted name that walks into object internals."""
    parts = name.split(".")
    for part in parts:
        if part in INTROSPECTION_ATTRIBUTES:
            return part
    if len(parts) > 1:
        return next((p for p in parts[1:] if p.startswith("__") and p.endswith("__")), None)
    return None


def _allow_entry(module: str, name: str) -> tuple[str, Entry] | None:
    """Exact allowlist entry or class pattern for the reference itself or an inner split.

    Absolute splits are never allowed: ``('evil', 'torch._utils._rebuild_tensor_v2')``
    imports ``evil`` first.
    """
    parts = name.split(".")
    for i in range(len(parts)):
        inner_module = normalise_module(".".join([module, *parts[:i]]))
        inner_name = ".".join(parts[i:])
        hit = ALLOWLIST.get(f"{inner_module}:{inner_name}")
        if hit is not None:
            return f"{inner_module}:{inner_name}", hit
        for pattern in ALLOW_PATTERNS:
            if pattern.matches(inner_module, inner_name):
                return f"{pattern.prefix}:{pattern.name.pattern}", pattern.entry
    return None


@functools.lru_cache(maxsize=4096)
def _lookup(module: str, name: str) -> tuple[Status, str, Entry]:
    """(status, matched key, entry) for a raw reference; cached per process."""
    if not module or module == "?":
        return Status.UNKNOWN, "", Entry("unknown", "the module cannot be resolved statically")
    module, name = normalise(module, name)
    if name.count(".") >= MAX_PARTS or module.count(".") >= MAX_PARTS:
        return Status.DENY, "", Entry(OBFUSCATION, f"attribute chain of more than {MAX_PARTS} parts")
    for cand_module, cand_name in dict.fromkeys(_candidates(module, name)):
        hit = _deny_entry(cand_module, cand_name)
        if hit is not None:
            return Status.DENY, hit[0], hit[1]
    attr = _introspection(name)
    if attr is not None:
        return Status.DENY, f"*:{attr}", Entry(INTROSPECTION, f"walks object internals through {attr}")
    allowed = _allow_entry(module, name)
    if allowed is not None:
        return Status.ALLOW, allowed[0], allowed[1]
    return Status.UNKNOWN, "", Entry("unknown", "not on the allowlist")


def _verdict(module: str, name: str) -> tuple[Status, str, Entry]:
    if len(module) + len(name) > MAX_NAME_CHARS:
        return Status.DENY, "", Entry(OBFUSCATION, f"global name longer than {MAX_NAME_CHARS} characters")
    return _lookup(module, name)


def classify(module: str, name: str) -> Classification:
    """Judge the global ``module.name`` a pickle imports: DENY wins over ALLOW, else UNKNOWN."""
    status, _, entry = _verdict(module, name)
    return Classification(status, entry.category, entry.reason)


def explain(module: str, name: str) -> str:
    """One human line: the verdict, its category and reason, and the policy entry that matched."""
    status, key, entry = _verdict(module, name)
    shown = f"{module}.{name}" if name else module
    resolved = "{}.{}".format(*normalise(module, name)) if name else normalise_module(module)
    if len(shown) > 200:
        shown, resolved = shown[:197] + "...", shown[:197] + "..."
    via = f" (resolved as {resolved})" if resolved != shown else ""
    matched = f"; matched {key!r}" if key else ""
    return f"{shown}{via}: {status.value} [{entry.category}] {entry.reason}{matched}"
