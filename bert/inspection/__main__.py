"""`python -m bert.inspection ...` is `bert-inspect ...`."""

from bert.inspection.cli import main

raise SystemExit(main())
