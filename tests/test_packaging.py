"""Packaging checks: make install/uninstall, man pages, journal catalog, bash completion.

The fast tests run `make` against a temporary DESTDIR and BUILDDIR (the tree's build/ is left alone).
Package builds (deb, rpm) are marked `packaging`: run them with `pytest -m packaging`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAN_PAGES = ["lvmove.8", "lvmove@.service.8", "lvmove-generator.8", "lvmove.yaml.5"]
DIRS = {
    "UDEVDIR": "/usr/lib/udev",
    "UNITDIR": "/usr/lib/systemd/system",
    "GENERATORDIR": "/usr/lib/systemd/system-generators",
    "CATALOGDIR": "/usr/lib/systemd/catalog",
    "COMPLETIONSDIR": "/usr/share/bash-completion/completions",
}

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One BUILDDIR for the module: the wheel is built once (make rebuilds it only when sources change)."""
    return tmp_path_factory.mktemp("build")


def make(*args: str, build: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), f"BUILDDIR={build}", *args],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, f"make {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def tree(root: Path) -> set[str]:
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def expected_files(prefix: str) -> set[str]:
    share = f"{prefix}/share"
    return {
        f"{DIRS['UDEVDIR']}/rules.d/96-lvmove.rules",
        f"{DIRS['UNITDIR']}/lvmove@.service",
        f"{DIRS['UNITDIR']}/lvmove-vg@.service",
        f"{DIRS['GENERATORDIR']}/lvmove-generator",
        f"{DIRS['CATALOGDIR']}/lvmove.catalog",
        f"{DIRS['COMPLETIONSDIR']}/lvmove",
        f"{prefix}/bin/lvmove",
        f"{share}/man/man8/lvmove.8",
        f"{share}/man/man8/lvmove@.service.8",
        f"{share}/man/man8/lvmove-generator.8",
        f"{share}/man/man5/lvmove.yaml.5",
        f"{share}/lvmove/install-manifest",
    }


@needs_make
@pytest.mark.parametrize("prefix", ["/usr", "/usr/local"])
def test_install_then_uninstall_leaves_nothing(tmp_path: Path, build: Path, prefix: str) -> None:
    dest = tmp_path / "root"
    dirs = [f"{k}={v}" for k, v in DIRS.items()]
    make("install", f"DESTDIR={dest}", f"PREFIX={prefix}", *dirs, build=build)

    files = tree(dest)
    assert expected_files(prefix) <= files, sorted(expected_files(prefix) - files)
    package = [f for f in files if f.endswith("/lvmove_hooks/cli.py")]
    assert len(package) == 1, files
    assert os.access(dest / f"{DIRS['GENERATORDIR']}/lvmove-generator".lstrip("/"), os.X_OK)
    assert os.access(dest / f"{prefix}/bin/lvmove".lstrip("/"), os.X_OK)

    # the unit calls the installed command: rewritten when bindir is not /usr/bin
    unit = (dest / f"{DIRS['UNITDIR']}/lvmove@.service".lstrip("/")).read_text()
    execs = re.findall(r"^ExecStart=(\S+)", unit, re.M)
    assert execs == [f"{prefix}/bin/lvmove"]
    if prefix != "/usr":
        for path in (f"{DIRS['UNITDIR']}/lvmove@.service", f"{DIRS['UDEVDIR']}/rules.d/96-lvmove.rules"):
            assert not re.search(r"/usr/bin/lvmove\b", (dest / path.lstrip("/")).read_text()), path

    # the manifest lists exactly what was installed
    manifest = (dest / f"{prefix}/share/lvmove/install-manifest".lstrip("/")).read_text().splitlines()
    assert {line[2:] for line in manifest if line.startswith("f ")} == files

    # python byte-compiles on first use; uninstall must clean that up too
    site = (dest / package[0].lstrip("/")).parent
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"")

    make("uninstall", f"DESTDIR={dest}", f"PREFIX={prefix}", *dirs, build=build)
    assert list(dest.rglob("*")) == []


@needs_make
def test_install_keeps_foreign_files_and_directories(tmp_path: Path, build: Path) -> None:
    dest = tmp_path / "root"
    dirs = [f"{k}={v}" for k, v in DIRS.items()]
    other = dest / "usr/lib/systemd/system/other.service"
    other.parent.mkdir(parents=True)
    other.write_text("[Unit]\n")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr", *dirs, build=build)
    # an older version had a module and a directory this one does not: a reinstall drops them
    manifest = dest / "usr/share/lvmove/install-manifest"
    old = dest / "usr/lib/lvmove-old/gone.py"
    old.parent.mkdir(parents=True)
    old.write_text("")
    with manifest.open("a") as f:
        f.write("f /usr/lib/lvmove-old/gone.py\nd /usr/lib/lvmove-old\n")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr", *dirs, build=build)  # again, over itself
    assert not old.parent.exists()
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr", *dirs, build=build)
    assert tree(dest) == {"/usr/lib/systemd/system/other.service"}


