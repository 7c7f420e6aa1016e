"""Keras config policy: which modules a serialized layer/object may name.

A ``.keras`` or legacy HDF5 config names classes by ``module``/``class_name``/
``registered_name``; Keras imports that module and calls the class on load.  Anything
outside Keras' own namespaces is code the publisher chose to run on the loader's
machine, so the allowlist is small and the reasons are one line each.
"""

from __future__ import annotations

#: Module prefixes Keras itself serializes (layers, optimizers, losses, initializers...).
ALLOWED_MODULE_PREFIXES: tuple[str, ...] = (
    "keras",
    "tf_keras",
    "tensorflow.keras",
    "tensorflow.python.keras",
    "keras_nlp",
    "keras_cv",
    "keras_hub",
)

#: Class names that run or load arbitrary code even though they live inside Keras.
UNSAFE_CLASSES: dict[str, str] = {
    "Lambda": "wraps a marshalled Python function that runs when the layer is called",
    "TFOpLambda": "calls an arbitrary TensorFlow/Python symbol named in the config",
    "SlicingOpLambda": "calls an arbitrary symbol named in the config",
    "TorchModuleWrapper": "restores a torch module with torch.load (pickle) on deserialization",
    "JaxLayer": "wraps arbitrary JAX callables",
    "FlaxLayer": "wraps arbitrary Flax modules",
}

#: Callables that must never appear in a model config, with why.
DANGEROUS_NAMES: dict[str, str] = {
    "enable_unsafe_deserialization": "turns off Keras safe mode for everything loaded afterwards",
    "get_file": "downloads a file from a URL at load time",
    "load_model": "loads a second (unchecked) model at load time",
    "torch.load": "unpickles attacker data",
}

#: Modules whose appearance anywhere in a config is critical (process, code, file, network).
CRITICAL_MODULES: dict[str, str] = {
    "os": "process execution and file-system access",
    "posix": "process execution",
    "nt": "process execution",
    "subprocess": "process execution",
    "builtins": "eval/exec/open/__import__",
    "__builtin__": "eval/exec/open/__import__",
    "sys": "interpreter manipulation",
    "shutil": "file-system modification",
    "socket": "network access",
    "urllib": "network access",
    "requests": "network access",
    "http": "network access",
    "importlib": "dynamic import of arbitrary code",
    "pickle": "nested unpickling",
    "marshal": "code-object loading",
    "ctypes": "native code execution",
    "runpy": "runs modules",
    "pty": "spawns a shell",
    "torch": "torch.load unpickles",
}


def module_allowed(module: str) -> bool:
    """True when ``module`` is Keras' own namespace (or one of its official add-ons)."""
    return any(module == p or module.startswith(p + ".") for p in ALLOWED_MODULE_PREFIXES)


def critical_reason(dotted: str) -> str | None:
    """Why a dotted name (``os.system``) is critical, or None."""
    root = dotted.split(".", 1)[0]
    return CRITICAL_MODULES.get(root)
