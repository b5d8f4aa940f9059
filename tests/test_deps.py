"""The packages demo.sh and tests/run.sh install come from tests/deps.py and cover the package's Build-Depends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import deps

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"demo.sh": ["bash", "demo.sh", "--print-deps"], "tests/run.sh": ["bash", "tests/run.sh", "--print-deps"]}


def listed(argv: list[str]) -> list[str]:
    """What a script would install (its --print-deps output); needs no root and installs nothing."""
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_control_build_depends_are_read() -> None:
    names = [name for group in deps.build_depends() for name in group]
    # debhelper-compat (= 13) and dh-sequence-python3 are virtual: installed as their providers
    assert {"build-essential", "debhelper", "dh-python", "udev"} <= set(names)
    assert "debhelper-compat" not in names and "dh-sequence-python3" not in names


def test_no_unmapped_virtual_build_depends() -> None:
    """dpkg never reports a virtual name installed: each needs its provider in deps.VIRTUAL."""
    virtual = [n for g in deps.build_depends() for n in g if n.endswith("-compat") or n.startswith("dh-sequence-")]
    assert not virtual, f"add {virtual} to VIRTUAL in tests/deps.py (name -> the package that provides it)"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_install_every_build_depends(script: str) -> None:
    assert "python3 -m tests.deps install " in (ROOT / script).read_text(), f"{script} installs its own list"
    packages = set(listed(SCRIPTS[script]))
    unmet = [" | ".join(group) for group in deps.build_depends() if not packages & set(group)]
    assert not unmet, f"{script} does not install Build-Depends {unmet} of packaging/debian/control"


def test_run_sh_installs_the_vm_suite_tools() -> None:
    packages = set(listed(SCRIPTS["tests/run.sh"]))
    assert set(deps.HARNESS + deps.LVM_SOURCE + deps.PACKAGING_TOOLS + deps.FAST) <= packages
    assert set(deps.HARNESS) <= set(listed(SCRIPTS["demo.sh"]))


def test_lvm_source_build_deps_are_installed() -> None:
    """tests/vm/lvmbuild.py names the packages it needs in its error hint; run.sh must install them all."""
    lvmbuild = pytest.importorskip("tests.vm.lvmbuild")
    needed = getattr(lvmbuild, "BUILD_DEPS", None)
    if not isinstance(needed, str):
        pytest.skip("tests/vm/lvmbuild.py has no BUILD_DEPS string")
    assert set(needed.split()) <= set(deps.LVM_SOURCE)


def test_relations_parsed_like_dpkg() -> None:
    text = "systemd-dev | systemd,\n debhelper-compat (= 13), foo (>= 1.2) [amd64] <!nocheck>, bar:native,\n"
    assert deps.parse_relations(text) == [["systemd-dev", "systemd"], ["debhelper"], ["foo"], ["bar"]]


def test_control_paragraph_and_continuation_lines(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text(
        "Source: x\n# a comment\nBuild-Depends:\n debhelper-compat (= 13),\n systemd-dev | systemd,\n"
        "Build-Depends-Indep: python3-all\n\nPackage: x\nDepends: not-a-build-dep\n"
    )
    assert deps.build_depends(control) == [["build-essential"], ["debhelper"], ["systemd-dev", "systemd"],
                                           ["python3-all"]]
    assert ["systemd-dev", "systemd"] in deps.profile_groups("demo", control)
    assert ["not-a-build-dep"] not in deps.profile_groups("all", control)


def test_alternative_installed_or_available_wins() -> None:
    group = ["systemd-dev", "systemd"]
    assert deps.choose(group, {"systemd"}, lambda name: True) == "systemd"  # installed already
    assert deps.choose(group, set(), lambda name: name == "systemd") == "systemd"  # bookworm: no systemd-dev
    assert deps.choose(group, set(), lambda name: True) == "systemd-dev"  # trixie: the first one
    assert deps.choose(group, set(), lambda name: False) == "systemd-dev"  # no package lists yet


def test_demo_failure_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """The image build failing (here: no host tools on PATH) ends the demo with one FAILED line and exit 1."""
    env = dict(os.environ, PATH=str(tmp_path / "empty"), LVMOVE_VM_CACHE=str(tmp_path / "cache"),
               LVMOVE_VM_WORK=str(tmp_path / "work"))
    proc = subprocess.run([sys.executable, "-m", "tests.vm.demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("demo FAILED: building the guest image"), proc.stderr
    assert "; log: " in lines[0] and "; fix: " in lines[0]
