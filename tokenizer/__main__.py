"""`python -m tokenizer ...` is `bert-tokenizer ...`."""

from tokenizer.cli import main

raise SystemExit(main())
