"""`python -m finetune.task_text ...`: finetune/task_text/cli.py."""

import sys

from finetune.task_text.cli import main

sys.exit(main())
