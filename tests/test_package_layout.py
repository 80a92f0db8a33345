"""The packages' import rules: only command-line modules (cli.py, *_cli.py, __main__.py) import argparse, no
module imports a command-line module, nothing reads argparse's private attributes, no package module imports
transformers or sentence_transformers (references for tests and benchmarks), the model's modules import
nothing from the tokenizer, training or fine-tuning packages, `import bert` does not load bert-inspect, and
every console script is a command-line module's main."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bert", "tokenizer", "pretrain", "finetune", "training", "main_job")
MODEL_MODULES = ("config", "model", "heads", "checkpoint", "distilbert", "errors", "files", "pooling")


def is_command_line(path: Path) -> bool:
    return path.name in ("cli.py", "__main__.py") or path.name.endswith("_cli.py")


def modules() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]


def imported(path: Path) -> list[str]:
    """Every module name an import statement of `path` names (from X import y gives X and X.y)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def command_line_module_names() -> set[str]:
    return {".".join(path.relative_to(REPO).with_suffix("").parts) for path in modules() if is_command_line(path)}


def test_only_command_line_modules_import_argparse_and_none_imports_one():
    cli_names = command_line_module_names()
    for path in modules():
        names = imported(path)
        if not is_command_line(path):
            assert "argparse" not in names, path
        if path.name != "__main__.py":  # `python -m package` runs the package's command line
            assert not [name for name in names if name in cli_names], path  # no module imports a command line
        assert "_option_string_actions" not in path.read_text(encoding="utf-8"), path


def test_no_package_module_imports_transformers():
    for path in modules():
        assert not [name for name in imported(path) if name.split(".")[0] in ("transformers", "sentence_transformers")
                    ], path


def test_the_models_modules_import_only_the_model_package():
    for name in MODEL_MODULES:
        path = REPO / "bert" / f"{name}.py"
        assert path.is_file(), path
        outside = [n for n in imported(path) if n.split(".")[0] in PACKAGES and n.split(".")[0] != "bert"]
        assert not outside, (path, outside)


def test_import_bert_does_not_load_the_inspection_program():
    code = "import sys, bert; print(sorted(m for m in sys.modules if m.startswith(('bert.inspection', 'tokenizer', " \
           "'training', 'finetune'))))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_console_script_names_a_command_line_main():
    import importlib
    import tomllib
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts, "pyproject.toml lists no console scripts"
    for command, target in scripts.items():
        module_name, _, function = target.partition(":")
        assert module_name in command_line_module_names(), (command, module_name)
        assert callable(getattr(importlib.import_module(module_name), function)), (command, target)
