"""`python3 -m lvmove_hooks` runs the lvmove command line."""

from lvmove_hooks.cli import main

raise SystemExit(main())