@needs_make
def test_install_data_uses_pkg_config_or_fallbacks(tmp_path: Path, build: Path) -> None:
    dest = tmp_path / "root"
    make("install-data", f"DESTDIR={dest}", "PREFIX=/usr", build=build)
    want = {
        ("udev", "udevdir", DIRS["UDEVDIR"], "rules.d/96-lvmove.rules"),
        ("systemd", "systemdsystemunitdir", DIRS["UNITDIR"], "lvmove@.service"),
        ("systemd", "systemdsystemgeneratordir", DIRS["GENERATORDIR"], "lvmove-generator"),
        ("systemd", "catalogdir", DIRS["CATALOGDIR"], "lvmove.catalog"),
        ("bash-completion", "completionsdir", DIRS["COMPLETIONSDIR"], "lvmove"),
    }
    for pc, var, fallback, name in want:
        value = ""
        if shutil.which("pkg-config"):
            value = subprocess.run(["pkg-config", f"--variable={var}", pc],
                                   capture_output=True, text=True, check=False).stdout.strip()
        path = dest / (value or fallback).lstrip("/") / name
        assert path.is_file(), f"{path} missing ({pc} {var})"


@pytest.mark.skipif(shutil.which("man") is None, reason="man not installed")
@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(page: str) -> None:
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    proc = subprocess.run(["man", "--warnings", "-l", str(ROOT / "docs/man" / page)],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "NAME" in proc.stdout and "SEE ALSO" in proc.stdout


def test_lvmove_8_lists_every_subcommand_and_exit_code() -> None:
    text = (ROOT / "docs/man/lvmove.8").read_text()
    for sub in ("status", "start", "watch", "abort", "pause", "resume", "move", "run"):
        assert re.search(rf"^\.B[IR]? {sub}\b", text, re.M), sub
    from lvmove_hooks.errors import CODES

    exit_status = text[text.index(".SH EXIT STATUS"):text.index(".SH FILES")]
    listed = [int(c) for c in re.findall(r"^\.TP\n\.B (\d+)\n", exit_status, re.M)]
    assert listed == [code for code, _ in CODES]  # one table: errors.CODES, in its order


def test_man_pages_carry_the_project_version() -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for page in MAN_PAGES:
        th = next(line for line in (ROOT / "docs/man" / page).read_text().splitlines() if line.startswith(".TH "))
        assert f'"lvmove {version}"' in th, f"{page}: {th} (update .TH to lvmove {version})"


def _architecture_message_ids() -> set[str]:
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    return set(re.findall(r"^\| [\w-]+ \| ([0-9a-f]{32}) \|", text, re.M))


def test_catalog_has_an_entry_per_message_id() -> None:
    from lvmove_hooks.journal import MESSAGE_IDS

    ids = _architecture_message_ids()
    assert ids == set(MESSAGE_IDS.values())
    catalog = (ROOT / "packaging/lvmove.catalog").read_text()
    entries = re.findall(r"^-- ([0-9a-f]{32})\n((?:.+\n)+)\n", catalog, re.M)
    assert {e[0] for e in entries} == ids
    for _, headers in entries:
        assert re.search(r"^Subject: .+", headers, re.M)
        assert re.search(r"^Defined-By: lvmove$", headers, re.M)


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="journalctl not installed")
def test_catalog_compiles_with_journalctl(tmp_path: Path) -> None:
    catdir = tmp_path / "usr/lib/systemd/catalog"
    catdir.mkdir(parents=True)
    shutil.copy(ROOT / "packaging/lvmove.catalog", catdir)
    subprocess.run(["journalctl", f"--root={tmp_path}", "--update-catalog"], check=True)
    listed = subprocess.run(["journalctl", f"--root={tmp_path}", "--list-catalog"],
                            capture_output=True, text=True, check=True).stdout
    assert {line.split()[0] for line in listed.splitlines()} == _architecture_message_ids()


COMPLETION_DRIVER = r"""
source /usr/share/bash-completion/bash_completion
source "$1"
shift
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_lvmove
printf '%s\n' "${COMPREPLY[@]}"
"""


