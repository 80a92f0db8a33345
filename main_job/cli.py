"""`bert-main RECIPE` (also `python -m main_job RECIPE`): the main job, as a recipe file describes it.
A text corpus in, our own pretrained BERT, dev scores out, beside the same model fine-tuned without pretraining.

    bert-main recipes/default.toml --local-data ../shared/data     # the corpus and GLUE from ../shared/data
    bert-main recipes/mlm-only-2h.toml --dry-run                     # every step's command line, nothing run
    bert-main recipes/default.toml --set 'finetune.seeds=[1,2,3]' --set pretrain.phases.mlm.time-budget=20m

Steps (main_job/steps.py): a WordPiece vocabulary, the recipe's pretraining phases, the fine-tunes; then a
table of the dev scores (median and range over the seeds), the pretraining curves of all phases on one clock
(<work-dir>/pretraining.png) and what each phase bought on this machine. Re-running reuses every finished step.
The recipe format: main_job/recipe.py; the recipes of the figures in docs/results.md: recipes/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bert.errors import InputError
from training import add_precision_flag

from . import report, steps
from .recipe import load_recipe


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bert-main", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("recipe", type=Path, help="a recipe file, e.g. recipes/default.toml")
    p.add_argument("--local-data", type=Path, metavar="DIR",
                   help="read the data from DIR instead of the Hub: the same as --set data.corpus=DIR/corpus "
                        "--set data.glue-dir=DIR/glue --set data.ner-dir=DIR/ner (e.g. ../shared/data)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="change one key of the recipe (after --local-data), the value in TOML syntax; a value that "
                        "is not TOML is a string: --set finetune.lr=3e-4 --set data.corpus=my/corpus "
                        "--set 'finetune.seeds=[1,2,3]'. Repeatable")
    add_precision_flag(p)
    p.add_argument("--dry-run", action="store_true", help="print every step's command line and stop")
    return p.parse_args(argv)


def local_data_settings(directory: Path | None) -> list[str]:
    if directory is None:
        return []
    return [f"data.corpus={directory / 'corpus'}", f"data.glue-dir={directory / 'glue'}",
            f"data.ner-dir={directory / 'ner'}"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, [*local_data_settings(args.local_data), *args.settings])
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the machine's precision for the training steps, when the user forced one; else each step picks its own
    job = steps.plan(recipe, ["--precision", args.precision] if args.precision != "auto" else [])
    if args.dry_run:
        steps.print_plan(job)
        return 0
    try:
        steps.run(job)
    except steps.StepFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    report.plot_pretraining(job.phases, recipe.work_dir)
    report.print_table(job.runs, steps.total_budget_words(recipe.phases), recipe.seeds, recipe.task_flags)
    report.print_pretraining_summary(job.phases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
