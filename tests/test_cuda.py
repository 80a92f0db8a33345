"""The CUDA paths, where a GPU is: bf16 autocast against fp32, what `--precision auto` picks, fp16 with the loss
scaler, SDPA's fused kernels with a padding mask, exact resumption, torchrun with NCCL, and a real fine-tune.

`pytest -m cuda` selects these; without a GPU each one skips, saying so. bench/gpu_check.sh runs them on a lent
GPU machine, with $BERT_DATA_DIR and $BERT_MINILM_DIR naming the data and checkpoint it carries (conftest.py).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import bert
from bert.inspection.forward_pass import attention_kernels
from finetune import cli as finetune_cli
from pretrain.cli import main as pretrain
from training import Precision, build_optimizer, choose_precision
from test_model_parity import labels_for, make_batch
from test_pretrain_run import REPO, TINY, cli_args, metrics, subprocess_env, weights, write_story_corpus

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: torch sees none")]

BF16 = Precision("bf16", "cuda", "the test's")
FUSED = {"flash", "memory-efficient", "cuDNN"}


def on_gpu(batch: dict) -> dict:
    return {name: tensor.cuda() for name, tensor in batch.items()}


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got.float() - expected.float()).norm() / expected.float().norm()).item()


def gpu_pretrain_args(corpus, output, cache, config, *extra) -> list[str]:
    """test_pretrain_run's command line on the GPU, at the precision `auto` picks there (bf16 on Ampere and later)."""
    return [arg for arg in cli_args(corpus, output, cache, config) if arg != "--no-bf16"] + ["--device", "cuda", *extra]


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda-pretrain")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    return {"root": root, "corpus": write_story_corpus(root / "stories.txt"), "cache": root / "cache", "config": config}


# ------------------------------------------------------------------ precision


def test_auto_picks_bf16_on_a_gpu_with_native_bf16():
    """Native bf16 is compute capability 8.0 (Ampere) and later; before it, fp16 with loss scaling."""
    chosen = choose_precision("auto", "cuda")
    print(chosen.describe())
    native = torch.cuda.get_device_capability()[0] >= 8
    assert (chosen.name, chosen.device_type) == ("bf16" if native else "fp16", "cuda")
    assert torch.cuda.get_device_name() in chosen.reason


@pytest.mark.parametrize("preset", ["mini", "base"])
def test_bf16_training_step_is_finite_and_its_forward_is_fp32s_within_bf16_rounding(preset):
    """bf16 keeps 8 bits of mantissa (a rounding of 2^-9 relative); through 12 layers the outputs stay within 5%
    of fp32's in norm (measured on an AVX-512 CPU's native bf16: at most 2%, base's NSP logits)."""
    torch.manual_seed(0)
    config = bert.BertConfig.from_preset(preset, vocab_size=30522)
    model = bert.BertForPreTraining(config).cuda()
    batch, generator = make_batch(config.vocab_size, config.type_vocab_size)  # rows of 19, 11, 7, 14 tokens
    batch = on_gpu({**batch, **labels_for("BertForPreTraining", batch, {}, generator)})
    with torch.no_grad():
        fp32 = model.eval()(**batch)
        with BF16.autocast():
            bf16 = model(**batch)
    for name in ("prediction_logits", "seq_relationship_logits"):
        assert relative_error(getattr(bf16, name), getattr(fp32, name)) < 0.05, name
    assert abs(bf16.loss.item() - fp32.loss.item()) < 0.01 * fp32.loss.item()

    optimizer = build_optimizer(model, 1e-4)  # fused AdamW
    model.train()
    with BF16.autocast():
        loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    optimizer.step()
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())  # fp32 master weights


def test_fp16_pretraining_with_the_loss_scaler_learns_and_skips_few_steps(shared_data, tmp_path):
    """300 mini steps on WikiText-2 (validation file, 1.1 MB) in fp16: the loss falls, the steps whose gradients
    overflowed are counted (at the start the scaler backs off from 2^16 until the gradients fit), and no
    overflow is taken for a divergence."""
    corpus = shared_data / "corpus" / "wikitext-2" / "wiki.valid.tokens"
    if not corpus.is_file():
        pytest.skip(f"{corpus} is absent")
    output = tmp_path / "fp16"
    assert pretrain(["--corpus", str(corpus), "--output", str(output), "--cache-dir", str(tmp_path / "cache"),
                     "--preset", "mini", "--vocab-size", "8192", "--max-seq-length", "128", "--batch-size", "32",
                     "--lr", "5e-4", "--warmup-steps", "30", "--max-steps", "300", "--eval-every", "100",
                     "--eval-fraction", "0.05", "--eval-examples", "256", "--log-every", "10", "--device", "cuda",
                     "--precision", "fp16", "--no-progress", "--num-workers", "4", "--seed", "0"]) == 0
    records, summary = metrics(output), json.loads((output / "summary.json").read_text())
    evals = [r["eval_mlm_loss"] for r in records if "eval_mlm_loss" in r]
    print(f"fp16: held-out MLM loss {evals}, skipped steps {summary['skipped_steps']}")
    assert summary["precision"] == "fp16" and summary["steps"] == 300
    assert evals[-1] < evals[0] - 1.0  # from ~ln(8192) = 9.0 down
    logged = [r["skipped_steps"] for r in records if "skipped_steps" in r]
    assert len(logged) == 30 and sum(logged) == summary["skipped_steps"]
    assert summary["skipped_steps"] <= 15  # few: 5% of the steps at most


