"""picklescan advisories (github.com/mmaitre314/picklescan/security/advisories), one test each.

picklescan matched imports against a denylist; each advisory is a stdlib or torch callable
that was missing from it.  trojanguard's policy is an allowlist (anything unknown is high)
with a denylist that names the danger, so each of these must be PKL001 (denied by category)
with the callable in the message.
"""

from __future__ import annotations

from builders.payloads import MALICIOUS
from conftest import assert_fires, scan_bytes
from trojanguard.model import Severity


def _fires(payload: str, callable_: str) -> None:
    findings, _, _ = scan_bytes(MALICIOUS[payload], "model.pt")
    assert_fires(findings, "PKL001", min_severity=Severity.HIGH, contains=callable_)


def test_ghsa_vvpj_8cmc_gx39_pkgutil_resolve_name() -> None:
    """GHSA-vvpj-8cmc-gx39: ``pkgutil.resolve_name('os:system')`` is a universal resolver
    that reaches every denylisted callable without a GLOBAL for it."""
    _fires("ghsa-vvpj-8cmc-gx39-pkgutil-resolve-name", "os.system")


def test_ghsa_v7x6_rv5q_mhwc_timeit() -> None:
    """GHSA-v7x6-rv5q-mhwc: ``timeit.timeit(stmt)`` executes its statement string."""
    _fires("ghsa-v7x6-rv5q-mhwc-timeit-timeit", "timeit.timeit")


def test_ghsa_xp4f_hrf8_rxw7_ensurepip_run_pip() -> None:
    """GHSA-xp4f-hrf8-rxw7: ``ensurepip._run_pip`` runs pip with attacker arguments."""
    _fires("ghsa-xp4f-hrf8-rxw7-ensurepip-run-pip", "ensurepip._run_pip")


def test_ghsa_5qwp_399c_mjwf_trace_run() -> None:
    """GHSA-5qwp-399c-mjwf: ``trace.Trace.run`` executes a statement (dotted method name)."""
    _fires("ghsa-5qwp-399c-mjwf-trace-trace-run", "trace.Trace.run")


def test_ghsa_g344_hcph_8vgg_trace_runctx() -> None:
    """GHSA-g344-hcph-8vgg: ``trace.Trace.runctx`` executes a statement."""
    _fires("ghsa-g344-hcph-8vgg-trace-trace-runctx", "trace.Trace.runctx")


def test_ghsa_x696_vm39_cp64_profile_run() -> None:
    """GHSA-x696-vm39-cp64: ``profile.Profile.run`` executes a statement."""
    _fires("ghsa-x696-vm39-cp64-profile-profile-run", "profile.Profile.run")


def test_ghsa_6vqj_c2q5_j97w_profile_runctx() -> None:
    """GHSA-6vqj-c2q5-j97w: ``profile.Profile.runctx`` executes a statement."""
    _fires("ghsa-6vqj-c2q5-j97w-profile-profile-runctx", "profile.Profile.runctx")


def test_ghsa_9w88_8rmg_7g2p_cprofile_runctx() -> None:
    """GHSA-9w88-8rmg-7g2p: ``cProfile.runctx`` executes a statement."""
    _fires("ghsa-9w88-8rmg-7g2p-cprofile-runctx", "cProfile.runctx")


def test_ghsa_fqq6_7vqf_w3fg_doctest_debug_script() -> None:
    """GHSA-fqq6-7vqf-w3fg: ``doctest.debug_script`` executes a script string."""
    _fires("ghsa-fqq6-7vqf-w3fg-doctest-debug-script", "doctest.debug_script")


def test_ghsa_f54q_57x4_jg88_lib2to3_grammar_loads() -> None:
    """GHSA-f54q-57x4-jg88: ``lib2to3.pgen2.grammar.Grammar.loads`` unpickles its argument."""
    _fires("ghsa-f54q-57x4-jg88-lib2to3-grammar-loads", "lib2to3.pgen2.grammar")


def test_ghsa_p9w7_82w4_7q8m_lib2to3_make_label() -> None:
    """GHSA-p9w7-82w4-7q8m: ``lib2to3.pgen2.pgen.ParserGenerator.make_label`` evals a label."""
    _fires("ghsa-p9w7-82w4-7q8m-lib2to3-pgen-make-label", "lib2to3.pgen2.pgen")


def test_ghsa_3vg9_h568_4w9m_idlelib_debugobj() -> None:
    """GHSA-3vg9-h568-4w9m: ``idlelib.debugobj.ObjectTreeItem`` evaluates code through its setter."""
    _fires("ghsa-3vg9-h568-4w9m-idlelib-debugobj", "idlelib.debugobj")


def test_ghsa_7cq8_mj8x_j263_idlelib_fetch_completions() -> None:
    """GHSA-7cq8-mj8x-j263: ``idlelib.autocomplete.AutoComplete.fetch_completions`` evals."""
    _fires("ghsa-7cq8-mj8x-j263-idlelib-autocomplete-fetch-completions", "idlelib.autocomplete")


def test_ghsa_6w4w_5w54_rjvr_idlelib_get_entity() -> None:
    """GHSA-6w4w-5w54-rjvr: ``idlelib.autocomplete.AutoComplete.get_entity`` evals a name."""
    _fires("ghsa-6w4w-5w54-rjvr-idlelib-autocomplete-get-entity", "idlelib.autocomplete")


