"""Python call policy for shipped code (trust_remote_code files, Keras Lambda bytecode).

Maps dotted call targets (``os.system``, ``subprocess.run``) and bare names (``exec``)
to a category and a one-line reason.  The repo analyzer resolves ``import x as y`` aliases
before looking names up here; the Keras Lambda decoder uses ``NAME_CATEGORIES`` on the
bare names a code object references.
"""

from __future__ import annotations

from trojanguard.model import Severity

#: category -> severity when the code is reached by auto_map / executed on load
CATEGORY_SEVERITY: dict[str, Severity] = {
    "process": Severity.CRITICAL,
    "exec": Severity.CRITICAL,
    "native": Severity.CRITICAL,
    "deserialize": Severity.HIGH,
    "network": Severity.HIGH,
    "dynamic-import": Severity.MEDIUM,
    "file-write": Severity.MEDIUM,
    "file": Severity.LOW,
}

#: exact dotted call targets
CALLS: dict[str, tuple[str, str]] = {
    "os.system": ("process", "runs a shell command"),
    "os.popen": ("process", "runs a shell command"),
    "os.execv": ("process", "replaces the process"),
    "os.execve": ("process", "replaces the process"),
    "os.execl": ("process", "replaces the process"),
    "os.execvp": ("process", "replaces the process"),
    "os.spawnv": ("process", "spawns a process"),
    "os.spawnl": ("process", "spawns a process"),
    "os.fork": ("process", "forks the process"),
    "os.remove": ("file-write", "deletes a file"),
    "os.unlink": ("file-write", "deletes a file"),
    "os.rmdir": ("file-write", "deletes a directory"),
    "os.chmod": ("file-write", "changes file permissions"),
    "shutil.rmtree": ("file-write", "deletes a directory tree"),
    "pty.spawn": ("process", "spawns a shell"),
    "builtins.exec": ("exec", "executes a string of Python code"),
    "builtins.eval": ("exec", "evaluates a string of Python code"),
    "builtins.compile": ("exec", "compiles code from a string"),
    "builtins.__import__": ("dynamic-import", "imports a module named at run time"),
    "builtins.open": ("file", "opens a file"),
    "importlib.import_module": ("dynamic-import", "imports a module named at run time"),
    "importlib.util.spec_from_file_location": ("dynamic-import", "imports code from a file path"),
    "runpy.run_path": ("exec", "runs a Python file"),
    "runpy.run_module": ("exec", "runs a Python module"),
    "marshal.loads": ("exec", "loads a code object from bytes"),
    "types.FunctionType": ("exec", "builds a function from a code object"),
    "types.CodeType": ("exec", "builds a code object"),
    "pickle.loads": ("deserialize", "unpickles bytes (arbitrary code)"),
    "pickle.load": ("deserialize", "unpickles a file (arbitrary code)"),
    "dill.loads": ("deserialize", "unpickles bytes (arbitrary code)"),
    "dill.load": ("deserialize", "unpickles a file (arbitrary code)"),
    "joblib.load": ("deserialize", "unpickles a file (arbitrary code)"),
    "torch.load": ("deserialize", "unpickles a checkpoint (arbitrary code)"),
    "ctypes.CDLL": ("native", "loads a native library"),
    "ctypes.cdll.LoadLibrary": ("native", "loads a native library"),
    "ctypes.WinDLL": ("native", "loads a native library"),
    "urllib.request.urlopen": ("network", "fetches a URL"),
    "urllib.request.urlretrieve": ("network", "downloads a URL"),
    "requests.get": ("network", "fetches a URL"),
    "requests.post": ("network", "sends data to a URL"),
    "requests.put": ("network", "sends data to a URL"),
    "httpx.get": ("network", "fetches a URL"),
    "httpx.post": ("network", "sends data to a URL"),
    "socket.socket": ("network", "opens a raw socket"),
    "socket.create_connection": ("network", "opens a network connection"),
    "http.client.HTTPConnection": ("network", "opens an HTTP connection"),
    "http.client.HTTPSConnection": ("network", "opens an HTTPS connection"),
    "huggingface_hub.hf_hub_download": ("network", "downloads a file from the Hub"),
    "huggingface_hub.snapshot_download": ("network", "downloads a repository from the Hub"),
    "keras.utils.get_file": ("network", "downloads a file"),
}

#: whole modules whose every call is in a category (``subprocess.anything``)
MODULES: dict[str, tuple[str, str]] = {
    "subprocess": ("process", "runs a process"),
    "commands": ("process", "runs a shell command"),
    "socket": ("network", "network access"),
    "urllib.request": ("network", "network access"),
    "requests": ("network", "network access"),
    "httpx": ("network", "network access"),
    "ftplib": ("network", "network access"),
    "smtplib": ("network", "network access"),
    "paramiko": ("network", "remote shell access"),
}

#: bare names (builtins, or names a code object references) -> category
NAME_CATEGORIES: dict[str, tuple[str, str]] = {
    "exec": ("exec", "executes a string of Python code"),
    "eval": ("exec", "evaluates a string of Python code"),
    "compile": ("exec", "compiles code from a string"),
    "__import__": ("dynamic-import", "imports a module named at run time"),
    "open": ("file", "opens a file"),
    "system": ("process", "os.system-style shell command"),
    "popen": ("process", "os.popen-style shell command"),
    "Popen": ("process", "subprocess.Popen"),
    "check_output": ("process", "subprocess.check_output"),
    "check_call": ("process", "subprocess.check_call"),
    "spawnv": ("process", "spawns a process"),
    "execv": ("process", "replaces the process"),
    "os": ("process", "the os module (processes, files)"),
    "subprocess": ("process", "the subprocess module"),
    "socket": ("network", "the socket module"),
    "urlopen": ("network", "fetches a URL"),
    "requests": ("network", "the requests module"),
    "marshal": ("exec", "code-object loading"),
    "pickle": ("deserialize", "nested unpickling"),
    "ctypes": ("native", "native code"),
    "importlib": ("dynamic-import", "dynamic imports"),
    "builtins": ("exec", "the builtins module (eval/exec/open)"),
    "getattr": ("dynamic-import", "dynamic attribute lookup"),
}

#: names that decode hidden payloads; decoded data flowing into exec/eval is obfuscation
DECODERS = frozenset({
    "base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode", "base64.b85decode",
    "base64.decodebytes", "zlib.decompress", "gzip.decompress", "bz2.decompress", "lzma.decompress",
    "marshal.loads", "codecs.decode", "bytes.fromhex", "binascii.unhexlify", "binascii.a2b_base64",
})


def classify_call(dotted: str) -> tuple[str, str] | None:
    """(category, reason) for a resolved dotted call target, or None when harmless."""
    if dotted in CALLS:
        return CALLS[dotted]
    if "." not in dotted and dotted in NAME_CATEGORIES and dotted in ("exec", "eval", "compile", "__import__", "open"):
        return NAME_CATEGORIES[dotted]
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        hit = MODULES.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


def severity_of(category: str) -> Severity:
    return CATEGORY_SEVERITY.get(category, Severity.MEDIUM)
