"""Chat-template (Jinja2) policy: what an inference server's sandbox offers, and what escapes it.

Chat templates ship inside GGUF files (``tokenizer.chat_template``) and tokenizer configs and
are rendered by inference servers for every request.  llama-cpp-python rendered them with a
plain ``jinja2.Environment`` until GHSA-56xg-wfcc-g829 (CVE-2024-34359): a template walking
``().__class__.__base__.__subclasses__()`` to ``os.popen`` ran commands on the server.  HF
transformers and current servers render in ``ImmutableSandboxedEnvironment``; a template
that needs more than that environment offers is either broken or aimed at a renderer that
is not sandboxed.  Entries carry a one-line reason.
"""

from __future__ import annotations

import re

from trojanguard.model import Severity

#: Filters of ``ImmutableSandboxedEnvironment`` (the Jinja2 defaults) plus what HF
#: transformers / llama.cpp / vLLM register for chat templates.
ALLOWED_FILTERS: frozenset[str] = frozenset({
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
    "wordwrap", "xmlattr",
})

#: Tests of the default environment (llama.cpp's minja and HF add none that templates use).
ALLOWED_TESTS: frozenset[str] = frozenset({
    "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq", "equalto",
    "escaped", "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable",
    "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence",
    "string", "test", "true", "undefined", "upper",
})

#: Globals a chat template may call (HF transformers adds raise_exception and strftime_now).
ALLOWED_CALL_GLOBALS: frozenset[str] = frozenset({
    "range", "dict", "namespace", "cycler", "joiner", "raise_exception", "strftime_now",
})

#: Names that have no business in a chat template: each is a classic SSTI stepping stone.
SUSPICIOUS_NAMES: dict[str, tuple[Severity, str]] = {
    "self": (Severity.HIGH, "TemplateReference: self._TemplateReference__context reaches the render context"),
    "lipsum": (Severity.HIGH, "a Python function: lipsum.__globals__ reaches the jinja2.utils module (and os)"),
    "config": (Severity.MEDIUM, "Flask SSTI probe (config.__class__.__init__.__globals__)"),
    "request": (Severity.MEDIUM, "Flask SSTI probe (request.application.__globals__)"),
    "url_for": (Severity.MEDIUM, "Flask SSTI probe (url_for.__globals__.__builtins__)"),
    "get_flashed_messages": (Severity.MEDIUM, "Flask SSTI probe (get_flashed_messages.__globals__)"),
    "__builtins__": (Severity.CRITICAL, "the Python builtins module"),
}

#: Attribute names that lead from any object to Python internals (beyond dunders).
DANGEROUS_ATTRIBUTES: frozenset[str] = frozenset({
    "mro", "func_globals", "f_globals", "f_locals", "f_back", "gi_frame", "gi_code", "cr_frame", "tb_frame",
    "co_code", "_module", "_TemplateReference__context", "environment", "_environment",
})

#: String literals naming process/file/import machinery (matched as whole words).
DANGEROUS_WORDS = re.compile(
    r"(?<![A-Za-z0-9_])(__import__|__builtins__|__globals__|__subclasses__|__class__|__mro__|__base__|"
    r"__init__|__getattribute__|__reduce__|subprocess|popen|os\.system|os\.popen|eval|exec|execfile|"
    r"import_module|importlib|builtins|check_output)(?![A-Za-z0-9_])"
)
#: A string literal that *is* a module name commonly imported by SSTI payloads.
DANGEROUS_MODULE_LITERALS: frozenset[str] = frozenset({"os", "sys", "subprocess", "posix", "nt", "pty",
                                                       "socket", "builtins", "importlib", "shutil", "ctypes"})

#: Filters/attributes used to assemble attribute names at run time.
NAME_BUILDING_FILTERS: frozenset[str] = frozenset({"format", "join", "replace", "reverse", "string", "lower",
                                                   "upper", "first", "last", "list"})

#: Metadata keys whose string value is a chat template.
TEMPLATE_KEY = re.compile(r"^tokenizer\.chat_template(\..+)?$")
#: Heuristic for "this string is a Jinja template" on other keys: an opening and a closing
#: delimiter of the same kind (substring tests, linear time on hostile strings).
TEMPLATE_DELIMITERS: tuple[tuple[str, str], ...] = (("{{", "}}"), ("{%", "%}"))
#: Templates larger than this are reported (GGF006) instead of parsed: real ones are < 50 KB, and
#: Jinja2 parses about 150 KB/s on hostile input, so this bounds the parse to ~2 s.
MAX_TEMPLATE_CHARS = 256 << 10
