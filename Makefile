# lvmove: build, install and package.
#
#   make                      build the wheel (build/wheel/)
#   make install              install everything under PREFIX (default /usr/local) + system dirs, keep a manifest
#   make uninstall            remove exactly what `make install` put there (same PREFIX/DESTDIR)
#   make install-data         only the non-Python files (rule, unit, generator, catalog, man, completion);
#                             used by packaging/debian/rules and packaging/rpm/lvmove.spec
#   make man                  render the man pages with man -l, fail on any warning
#   make deb                  build/deb/lvmove_<version>_all.deb (dpkg-buildpackage -b on a copy of the tree)
#   make rpm                  build/rpm/RPMS/noarch/lvmove-<version>-1*.noarch.rpm (rpmbuild -bb)
#   make check-packaging      lintian on the .deb (errors and warnings fail, infos are listed)
#   make test                 the fast test suite
#
# System directories come from pkg-config (udev: udevdir; systemd: systemdsystemunitdir,
# systemdsystemgeneratordir, catalogdir; bash-completion: completionsdir), with fallbacks when a .pc file is
# absent.  Each can be overridden on the command line (UDEVDIR=..., UNITDIR=..., ...).

PACKAGE       := lvmove
SHELL         := /bin/sh
PKG_CONFIG    ?= pkg-config
# System services run the distribution's python3, so install for that one by default.
PYTHON        ?= $(firstword $(wildcard /usr/bin/python3) python3)
PIP           ?= $(PYTHON) -m pip
INSTALL       ?= install

DESTDIR       ?=
PREFIX        ?= /usr/local
prefix        ?= $(PREFIX)
bindir        ?= $(prefix)/bin
datadir       ?= $(prefix)/share
mandir        ?= $(datadir)/man

# pkg-config variable or fallback; evaluated once.
pcvar = $(or $(shell $(PKG_CONFIG) --variable=$(2) $(1) 2>/dev/null),$(3))
ifeq ($(origin UDEVDIR),undefined)
UDEVDIR       := $(call pcvar,udev,udevdir,/usr/lib/udev)
endif
ifeq ($(origin UNITDIR),undefined)
UNITDIR       := $(call pcvar,systemd,systemdsystemunitdir,/usr/lib/systemd/system)
endif
ifeq ($(origin GENERATORDIR),undefined)
GENERATORDIR  := $(call pcvar,systemd,systemdsystemgeneratordir,/usr/lib/systemd/system-generators)
endif
ifeq ($(origin CATALOGDIR),undefined)
CATALOGDIR    := $(call pcvar,systemd,catalogdir,/usr/lib/systemd/catalog)
endif
ifeq ($(origin COMPLETIONSDIR),undefined)
COMPLETIONSDIR := $(call pcvar,bash-completion,completionsdir,/usr/share/bash-completion/completions)
endif
RULESDIR      ?= $(UDEVDIR)/rules.d
MANIFEST      ?= $(datadir)/$(PACKAGE)/install-manifest
# lvmove's state (pause flags, metrics counters): a fixed path, not under PREFIX. The unit may write it
# (ReadWritePaths=) only when it exists, so the package ships the empty directory.
STATEDIR      ?= /var/lib/$(PACKAGE)
# initramfs-tools hook (Debian and derivatives): the initramfs activates VGs without polling pvmoves. Installed
# only when set (packaging/debian/rules sets /usr/share/initramfs-tools/hooks; dracut systems: see DISTROS.md).
INITRAMFS_HOOKDIR ?=

BUILDDIR      := build
STAGE         := $(BUILDDIR)/stage
PKGTOOL       := $(PYTHON) packaging/pkgtool.py
VERSION        = $(shell $(PKGTOOL) version)
# Package builds get a clean environment: distribution tools, not a developer's pyenv/venv.
PKG_ENV       := env -u PYTHONPATH -u VIRTUAL_ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin

