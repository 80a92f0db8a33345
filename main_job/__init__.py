"""The main job: a recipe file (recipes/*.toml) in, a pretrained BERT and its dev scores against no
pretraining out. `bert-main RECIPE` (main_job/cli.py); the recipe format: main_job/recipe.py; the steps it
runs: main_job/steps.py; the table and curves at the end: main_job/report.py."""
