"""``python -m drafast`` is the ``drafast`` console script."""

from drafast.app.cli import main

raise SystemExit(main())
