"""Allow ``python -m pcfm``."""

from pcfm.cli import main

raise SystemExit(main())
