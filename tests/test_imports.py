"""The scanner core imports no ML framework: heavy libraries load only when their format is scanned."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "onnx", "h5py", "torch", "gguf", "google.protobuf", "sklearn", "cleanlab", "onnxruntime",
         "model_signing", "cyclonedx", "pandas", "pyarrow", "keras", "tensorflow",
         # not ML, but slow to import and needed only for a chat template / --jobs > 1
         "jinja2", "multiprocessing")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_scanner_and_cli_loads_no_ml_library() -> None:
    assert _loaded_after("import trojanguard.scanner, trojanguard.cli, trojanguard.analyzers") == []


def test_scanning_a_pickle_loads_no_ml_library(tmp_path: object) -> None:
    code = (
        "import tempfile, os\n"
        "from trojanguard.scanner import scan\n"
        "d = tempfile.mkdtemp()\n"
        "open(os.path.join(d, 'm.pkl'), 'wb').write(b'cos\\nsystem\\n(S\\'id\\'\\ntR.')\n"
        "assert scan([d]).findings\n"
    )
    assert _loaded_after(code) == []
