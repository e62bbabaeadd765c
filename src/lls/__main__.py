"""`python -m lls` runs the command line."""

from __future__ import annotations

from lls.cli import main

raise SystemExit(main())
