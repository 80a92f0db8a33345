"""`python -m finetune ...` and `torchrun --nproc-per-node N -m finetune ...` are `bert-finetune ...`."""

import sys

from finetune.cli import main

sys.exit(main())
