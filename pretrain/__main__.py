"""`python -m pretrain ...` and `torchrun --nproc-per-node N -m pretrain ...` run `bert-pretrain`."""
import sys

from pretrain.cli import main

sys.exit(main())
