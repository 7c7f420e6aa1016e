"""fickling advisories (github.com/trailofbits/fickling/security/advisories), one test each.

fickling decompiles a pickle into a Python AST and checks imports against a denylist.
"""

from __future__ import annotations

from builders.payloads import MALICIOUS
from conftest import assert_fires, scan_bytes


def _findings(payload: str) -> object:
    return scan_bytes(MALICIOUS[payload], "model.pt")


def test_ghsa_r7v6_mfhq_g3m2_pty_spawn() -> None:
    """GHSA-r7v6-mfhq-g3m2: ``pty.spawn`` (protocol 0 INST-style call) was not an unsafe import."""
    assert_fires(_findings("ghsa-r7v6-mfhq-g3m2-pty-spawn"), "PKL001", contains="pty.spawn")


def test_ghsa_6ggj_6f2q_f7mx_subinterpreters() -> None:
    """GHSA-6ggj-6f2q-f7mx: ``_interpreters.run_string`` executes source in a sub-interpreter."""
    assert_fires(_findings("ghsa-6ggj-6f2q-f7mx-interpreters-run-string"), "PKL001", contains="run_string")


def test_ghsa_m6fh_58r7_x697_posixsubprocess() -> None:
    """GHSA-m6fh-58r7-x697: ``_posixsubprocess.fork_exec`` is a direct process primitive."""
    assert_fires(_findings("ghsa-m6fh-58r7-x697-posixsubprocess-fork-exec"), "PKL001", contains="_posixsubprocess")


def test_ghsa_m6fh_58r7_x697_site() -> None:
    """GHSA-m6fh-58r7-x697: ``site.addsitedir`` processes .pth files, which execute code."""
    assert_fires(_findings("ghsa-m6fh-58r7-x697-site-addsitedir"), "PKL001", contains="site.addsitedir")


def test_ghsa_m6fh_58r7_x697_atexit() -> None:
    """GHSA-m6fh-58r7-x697: ``atexit.register`` schedules a callable for process exit."""
    assert_fires(_findings("ghsa-m6fh-58r7-x697-atexit-register"), "PKL001", contains="atexit.register")


def test_ghsa_h4rm_mm56_xf63_builtins_chain() -> None:
    """GHSA-h4rm-mm56-xf63: builtins imports emitted no AST node, so
    ``getattr(__import__('os'), 'system')`` went unseen; the chain resolves to os.system."""
    assert_fires(_findings("ghsa-h4rm-mm56-xf63-builtins-getattr-import-chain"), "PKL001", contains="os.system")


def test_ghsa_q5qq_mvfm_j35x_submodule_names() -> None:
    """GHSA-q5qq-mvfm-j35x: full import names were compared to a list of top-level packages,
    so a submodule (``multiprocessing.util``) slipped through; prefixes match here."""
    assert_fires(_findings("technique-multiprocessing-util-spawnv-passfds"), "PKL001", contains="multiprocessing.util")


def test_fickling_call_discarded_by_pop() -> None:
    """Public modelaudit research against fickling: a call whose result is discarded by POP
    vanished from the decompiled AST (reported LIKELY_SAFE)."""
    for opcode in ("inst", "obj", "newobj", "newobj-ex"):
        findings = _findings(f"technique-{opcode}-discarded-by-pop")
        assert_fires(findings, "PKL001")