RULE          := udev-rules/96-lvmove.rules
UNIT          := units/lvmove@.service
VGUNIT        := units/lvmove-vg@.service
GENERATOR     := generators/lvmove-generator
CATALOG       := packaging/lvmove.catalog
COMPLETION    := packaging/bash-completion/lvmove
INITRAMFS_HOOK := packaging/initramfs-tools/lvmove
MAN8          := docs/man/lvmove.8 docs/man/lvmove@.service.8 docs/man/lvmove-generator.8
MAN5          := docs/man/lvmove.yaml.5
MANPAGES      := $(MAN8) $(MAN5)

# The unit and the rule call /usr/bin/lvmove; an install elsewhere rewrites that path.
REWRITE       := sed -e 's|/usr/bin/lvmove\b|$(bindir)/lvmove|g'

.PHONY: all wheel install install-data install-python uninstall post-install man deb rpm \
        check-packaging test dist clean

all: wheel

# Built from a fresh copy of the tree, so setuptools' build/lib and *.egg-info never land in the tree and a
# deleted module never lingers in the wheel.
# Rebuilt only when a Python source changes (the directory's mtime covers added and removed modules).
WHEEL_STAMP   := $(BUILDDIR)/wheel/.built
PY_SOURCES    := pyproject.toml lvmove_hooks $(wildcard lvmove_hooks/*.py README.md setup.cfg setup.py)

wheel: $(WHEEL_STAMP)

$(WHEEL_STAMP): $(PY_SOURCES)
	rm -rf $(BUILDDIR)/wheel $(BUILDDIR)/wheel-src
	$(PKGTOOL) copy-source $(BUILDDIR)/wheel-src
	$(PIP) wheel --no-deps --no-build-isolation --no-cache-dir --disable-pip-version-check \
	    -w $(abspath $(BUILDDIR)/wheel) $(abspath $(BUILDDIR)/wheel-src)
	touch $@

# ---------------------------------------------------------------------------------------------- install
install-data:
	$(INSTALL) -d $(DESTDIR)$(RULESDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(GENERATORDIR) \
	    $(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(COMPLETIONSDIR) $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8
	$(REWRITE) $(RULE) > $(DESTDIR)$(RULESDIR)/96-lvmove.rules
	chmod 0644 $(DESTDIR)$(RULESDIR)/96-lvmove.rules
	$(REWRITE) $(UNIT) > '$(DESTDIR)$(UNITDIR)/lvmove@.service'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/lvmove@.service'
	$(REWRITE) $(VGUNIT) > '$(DESTDIR)$(UNITDIR)/lvmove-vg@.service'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/lvmove-vg@.service'
	$(INSTALL) -m 0755 $(GENERATOR) $(DESTDIR)$(GENERATORDIR)/lvmove-generator
	$(INSTALL) -m 0644 $(CATALOG) $(DESTDIR)$(CATALOGDIR)/lvmove.catalog
	$(INSTALL) -m 0644 $(COMPLETION) $(DESTDIR)$(COMPLETIONSDIR)/lvmove
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(mandir)/man8/
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(mandir)/man5/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(STATEDIR)
	if [ -n '$(INITRAMFS_HOOKDIR)' ]; then \
	    $(INSTALL) -d $(DESTDIR)$(INITRAMFS_HOOKDIR) && \
	    $(INSTALL) -m 0755 $(INITRAMFS_HOOK) $(DESTDIR)$(INITRAMFS_HOOKDIR)/lvmove; fi

# The wheel, installed by pip into the stage (see pkgtool.py pip-prefix for Debian's python layout).
install-python: $(WHEEL_STAMP)
	set -e; set -- $$($(PKGTOOL) pip-prefix $(prefix)); \
	DEB_PYTHON_INSTALL_LAYOUT=$$2 $(PIP) install --no-deps --no-index --ignore-installed --no-compile \
	    --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
	    --root $(abspath $(STAGE)) --prefix $$1 $(BUILDDIR)/wheel/*.whl
	@test -x $(STAGE)$(bindir)/lvmove || { \
	    echo "make: pip did not put lvmove into $(bindir); set bindir/PREFIX to match this python" >&2; exit 1; }

install:
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install-python install-data DESTDIR=$(abspath $(STAGE))
	$(PKGTOOL) install $(STAGE) '$(DESTDIR)' $(MANIFEST)
	@if [ -z '$(DESTDIR)' ]; then $(MAKE) --no-print-directory post-install; fi

# Nothing to enable: the rule, the generator and `lvmove start` start lvmove@.service instances.
post-install:
	@if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then \
	    echo "systemctl daemon-reload"; systemctl daemon-reload || true; fi
	@if [ -S /run/udev/control ] && command -v udevadm >/dev/null; then \
	    echo "udevadm control --reload"; udevadm control --reload || true; fi
	@if command -v journalctl >/dev/null; then journalctl --update-catalog || true; fi

uninstall:
	$(PKGTOOL) uninstall '$(DESTDIR)' $(MANIFEST)
	@if [ -z '$(DESTDIR)' ]; then $(MAKE) --no-print-directory post-install; fi

# ---------------------------------------------------------------------------------------------- man pages
man:
	@mkdir -p $(BUILDDIR)/man; rc=0; \
	for page in $(MANPAGES); do \
	    out=$(BUILDDIR)/man/$$(basename $$page).txt; \
	    LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l $$page > $$out 2> $$out.err; \
	    if [ -s $$out.err ] || [ ! -s $$out ]; then echo "$$page: warnings:"; cat $$out.err; rc=1; \
	    else echo "$$page: ok ($$(wc -l < $$out) lines)"; fi; \
	done; exit $$rc

# ---------------------------------------------------------------------------------------------- packages
dist:
	rm -rf $(BUILDDIR)/dist && mkdir -p $(BUILDDIR)/dist
	$(PKGTOOL) copy-source $(BUILDDIR)/dist/$(PACKAGE)-$(VERSION)
	tar -C $(BUILDDIR)/dist --owner=0 --group=0 --sort=name -czf \
	    $(BUILDDIR)/dist/$(PACKAGE)-$(VERSION).tar.gz $(PACKAGE)-$(VERSION)
	@echo $(BUILDDIR)/dist/$(PACKAGE)-$(VERSION).tar.gz

# A copy of the tree (uncommitted files included) with packaging/debian as debian/; no debian/ at the top.
deb:
	rm -rf $(BUILDDIR)/deb && mkdir -p $(BUILDDIR)/deb
	$(PKGTOOL) copy-source $(BUILDDIR)/deb/$(PACKAGE)-$(VERSION)
	cp -a packaging/debian $(BUILDDIR)/deb/$(PACKAGE)-$(VERSION)/debian
	$(PKGTOOL) debian-changelog $(BUILDDIR)/deb/$(PACKAGE)-$(VERSION) $(VERSION)
	cd $(BUILDDIR)/deb/$(PACKAGE)-$(VERSION) && $(PKG_ENV) dpkg-buildpackage -us -uc -b
	@ls -l $(BUILDDIR)/deb/$(PACKAGE)_$(VERSION)_all.deb

# Hosts without Fedora's systemd/python/pyproject rpm macros (e.g. Debian) get them from a shim file.
RPM_SHIM       = $(if $(shell rpm --eval '%{?_unitdir}' 2>/dev/null),,--load=packaging/rpm/macros.nonfedora --nodeps)
rpm: dist
	rm -rf $(BUILDDIR)/rpm && mkdir -p $(BUILDDIR)/rpm/SOURCES
	cp $(BUILDDIR)/dist/$(PACKAGE)-$(VERSION).tar.gz $(BUILDDIR)/rpm/SOURCES/
	$(PKG_ENV) rpmbuild -bb $(RPM_SHIM) --define '_topdir $(abspath $(BUILDDIR)/rpm)' \
	    --define 'lvmove_version $(VERSION)' packaging/rpm/lvmove.spec
	@ls -l $(BUILDDIR)/rpm/RPMS/noarch/

check-packaging: deb
	$(PKG_ENV) lintian --fail-on error,warning --display-info --info \
	    $(BUILDDIR)/deb/$(PACKAGE)_$(VERSION)_all.deb

test:
	$(PYTHON) -m pytest -q -m 'not vm and not packaging'

clean:
	rm -rf $(BUILDDIR) *.egg-info
