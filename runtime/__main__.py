"""``python -m runtime <step> --config FILE``: the one entry point of every step."""

from runtime.cli import main

raise SystemExit(main())