# ------------------------------------------------------------------ attention


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_sdpa_with_a_padding_mask_equals_attention_spelled_out_and_runs_fused(dtype):
    """With a padding mask SDPA cannot run flash attention's kernel (it takes no mask) but can run the
    memory-efficient one: that (or another fused kernel) is what runs by default, flash where there is no mask
    (in bf16), forcing the fused kernels alone works in training too, and the result equals
    softmax(QK^T/sqrt(d) + mask)V computed step by step."""
    precision = Precision(dtype, "cuda", "the test's")
    torch.manual_seed(0)
    config = bert.BertConfig.from_preset("mini", vocab_size=1000)
    model = bert.BertModel(config).cuda().eval()
    batch = on_gpu(make_batch(config.vocab_size, config.type_vocab_size)[0])
    real = batch["attention_mask"].bool()
    with torch.no_grad(), precision.autocast():
        kernels = attention_kernels(lambda: model(**batch))
        unmasked = attention_kernels(lambda: model(batch["input_ids"]))  # no mask at all
        fused = model(**batch).last_hidden_state[real]
        for layer in model.encoder.layers:
            layer.attention.keep_weights = True  # the step-by-step path
        spelled_out = model(**batch).last_hidden_state[real]
    print(f"{dtype}: attention kernel {kernels} with the padding mask, {unmasked} without one")
    assert kernels and set(kernels) <= FUSED, kernels
    if dtype == "bf16":
        assert unmasked and set(unmasked) <= {"flash", "cuDNN"}, unmasked  # flash's kernel needs 16 bits, no mask
    # fp32: the fused kernel may multiply in TF32 (10 bits of mantissa) where the spelled-out matmuls do not
    assert (fused.float() - spelled_out.float()).abs().max().item() < (5e-3 if dtype == "fp32" else 0.1)
    assert relative_error(fused, spelled_out) < (1e-3 if dtype == "fp32" else 0.02)

    from torch.nn.attention import SDPBackend, sdpa_kernel

    for layer in model.encoder.layers:
        layer.attention.keep_weights = False
    model.train()  # attention dropout 0.1, inside the fused kernel
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]), precision.autocast():
        trained = attention_kernels(lambda: model(**batch).last_hidden_state[real].sum().backward())
    assert trained and set(trained) <= {"flash", "memory-efficient"}, trained
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ------------------------------------------------------------------ resumption and processes