def test_ghsa_m869_42cg_3xwr_idlelib_run_executive() -> None:
    """GHSA-m869-42cg-3xwr: ``idlelib.run.Executive.runcode`` executes code."""
    _fires("ghsa-m869-42cg-3xwr-idlelib-run-executive-runcode", "idlelib.run")


def test_ghsa_j343_8v2j_ff7w_idlelib_pyshell_runcommand() -> None:
    """GHSA-j343-8v2j-ff7w: ``idlelib.pyshell.ModifiedInterpreter.runcommand`` executes code."""
    _fires("ghsa-j343-8v2j-ff7w-idlelib-pyshell-runcommand", "idlelib.pyshell")


def test_ghsa_3gf5_cxq9_w223_idlelib_pyshell_runcode() -> None:
    """GHSA-3gf5-cxq9-w223: ``idlelib.pyshell.ModifiedInterpreter.runcode`` executes code."""
    _fires("ghsa-3gf5-cxq9-w223-idlelib-pyshell-runcode", "idlelib.pyshell")


def test_ghsa_4whj_rm5r_c2v8_torch_bottleneck() -> None:
    """GHSA-4whj-rm5r-c2v8: ``torch.utils.bottleneck.__main__.run_autograd_prof`` executes code."""
    _fires("ghsa-4whj-rm5r-c2v8-torch-bottleneck-run-autograd-prof", "torch.utils.bottleneck")


def test_ghsa_m273_6v24_x4m4_operator_attrgetter() -> None:
    """GHSA-m273-6v24-x4m4: ``operator.attrgetter('system')(os_module)`` resolves a callable
    from a string; the analyzer follows the chain to ``os.system``."""
    _fires("ghsa-m273-6v24-x4m4-operator-attrgetter", "os.system")


def test_ghsa_955r_x9j8_7rhh_c_operator_module() -> None:
    """GHSA-955r-x9j8-7rhh: the same gadget through the C module ``_operator``."""
    _fires("ghsa-955r-x9j8-7rhh-operator-attrgetter-c-module", "os.system")


def test_ghsa_46h3_79wf_xr6c_operator_methodcaller() -> None:
    """GHSA-46h3-79wf-xr6c (_operator fixes): ``_operator.methodcaller('system', cmd)(os)``."""
    _fires("ghsa-46h3-79wf-xr6c-operator-methodcaller", "os.system")


def test_ghsa_4675_36f9_wf6r_bdb_run() -> None:
    """GHSA-4675-36f9-wf6r (profilers/debuggers): ``bdb.Bdb.run`` executes a statement."""
    _fires("ghsa-4675-36f9-wf6r-bdb-run", "bdb.Bdb.run")


def test_ghsa_84r2_jw7c_4r5q_nested_pickle() -> None:
    """GHSA-84r2-jw7c-4r5q: ``pickle.loads`` of an inner payload held in the outer pickle;
    the inner pickle is also scanned (its ``os.system`` is reported)."""
    findings, _, _ = scan_bytes(MALICIOUS["ghsa-84r2-jw7c-4r5q-nested-pickle-loads"], "model.pt")
    assert_fires(findings, "PKL004", contains="pickle.loads")
    assert_fires(findings, "PKL001", contains="os.system")


def test_ghsa_vqmv_47xg_9wpr_venv_create() -> None:
    """GHSA-vqmv-47xg-9wpr (pip/venv/ensurepip): ``venv.create(prompt='$(cmd)')``."""
    _fires("ghsa-vqmv-47xg-9wpr-venv-create", "venv.create")


def test_ghsa_hgrh_qx5j_jfwx_network_modules() -> None:
    """GHSA-hgrh-qx5j-jfwx (network modules): ``http.client.HTTPSConnection`` connects out."""
    _fires("ghsa-hgrh-qx5j-jfwx-http-client-https-connection", "http.client.HTTPSConnection")


def test_cve_2025_1716_pip_main() -> None:
    """CVE-2025-1716: picklescan did not treat ``pip`` as unsafe; ``pip.main(['install', ...])``
    installs and runs an attacker's package."""
    _fires("cve-2025-1716-pip-main", "pip.main")


def test_cve_2025_10157_asyncio_subprocess_transport() -> None:
    """CVE-2025-10157 (JFrog): ``asyncio.unix_events._UnixSubprocessTransport._start`` was
    missed because only exact names were matched; it runs a shell command."""
    _fires("cve-2025-10157-asyncio-unix-subprocess-transport", "asyncio.unix_events")


def test_file_handling_gaps_io_fileio() -> None:
    """File-handling gaps collected from picklescan's 2025 advisories (fickling PR #210):
    ``_io.FileIO`` opens a file for writing; the C module alias ``_io`` resolves to ``io``."""
    _fires("technique-io-fileio-c-module", "io.FileIO")


def test_picklescan_issue_22_memo_desync() -> None:
    """picklescan issue #22 (ImaginaryCTF "Safe Pickle"): the scanner tracked the memo by
    position, not by key, so STACK_GLOBAL operands fetched with GET resolved to decoys."""
    _fires("technique-memo-desync-imaginaryctf", "os.system")
