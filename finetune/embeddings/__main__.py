"""`python -m finetune.embeddings ...` is `bert-embed ...`."""

import sys

from finetune.embeddings.cli import main

sys.exit(main())
