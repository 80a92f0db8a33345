"""`python -m finetune.export ...` is `bert-export ...`."""

import sys

from finetune.export.cli import main

sys.exit(main())
