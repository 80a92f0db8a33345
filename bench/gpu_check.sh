#!/usr/bin/env bash
# The GPU check in one run of at most 6 minutes (each part has its own `timeout`):
#   1. the CUDA tests (tests/test_cuda.py) and the no-`datasets` test, on the GPU;
#   2. bench/bench_pretrain.py: base, seq 128, the largest batch up to 256 that fits, bf16, BERT's vocabulary,
#      ours and transformers alternating, eager and under torch.compile; model FLOPs and the fraction of the
#      H200's 790 TFLOP/s;
#   3. bench/bench_finetune.py: all-MiniLM-L6-v2 on MRPC, one epoch, ours and transformers (both paddings).
# Everything it prints, and each part's log and JSON, go into one folder: $OUT if set (the device tool sets it),
# else runs/gpu-check. It prints the precision `auto` picks and the attention kernel each model ran.
#
# The GPU machine has torch, transformers, tokenizers and safetensors but no `datasets`, no ../shared and no
# registry, so what the run needs travels in gpu-payload/ (ignored by git; 47 MiB). On the CPU machine, in the
# root of the checkout that the device tool sends (the one the calling process was started in):
#
#     python bench/gpu_payload.py
#
# then one call of the device tool:
#
#     run(command="bash bench/gpu_check.sh", carry=["gpu-payload"], timeout_s=420)
#
# GPU_CHECK_DRY_RUN=1 bash bench/gpu_check.sh (on any machine) checks the payload, runs the CUDA tests (without
# a GPU they all skip), checks the benches' flags (--help) and prints the commands a GPU run would run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu-check}"
PAYLOAD="$PWD/gpu-payload"
PYTHON="${PYTHON:-python3}"
DRY_RUN="${GPU_CHECK_DRY_RUN:-0}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 BERT_DATA_DIR="$PAYLOAD/data" BERT_MINILM_DIR="$PAYLOAD/minilm-bf16"

for file in data/glue/MRPC/train.tsv data/glue/MRPC/dev.tsv data/corpus/wikitext-2/wiki.valid.tokens \
            minilm-bf16/config.json minilm-bf16/model.safetensors minilm-bf16/vocab.txt; do
  if [ ! -f "$PAYLOAD/$file" ]; then
    echo "error: $PAYLOAD/$file is missing: run python bench/gpu_payload.py, and name gpu-payload in carry"
    exit 2
  fi
done

failed=()
summary=()
part() {  # part NAME SECONDS COMMAND...: run COMMAND for at most SECONDS; its output also goes to $OUT/NAME.log
  local name=$1 seconds=$2
  shift 2
  echo "=== $name (at most ${seconds} s): $*"
  local started=$SECONDS
  timeout -k 10 "$seconds" "$@" 2>&1 | tee "$OUT/$name.log"
  local status=${PIPESTATUS[0]}
  summary+=("$name: exit $status after $((SECONDS - started)) s$([ "$status" -eq 124 ] && echo ' (timed out)')")
  [ "$status" -eq 0 ] || failed+=("$name")
}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  "$PYTHON" - <<'EOF'
import importlib.util, torch, transformers
from training import choose_precision, device_name
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
      f"datasets installed: {importlib.util.find_spec('datasets') is not None}")
if torch.cuda.is_available():
    print(f"{device_name('cuda')}, compute capability {torch.cuda.get_device_capability()}; --precision auto: "
          f"{choose_precision('auto', 'cuda').describe()}")
else:
    print("torch sees no CUDA GPU")
EOF
} 2>&1 | tee "$OUT/environment.txt"

parallel=()
"$PYTHON" -c "import xdist" 2>/dev/null && parallel=(-n 4)  # tests in 4 processes where pytest-xdist is installed
tests=("$PYTHON" -m pytest tests/test_cuda.py tests/test_no_datasets.py -m "cuda or not slow" -v -rA
       -p no:cacheprovider "${parallel[@]}")
pretraining=("$PYTHON" bench/bench_pretrain.py --presets base --seq 128 --batch-size 256 --fit-batch
             --vocab-size 30522 --precisions bf16 --compile --repeats 10 --device cuda
             --output "$OUT/bench-pretrain.json")
fine_tuning=("$PYTHON" bench/bench_finetune.py --tasks mrpc --runs ours,hf-dynamic,hf-fixed128 --seeds 1 --epochs 1
             --device cuda --model "$BERT_MINILM_DIR" --data-dir "$BERT_DATA_DIR/glue"
             --output /tmp/gpu-check-finetune)

if [ "$DRY_RUN" = 1 ]; then
  part pytest-cuda 110 "${tests[@]}"
  part bench-pretrain 30 "${pretraining[0]}" "${pretraining[1]}" --help
  part bench-finetune 30 "${fine_tuning[0]}" "${fine_tuning[1]}" --help
  echo "a GPU run would run:"
  printf '  %s\n' "${tests[*]}" "${pretraining[*]}" "${fine_tuning[*]}"
else  # 350 s in all, and a few for the environment: inside the 6 minutes
  part pytest-cuda 110 "${tests[@]}"
  part bench-pretrain 180 "${pretraining[@]}"  # compiling both models is most of it
  part bench-finetune 60 "${fine_tuning[@]}"
  cp /tmp/gpu-check-finetune/bench.json "$OUT/bench-finetune.json" 2>/dev/null || true
fi

echo "=== summary"
printf '%s\n' "${summary[@]}"
grep -h "^precision:\|attention kernel\|GFLOP/token\|torch.compile\|--precision auto" "$OUT"/*.log "$OUT/environment.txt" \
  2>/dev/null | sort -u || true
echo "files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
[ "${#failed[@]}" -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