# `python -m pretrain` in deterministic mode, SIGKILLed once optimizer step DIE_AT is done (before the engine's
# checkpoint of that step): a kill at a known point. CUDA's default kernels may add in any order (atomics, split
# reductions); torch.use_deterministic_algorithms picks ones that do not, flash and memory-efficient attention's
# backward included, and raises where an op has none.
DETERMINISTIC_DRIVER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.use_deterministic_algorithms(True)
    from pretrain import cli
    from pretrain.job import PretrainingJob

    after_step = PretrainingJob.after_step
    def after_step_then_die(self, step, stats, elapsed):
        after_step(self, step, stats, elapsed)
        if step == int(os.environ["DIE_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)
    PretrainingJob.after_step = after_step_then_die
    sys.exit(cli.main(sys.argv[1:]))
""")


def run_deterministic(args: list[str], die_at: int = -1) -> subprocess.CompletedProcess:
    env = {**subprocess_env(), "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "DIE_AT": str(die_at)}
    return subprocess.run([sys.executable, "-c", DETERMINISTIC_DRIVER, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_sigkill_then_resume_on_the_gpu_equals_an_uninterrupted_run_bit_for_bit(tiny_setup):
    """In bf16 with dropout (its masks drawn on the GPU from the step's seed), deterministic algorithms: the
    weights and every logged figure but the timings are equal to the last bit."""
    s = tiny_setup
    common = ["--max-steps", "60", "--eval-every", "20", "--save-every", "20"]
    reference = s["root"] / "reference"
    done = run_deterministic(gpu_pretrain_args(s["corpus"], reference, s["cache"], s["config"], "--vocab-size", "180",
                                               *common))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "precision: bf16" in done.stderr or "precision: fp16" in done.stderr

    output = s["root"] / "killed"
    args = gpu_pretrain_args(s["corpus"], output, s["cache"], s["config"], "--vocab", str(reference), *common)
    killed = run_deterministic(args, die_at=30)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert [p.name for p in (output / "checkpoints").glob("step-*")] == ["step-00000020"]
    resumed = run_deterministic([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout and "(step 20)" in resumed.stdout

    expected, got = weights(reference), weights(output)
    assert expected.keys() == got.keys()
    assert max((expected[k] - got[k]).abs().max().item() for k in expected) == 0.0
    drop_timing = lambda r: {k: v for k, v in r.items() if k not in ("tokens_per_s", "elapsed_s")}  # noqa: E731
    assert [drop_timing(r) for r in metrics(output)] == [drop_timing(r) for r in metrics(reference)]


# torchrun with one process: our DistributedContext makes no process group for a world of one, so this also
# joins an NCCL group itself and trains our model one step under DistributedDataParallel on it.
NCCL_DRIVER = textwrap.dedent("""
    import copy, json, os
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    import bert
    from test_model_parity import labels_for, make_batch

    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl")
    total = torch.ones(3, device="cuda")
    dist.all_reduce(total)
    torch.manual_seed(0)
    config = bert.BertConfig.from_preset("tiny", vocab_size=1000, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0)
    plain = bert.BertForPreTraining(config).cuda()
    wrapped = DistributedDataParallel(copy.deepcopy(plain), device_ids=[torch.cuda.current_device()])
    batch, generator = make_batch(config.vocab_size, config.type_vocab_size)
    batch = {k: v.cuda() for k, v in {**batch, **labels_for("BertForPreTraining", batch, {}, generator)}.items()}
    plain(**batch).loss.backward()
    wrapped(**batch).loss.backward()
    gap = max((p.grad - q.grad).abs().max().item() for p, q in zip(plain.parameters(), wrapped.module.parameters()))
    print(json.dumps({"backend": dist.get_backend(), "world": dist.get_world_size(), "all_reduce": total.tolist(),
                      "gradient_gap": gap}))
    dist.destroy_process_group()
""")


def test_torchrun_with_one_process_on_nccl(tiny_setup):
    s = tiny_setup
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]  # = torchrun
    env = {**subprocess_env(), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    nccl = subprocess.run([*torchrun, "--no-python", sys.executable, "-c", NCCL_DRIVER], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert nccl.returncode == 0, nccl.stderr[-3000:]
    print(nccl.stdout)
    report = json.loads(nccl.stdout.strip().splitlines()[-1])
    assert (report["backend"], report["world"], report["all_reduce"]) == ("nccl", 1, [1.0, 1.0, 1.0])
    assert report["gradient_gap"] < 1e-6  # a world of one: DDP's averaged gradient is the process's own

    output = s["root"] / "torchrun"
    args = gpu_pretrain_args(s["corpus"], output, s["cache"], s["config"], "--vocab-size", "180", "--max-steps", "20",
                             "--eval-every", "20")
    result = subprocess.run([*torchrun, "-m", "pretrain", *args], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((output / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["device"] == torch.cuda.get_device_name()
    assert summary["eval_last"]["eval_mlm_loss"] < summary["eval_first"]["eval_mlm_loss"]


# ------------------------------------------------------------------ a real fine-tune


def test_minilm_learns_mrpc_in_one_epoch_on_the_gpu(minilm_path, shared_data, tmp_path):
    """One epoch of all-MiniLM-L6-v2 on MRPC (3,668 pairs) at the GPU's `auto` precision. On the CPU the same
    recipe scored F1 0.818-0.820, accuracy 0.706 (docs/performance.md); always answering "paraphrase" scores
    F1 0.812, accuracy 0.684."""
    output = tmp_path / "mrpc"
    assert finetune_cli.main(["--task", "mrpc", "--model", str(minilm_path), "--data-dir", str(shared_data / "glue"),
                              "--output", str(output), "--seeds", "1", "--epochs", "1", "--lr", "5e-5",
                              "--batch-size", "32", "--device", "cuda"]) == 0
    summary = json.loads((output / "summary.json").read_text())
    print(f"MRPC after one epoch on {torch.cuda.get_device_name()}: {summary['median']}, "
          f"{summary['epoch_seconds']} s/epoch, {summary['precision']}")
    assert summary["precision"] == choose_precision("auto", "cuda").name
    assert summary["median"]["accuracy"] > 0.69 and summary["median"]["f1"] > 0.812
