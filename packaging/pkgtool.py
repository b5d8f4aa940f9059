#!/usr/bin/env python3
"""Helpers for lvmove's Makefile: version, pip install layout, source copies, manifest install/uninstall.

Stdlib only, so it runs with whatever python3 the Makefile was given.

  pkgtool.py version                          print [project].version from pyproject.toml
  pkgtool.py pip-prefix PREFIX                print "PIP_PREFIX LAYOUT" for `pip install --prefix`
  pkgtool.py copy-source DEST                 copy the files a package build needs (committed or not) to DEST
  pkgtool.py install STAGE DESTDIR MANIFEST   copy STAGE/* into DESTDIR/, record every file and new dir
  pkgtool.py uninstall DESTDIR MANIFEST       remove exactly what MANIFEST lists
  pkgtool.py debian-changelog DIR VERSION     make DIR/debian/changelog's top entry VERSION (build copy only)

MANIFEST is an absolute path on the target system (e.g. /usr/local/share/lvmove/install-manifest); it is
read and written below DESTDIR.  Lines are "f PATH" (file or symlink) and "d PATH" (a directory the install
created).  Uninstall removes the files, then the directories deepest first when they are empty (after
dropping __pycache__ left behind by python itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What a package build needs from the tree (tests and benchmarks are not shipped).
SOURCE_ENTRIES = (
    "Makefile",
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "README.md",
    "LICENSE",
    "COPYING",
    "DISTROS.md",
    "lvmove_hooks",
    "udev-rules",
    "units",
    "generators",
    "packaging",
    "docs",
)
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".pybuild", "build", ".git"}


def die(msg: str) -> None:
    print(f"pkgtool: {msg}", file=sys.stderr)
    raise SystemExit(1)


def version() -> str:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        data = tomllib.load(f)
    return str(data["project"]["version"])


def pip_prefix(prefix: str) -> tuple[str, str]:
    """Which `pip install --prefix` and DEB_PYTHON_INSTALL_LAYOUT give $PREFIX/bin and a sane sitedir.

    Debian's python3 appends /local to any --prefix (scheme posix_local) unless
    DEB_PYTHON_INSTALL_LAYOUT=deb_system (then: PREFIX/lib/python3/dist-packages).  So PREFIX=/usr/local
    becomes "--prefix /usr" with posix_local (/usr/local/lib/python3.X/dist-packages, on sys.path), and any
    other PREFIX uses deb_system.  Other pythons ignore the variable and use posix_prefix.
    """
    prefix = prefix.rstrip("/") or "/"
    if "posix_local" in sysconfig.get_scheme_names() and prefix.endswith("/local"):
        return prefix[: -len("/local")] or "/", "posix_local"
    return prefix, "deb_system"


def _git_files() -> set[str] | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {p for p in out.decode().split("\0") if p}


def source_files() -> list[str]:
    """Files of SOURCE_ENTRIES, committed or not, minus git-ignored ones and build droppings."""
    known = _git_files()
    files: list[str] = []
    for entry in SOURCE_ENTRIES:
        top = ROOT / entry
        if top.is_file():
            candidates = [entry]
        elif top.is_dir():
            candidates = [
                str(p.relative_to(ROOT)) for p in sorted(top.rglob("*")) if p.is_file() or p.is_symlink()
            ]
        else:
            continue
        for rel in candidates:
            parts = Path(rel).parts
            if SKIP_PARTS.intersection(parts) or rel.endswith((".pyc", "~")) or ".egg-info" in rel:
                continue
            if known is not None and rel not in known:
                continue  # git-ignored
            files.append(rel)
    return files


def copy_source(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in source_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)


def _read_manifest(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, _, name = line.partition(" ")
        if kind in ("f", "d") and name.startswith("/"):
            entries.append((kind, name))
    return entries


def install(stage: Path, destdir: str, manifest: str) -> None:
    root = Path(destdir or "/")
    root.mkdir(parents=True, exist_ok=True)  # DESTDIR itself is not ours to record
    mpath = root / manifest.lstrip("/")
    old = _read_manifest(mpath) if mpath.exists() else []
    old_dirs = {n for k, n in old if k == "d"}
    old_files = {n for k, n in old if k == "f"}
    files: list[str] = []
    dirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(stage):
        dirnames.sort()
        rel_dir = "/" + os.path.relpath(dirpath, stage) if dirpath != str(stage) else "/"
        rel_dir = os.path.normpath(rel_dir)
        target_dir = root / rel_dir.lstrip("/")
        if rel_dir != "/":
            if not target_dir.is_dir():
                target_dir.mkdir()
                shutil.copymode(dirpath, target_dir)
                dirs.append(rel_dir)
            elif rel_dir in old_dirs:
                dirs.append(rel_dir)  # created by an earlier install of ours
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            src = Path(dirpath, name)
            dst = target_dir / name
            if dst.is_symlink() or dst.exists():
                if dst.is_dir() and not dst.is_symlink():
                    die(f"{dst} is a directory, refusing to replace it")
                dst.unlink()
            shutil.copy2(src, dst, follow_symlinks=False)
            files.append(os.path.join(rel_dir, name))
    # the manifest itself, and the directories it needs
    for parent in reversed(Path(manifest).parents):
        p = str(parent)
        if p == "/":
            continue
        if not (root / p.lstrip("/")).is_dir():
            (root / p.lstrip("/")).mkdir(mode=0o755)
            dirs.append(p)
        elif p in old_dirs and p not in dirs:
            dirs.append(p)
    files.append(manifest)
    # an earlier install of another version: drop what it had and this one has not
    for name in sorted(old_files - set(files)):
        stale = root / name.lstrip("/")
        if stale.is_symlink() or stale.is_file():
            stale.unlink()
    for name in sorted(old_dirs - set(dirs), key=lambda n: n.count("/"), reverse=True):
        if not _remove_dir(root / name.lstrip("/")):
            dirs.append(name)
    lines = [f"f {f}" for f in files] + [f"d {d}" for d in dirs]
    mpath.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(mpath, 0o644)
    print(f"installed {len(files)} files; manifest {mpath}")
    for init in stage.rglob("lvmove_hooks/__init__.py"):
        sitedir = "/" + str(init.parent.parent.relative_to(stage))
        if sitedir not in sys.path:
            print(f"pkgtool: warning: {sitedir} is not on {sys.executable}'s module path: the unit, the "
                  "generator and the lvmove command will not find lvmove_hooks (use PREFIX=/usr or "
                  "/usr/local)", file=sys.stderr)


def _remove_dir(path: Path) -> bool:
    """rmdir, after dropping a __pycache__ of only .pyc files; True when the directory is gone."""
    cache = path / "__pycache__"
    if cache.is_dir() and all(c.suffix == ".pyc" for c in cache.iterdir()):
        shutil.rmtree(cache)
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def uninstall(destdir: str, manifest: str) -> None:
    root = Path(destdir or "/")
    mpath = root / manifest.lstrip("/")
    if not mpath.exists():
        die(f"no manifest at {mpath}: nothing installed with this PREFIX/DESTDIR (or installed by a package)")
    entries = _read_manifest(mpath)
    removed = 0
    for kind, name in entries:
        if kind != "f":
            continue
        p = root / name.lstrip("/")
        if p.is_symlink() or p.is_file():
            p.unlink()
            removed += 1
    dirs = sorted((n for k, n in entries if k == "d"), key=lambda n: n.count("/"), reverse=True)
    left = [str(root / name.lstrip("/")) for name in dirs if not _remove_dir(root / name.lstrip("/"))]
    print(f"removed {removed} files")
    for p in left:
        print(f"pkgtool: kept {p}: not empty (files not installed by lvmove)", file=sys.stderr)


def debian_changelog(pkgdir: Path, ver: str) -> None:
    path = pkgdir / "debian" / "changelog"
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    current = first.split("(", 1)[1].split(")", 1)[0]
    if current == ver:
        return
    print(f"pkgtool: debian/changelog says {current}, pyproject.toml {ver}: adding an entry in the build copy",
          file=sys.stderr)
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    trailer = next(line for line in text.splitlines() if line.startswith(" -- "))
    who = trailer[4:].split(">", 1)[0] + ">"
    entry = (
        f"lvmove ({ver}) unstable; urgency=medium\n\n"
        f"  * Snapshot build of {ver} (entry added by make deb).\n\n"
        f" -- {who}  {stamp}\n\n"
    )
    path.write_text(entry + text, encoding="utf-8")


def main(argv: list[str]) -> None:
    if not argv:
        die("usage: see the module docstring")
    cmd, args = argv[0], argv[1:]
    if cmd == "version" and not args:
        print(version())
    elif cmd == "pip-prefix" and len(args) == 1:
        print(*pip_prefix(args[0]))
    elif cmd == "source-files" and not args:
        print("\n".join(source_files()))
    elif cmd == "copy-source" and len(args) == 1:
        copy_source(Path(args[0]))
    elif cmd == "install" and len(args) == 3:
        install(Path(args[0]), args[1], args[2])
    elif cmd == "uninstall" and len(args) == 2:
        uninstall(args[0], args[1])
    elif cmd == "debian-changelog" and len(args) == 2:
        debian_changelog(Path(args[0]), args[1])
    else:
        die(f"bad arguments: {' '.join(argv)}")


if __name__ == "__main__":
    main(sys.argv[1:])