def _complete(tmp_path: Path, line: str, dm_names: list[str]) -> list[str]:
    """Complete `line` with these dm devices in a fake sysfs (and an `lvmove` on PATH that must not run)."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    lvmove = fake / "lvmove"
    lvmove.write_text("#!/bin/sh\necho 'lvmove: needs root' >&2\nexit 3\n")
    lvmove.chmod(0o755)
    sysfs = tmp_path / "sys"
    shutil.rmtree(sysfs, ignore_errors=True)
    for n, name in enumerate(dm_names):
        d = sysfs / "block" / f"dm-{n}" / "dm"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
    driver = tmp_path / "driver.sh"
    driver.write_text(COMPLETION_DRIVER)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "LVMOVE_SYSFS": str(sysfs)}
    out = subprocess.run(["bash", str(driver), str(ROOT / "packaging/bash-completion/lvmove"), line],
                         capture_output=True, text=True, env=env, check=True).stdout
    return [w for w in out.splitlines() if w]


@pytest.mark.skipif(not Path("/usr/share/bash-completion/bash_completion").exists() or not shutil.which("bash"),
                    reason="bash-completion not installed")
def test_bash_completion(tmp_path: Path) -> None:
    """TARGETs come from sysfs dm names (no root: `sudo lvmove abort <TAB>` completes as the user)."""
    moves = ["vg0-lv", "vg0-pvmove0", "my--vg-pvmove1", "my--vg-pvmove1_mimage_0", "vg0-pvmove0-real"]
    subcommands = ["status", "start", "watch", "abort", "pause", "resume", "move", "check-vg", "run"]
    assert _complete(tmp_path, "lvmove ", moves) == subcommands
    assert _complete(tmp_path, "lvmove st", moves) == ["status", "start"]
    assert _complete(tmp_path, "lvmove status --j", moves) == ["--json"]
    assert _complete(tmp_path, "lvmove status -o lv_s", moves) == ["lv_size"]
    assert _complete(tmp_path, "lvmove status -o lv_size,move_", moves) == ["lv_size,move_mode", "lv_size,move_pv",
                                                                          "lv_size,move_state"]
    assert _complete(tmp_path, "lvmove status -o +unit_", moves) == ["+unit_state", "+unit_status"]
    assert _complete(tmp_path, "lvmove status --units ", moves) == ["b", "k", "m", "g", "t", "h"]
    assert _complete(tmp_path, "lvmove status --separator : ", moves) == ["vg0/pvmove0", "my-vg/pvmove1"]
    assert _complete(tmp_path, "lvmove start ", moves) == ["vg0/pvmove0", "my-vg/pvmove1"]
    assert _complete(tmp_path, "lvmove -v abort my", moves) == ["my-vg/pvmove1"]
    assert _complete(tmp_path, "lvmove watch --interval 5 ", moves) == ["vg0/pvmove0", "my-vg/pvmove1"]
    assert _complete(tmp_path, "lvmove start vg0/pvmove0 ", moves) == []
    assert _complete(tmp_path, "lvmove move --", moves) == ["--help", "--verbose", "--name", "--lv", "--alloc",
                                                            "--atomic", "--wait"]
    assert _complete(tmp_path, "lvmove move --alloc cl", moves) == ["cling", "cling_by_tags"]
    assert _complete(tmp_path, "lvmove watch -i ", moves) == []
    assert _complete(tmp_path, "lvmove start ", []) == []


def test_completion_knows_every_cli_option() -> None:
    """The completion's option lists follow lvmove's argparse parser."""
    from lvmove_hooks import cli

    parser = cli._parser()
    text = (ROOT / "packaging/bash-completion/lvmove").read_text()
    sub_action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    subs = sub_action.choices  # type: ignore[attr-defined]
    assert f'commands="{" ".join(subs)}"' in text
    for name, sub in subs.items():
        for action in sub._actions:
            for opt in action.option_strings:
                if opt in ("-h", "--help", "-v", "--verbose"):
                    continue  # every subcommand's: the completion's common list
                assert re.search(rf"{name}\)[^\n]*{re.escape(opt)}\b", text), f"{name} {opt}"
    for action in parser._actions:
        for opt in action.option_strings:
            assert opt in text, opt
    assert 'local opts="-h --help -v --verbose"' in text
    from lvmove_hooks.fields import FIELDS

    listed = re.search(r'local fields="([^"]*)"', text)
    assert listed is not None and listed.group(1).split() == [f.name for f in FIELDS] + ["help"]


# ---------------------------------------------------------------------------------------- slow: packages

@pytest.mark.packaging
@pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None, reason="dpkg-dev not installed")
def test_make_deb_contents_and_lintian(tmp_path: Path) -> None:
    build = tmp_path / "build"
    make("deb", build=build)
    version = subprocess.run(["python3", str(ROOT / "packaging/pkgtool.py"), "version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deb = build / "deb" / f"lvmove_{version}_all.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    names |= {line.split()[-3].lstrip(".") for line in listing.splitlines() if " -> " in line}
    for want in (
        "/usr/bin/lvmove",
        "/usr/lib/python3/dist-packages/lvmove_hooks/cli.py",
        "/usr/lib/systemd/catalog/lvmove.catalog",
        "/usr/share/bash-completion/completions/lvmove",
        "/usr/share/man/man8/lvmove.8.gz",
        "/usr/share/man/man8/lvmove@.service.8.gz",
        "/usr/share/man/man8/lvmove-generator.8.gz",
        "/usr/share/man/man5/lvmove.yaml.5.gz",
        "/usr/share/initramfs-tools/hooks/lvmove",
    ):
        assert want in names, want
    # dh_installinitramfs: the hook comes with the trigger that rebuilds the initramfs
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    assert "update-initramfs" in (control / "triggers").read_text()
    for name in ("udev/rules.d/96-lvmove.rules", "systemd/system/lvmove@.service",
                 "systemd/system/lvmove-vg@.service", "systemd/system-generators/lvmove-generator"):
        assert any(n.endswith(name) and n.startswith(("/lib/", "/usr/lib/")) for n in names), name
    # /var/lib/lvmove ships (empty): the unit may write there (ReadWritePaths=-/var/lib/lvmove) only if it exists
    assert "/var/lib/lvmove" in {n.rstrip("/") for n in names}
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends", "Recommends"], capture_output=True,
                            text=True, check=True).stdout
    relations = dict(line.split(": ", 1) for line in fields.splitlines())
    depends = {d.strip().split()[0].split(":")[0] for d in relations["Depends"].split(",")}  # python3:any
    # What lvmove imports (PyYAML) and runs; python3-systemd is optional (journal.py has a stdlib fallback).
    assert {"python3-yaml", "lvm2", "python3", "systemd", "udev"} <= depends, depends
    assert "python3-systemd" not in depends and "python3-pyudev" not in depends, depends
    assert "python3-systemd" in relations["Recommends"]
    assert re.search(r"systemd \(>= 245\)", relations["Depends"])  # Restart= in a oneshot unit, ProtectClock=
    assert re.search(r"python3(:any)? \(>= 3\.11", relations["Depends"])
    if shutil.which("lintian"):
        proc = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb)], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not re.search(r"^[EW]: ", proc.stdout, re.M), proc.stdout  # 0 errors, 0 warnings


def _control(paragraph: int = 0) -> dict[str, str]:
    """A paragraph of packaging/debian/control: 0 the source, 1 the binary package."""
    from tests import deps

    text = (ROOT / "packaging/debian/control").read_text()
    return deps.control_fields(re.split(r"\n\s*\n", text.strip())[paragraph])


def test_build_depends_take_the_pc_files_from_systemd_dev_where_it_exists() -> None:
    """trixie moved systemd.pc and udev.pc to systemd-dev; bookworm has them in systemd and udev."""
    from tests import deps

    groups = deps.parse_relations(_control()["Build-Depends"])
    assert ["systemd-dev", "systemd"] in groups and ["systemd-dev", "udev"] in groups
    # tests/deps.py resolves the alternative the way the host can: installed wins, else the first apt has.
    assert deps.choose(["systemd-dev", "systemd"], {"systemd"}, lambda name: True) == "systemd"
    assert deps.choose(["systemd-dev", "systemd"], set(), lambda name: name == "systemd-dev") == "systemd-dev"
    assert deps.choose(["systemd-dev", "systemd"], set(), lambda name: name == "systemd") == "systemd"


def test_runtime_dependencies_are_what_lvmove_imports() -> None:
    """Every third-party module lvmove_hooks imports is a Depends (or, when it is optional, a Recommends) of the
    .deb and a Requires/Recommends of the rpm, and nothing else Python is listed."""
    import ast
    import sys

    imported: dict[str, bool] = {}  # module -> imported without a fallback (ImportError not caught)
    for path in (ROOT / "lvmove_hooks").glob("*.py"):
        tree = ast.parse(path.read_text())
        optional = {id(node) for t in ast.walk(tree) if isinstance(t, ast.Try)
                    and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in t.handlers)
                    for node in ast.walk(ast.Module(body=t.body, type_ignores=[]))}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and top != "lvmove_hooks":
                    imported[top] = imported.get(top, False) or id(node) not in optional
    debian = {"yaml": "python3-yaml", "systemd": "python3-systemd"}
    fedora = {"yaml": "python3-pyyaml", "systemd": "python3-systemd"}
    assert set(imported) <= set(debian), f"imported, no package known: {set(imported) - set(debian)}"
    control = _control(1)
    depends = {d.strip().split()[0] for d in control["Depends"].split(",") if d.strip()}
    recommends = {d.strip().split()[0] for d in control.get("Recommends", "").split(",") if d.strip()}
    spec = (ROOT / "packaging/rpm/lvmove.spec").read_text()
    requires = set(re.findall(r"^Requires:\s+(\S+)", spec, re.M))
    weak = set(re.findall(r"^Recommends:\s+(\S+)", spec, re.M))
    for module, hard in imported.items():
        assert debian[module] in (depends if hard else recommends), (module, hard)
        assert fedora[module] in (requires if hard else weak), (module, hard)
    listed = {p for p in depends | recommends | requires | weak if p.startswith("python3-")}
    assert listed == {debian[m] for m in imported} | {fedora[m] for m in imported}, listed


@pytest.mark.packaging
@pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild not installed")
def test_make_rpm(tmp_path: Path) -> None:
    build = tmp_path / "build"
    make("rpm", build=build)
    rpms = list((build / "rpm/RPMS/noarch").glob("lvmove-*.noarch.rpm"))
    assert len(rpms) == 1
    listing = subprocess.run(["rpm", "-qlp", str(rpms[0])], capture_output=True, text=True, check=True).stdout
    for want in ("/usr/bin/lvmove", "/usr/lib/udev/rules.d/96-lvmove.rules",
                 "/usr/lib/systemd/system/lvmove@.service", "/usr/lib/systemd/system/lvmove-vg@.service",
                 "/usr/lib/systemd/system-generators/lvmove-generator",
                 "/usr/lib/systemd/catalog/lvmove.catalog", "lvmove_hooks/cli.py"):
        assert want in listing, want


RULES_2_03_31 = """\
# vgchange -aay <vgname> is run.  (a comment: left as it is)
TEST!="/run/systemd/system", GOTO="lvm_direct_vgchange"
ENV{LVM_VG_NAME_COMPLETE}=="?*", RUN+="/usr/bin/systemd-run --no-block --property DefaultDependencies=no \
--unit lvm-activate-$env{LVM_VG_NAME_COMPLETE} /usr/sbin/lvm vgchange -aay --autoactivation event \
$env{LVM_VG_NAME_COMPLETE}"
GOTO="lvm_end"
LABEL="lvm_direct_vgchange"
ENV{LVM_VG_NAME_COMPLETE}=="?*", RUN+="/usr/sbin/lvm vgchange -aay --autoactivation event $env{LVM_VG_NAME_COMPLETE}"
"""


def test_initramfs_hook_makes_the_initramfs_activate_without_polling(tmp_path: Path) -> None:
    """The RUN lines of lvm2's 69-lvm.rules (as Debian 12 and 13 ship them) in the initramfs get `--poll n`;
    the comment, the host's own rule and a second run of the hook change nothing more."""
    hook = ROOT / "packaging/initramfs-tools/lvmove"
    assert subprocess.run(["sh", str(hook), "prereqs"], capture_output=True, text=True,
                          check=True).stdout.split() == ["lvm2"]  # runs after lvm2's hook copied the rule
    for rules_dir in ("usr/lib/udev/rules.d", "lib/udev/rules.d"):  # trixie, bookworm
        destdir = tmp_path / rules_dir.split("/")[0]
        rules = destdir / rules_dir / "69-lvm.rules"
        rules.parent.mkdir(parents=True)
        rules.write_text(RULES_2_03_31)
        for _ in range(2):
            subprocess.run(["sh", str(hook)], env={"DESTDIR": str(destdir), "PATH": "/usr/bin:/bin"}, check=True)
        text = rules.read_text()
        runs = [line for line in text.splitlines() if "RUN+=" in line]
        assert len(runs) == 2 and all(line.count("vgchange -aay --poll n --autoactivation event") == 1
                                      for line in runs), runs
        assert "# vgchange -aay <vgname> is run." in text
        assert text.replace(" --poll n", "") == RULES_2_03_31
