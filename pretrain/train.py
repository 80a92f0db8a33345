"""The pretraining run: vocabulary -> cached examples -> BertForPreTraining trained with MLM (+ NSP).

Reading order: `pretrain()` sets everything up and hands a `PretrainingJob` to the training engine
(training/engine.py: the loop, checkpoints, resumption, signals, shared with fine-tuning). The job is what
is pretraining's own: which examples and masks step s sees (pretrain/batches.py), the MLM and NSP loss
terms, the time budget and its LR schedule, evaluation on the held-out slice every --eval-every steps (and
at step 0: the start to compare with), and the summary of what the budget bought.

The output directory, when the run ends:

    config.json, model.safetensors   BertForPreTraining in HF layout (MLM and NSP heads included)
    vocab.txt, tokenizer.json, tokenizer_config.json
    metrics.jsonl, loss.png          one JSON object per log line; the curves
    summary.json                     steps, tokens, tokens/s, precision, steps fp16's loss scaler skipped,
                                     held-out MLM at the start and the end
    checkpoints/step-N/              resumable training state (the last --keep-checkpoints of them)
    checkpoints/config.json          the model config, so --resume rebuilds the same model
"""
from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from bert import BertConfig
from bert.checkpoint import resolve_checkpoint_dir
from bert.errors import InputError
from tokenizer import WordPieceTokenizer
from tokenizer.corpus import read_sentences, resolve_sources
from training import DistributedContext, check_report_to, latest_training_checkpoint
from training.engine import RunInterrupted

from .batches import PretrainingBatches, SpecialIds
from .cache import TokenizedCorpus, default_cache_dir, load_or_build
from .examples import build_examples
from .job import PretrainingJob
from .masking import MaskingScheme
from .options import PretrainOptions
from .probe import Probe


# =========================================================================== setup


@dataclass
class PretrainResult:
    """What a run wrote: `checkpoint` (its folder, in HF layout with the vocabulary: what bert-finetune --model
    takes), `metrics` (the held-out figures of its last evaluation: eval_mlm_loss, eval_mlm_acc, ...; None
    without one) and `summary` (its summary.json)."""

    checkpoint: Path
    summary: dict

    @property
    def metrics(self) -> dict | None:
        return self.summary.get("eval_last")


def pretrain(options: PretrainOptions | None = None, /, **option_values) -> PretrainResult:
    """Run (or resume) pretraining as `options` say (or PretrainOptions(**option_values); values given with options
    replace theirs). Raises InputError for bad input, TrainingDiverged when the loss stops being finite,
    RunInterrupted when a signal stopped the run (its checkpoint saved: resume=True continues it)."""
    if options is None:
        options = PretrainOptions(**option_values)
    elif option_values:
        options = replace(options, **option_values)
    status = run(options)
    if status != 0:
        raise RunInterrupted(status)
    summary_file = options.output / "summary.json"  # rank 0's; another process of a DDP run may not see it yet
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return PretrainResult(options.output, summary)


def run(opts: PretrainOptions) -> int:
    """Run (or resume) pretraining; returns 0, or 128 + signal when one stopped it."""
    opts = with_init_from_resolved(opts)
    with DistributedContext.from_env(opts.device) as ctx:
        check_report_to(opts.report_to)
        opts.output.mkdir(parents=True, exist_ok=True)
        micro_batch_size(opts, ctx)  # fails now on a batch that does not split evenly
        prepare_run_directory(opts, ctx)
        tokenizer = prepare_tokenizer(opts, ctx)
        config = prepare_model_config(opts, tokenizer)
        batches = prepare_batches(opts, tokenizer, ctx, pad_to=opts.max_seq_length if opts.compile else None)
        probe = Probe(opts.probe, opts.probe_data, opts.probe_examples, tokenizer, ctx, opts.probe_seeds,
                      opts.probe_epochs, opts.probe_lr, opts.probe_max_grad_norm) if opts.probe else None
        return PretrainingJob(opts, ctx, config, batches, probe).run()


def with_init_from_resolved(opts: PretrainOptions) -> PretrainOptions:
    """--init-from as the checkpoint directory it names: a local folder, or a Hub id from the cache or
    downloaded. Options name it as given (a recipe checks a phase's options before the phase it starts from
    has run); the run needs the folder."""
    if opts.init_from is None or opts.init_from.is_dir():
        return opts
    try:
        return replace(opts, init_from=resolve_checkpoint_dir(opts.init_from))
    except FileNotFoundError as e:
        raise InputError(f"--init-from {e}") from None


def prepare_run_directory(opts: PretrainOptions, ctx: DistributedContext) -> None:
    """--resume continues the run in --output, --overwrite starts it over; a run there without either is an
    error. A fresh start (nothing there, or --resume on an empty run directory) says nothing."""
    holds_run = latest_training_checkpoint(opts.output / "checkpoints") is not None
    if holds_run and not (opts.resume or opts.overwrite):
        raise InputError(f"{opts.output} already holds a pretraining run: pass --resume to continue it, --overwrite "
                         "to start over, or choose another --output")
    ctx.barrier()  # every process has looked before rank 0 clears anything
    if opts.overwrite and ctx.is_main:
        for name in ("checkpoints", "metrics.jsonl", "tensorboard", "summary.json", "model.safetensors", "config.json",
                     "loss.png", "vocab.txt", "tokenizer.json", "tokenizer_config.json"):
            path = opts.output / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    ctx.barrier()


def micro_batch_size(opts: PretrainOptions, ctx: DistributedContext) -> int:
    """Examples per micro-batch on each process: --batch-size split over --grad-accum and the processes."""
    parts = opts.grad_accum * ctx.world_size
    if opts.batch_size % parts:
        raise InputError(f"--batch-size {opts.batch_size} does not split evenly into --grad-accum {opts.grad_accum} "
                         f"x {ctx.world_size} process(es)")
    return opts.batch_size // parts


@contextlib.contextmanager
def main_process_first(ctx: DistributedContext, local: bool = False):
    """Rank 0 (or each machine's local rank 0) runs the block first, e.g. to build a cache the others reuse."""
    first = (ctx.local_rank if local else ctx.rank) == 0
    if not first:
        ctx.barrier()
    yield
    if first:
        ctx.barrier()


def prepare_tokenizer(opts: PretrainOptions, ctx: DistributedContext) -> WordPieceTokenizer:
    """The run's vocabulary, saved into the output directory: the one already there when resuming, the
    one given by --vocab, or one trained on the corpus."""
    saved = opts.output / "vocab.txt"
    given = opts.vocab or opts.init_from
    with main_process_first(ctx):
        if ctx.is_main and not (opts.resume and saved.exists()):
            try:
                if given is not None:
                    tokenizer = WordPieceTokenizer.from_pretrained(given)
                else:
                    print(f"training a {opts.vocab_size}-token WordPiece vocabulary on the corpus")
                    sentences = read_sentences(resolve_sources(opts.corpus, opts.corpus_split, opts.corpus_column))
                    tokenizer = WordPieceTokenizer.train(sentences, vocab_size=opts.vocab_size,
                                                         lowercase=opts.lowercase, show_progress=opts.progress)
            except (OSError, ValueError) as e:  # a vocabulary that cannot be read, a text that is not UTF-8
                raise InputError(str(e)) from None
            tokenizer.save(opts.output)
    return WordPieceTokenizer.from_pretrained(opts.output)


def prepare_model_config(opts: PretrainOptions, tokenizer: WordPieceTokenizer) -> BertConfig:
    """The preset, overridden by --config, sized to the vocabulary; a resumed run reuses its saved config."""
    saved = opts.output / "checkpoints" / "config.json"
    if opts.resume and saved.exists():
        config = BertConfig.from_json_file(saved)
    else:
        overrides = read_config_overrides(opts.config_file) if opts.config_file else {}
        if opts.init_from is not None:  # the model it starts from decides the shapes; --preset does not apply
            config = BertConfig.from_json_file(opts.init_from / "config.json").with_overrides(**overrides)
        else:
            overrides.setdefault("vocab_size", tokenizer.vocab_size)
            overrides.setdefault("pad_token_id", tokenizer.pad_token_id)
            config = BertConfig.from_preset(opts.preset, **overrides)
    if config.vocab_size < tokenizer.vocab_size:
        raise InputError(f"the model config has vocab_size {config.vocab_size}, smaller than the vocabulary "
                         f"({tokenizer.vocab_size} tokens): raise vocab_size or use a smaller vocabulary")
    if opts.max_seq_length > config.max_position_embeddings:
        raise InputError(f"--max-seq-length {opts.max_seq_length} exceeds the model's max_position_embeddings "
                         f"({config.max_position_embeddings})")
    return config


def read_config_overrides(path: Path) -> dict:
    """--config: a JSON object of BertConfig fields (a full HF config.json works too)."""
    try:
        overrides = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(overrides, dict):
        raise InputError(f"{path}: expected a JSON object of BertConfig fields")
    known = {f.name for f in fields(BertConfig)}
    ignored = {"model_type", "position_embedding_type", "label2id", "transformers_version", "torch_dtype"}
    unknown = set(overrides) - known - ignored
    if unknown:
        raise InputError(f"{path}: unknown BertConfig field(s): {', '.join(sorted(unknown))}")
    return {k: v for k, v in overrides.items() if k in known}


def prepare_batches(opts: PretrainOptions, tokenizer: WordPieceTokenizer, ctx: DistributedContext,
                    pad_to: int | None) -> PretrainingBatches:
    """Tokenise the corpus into the cache (or reuse it), cut it into examples, and set up masking."""
    sources = resolve_sources(opts.corpus, opts.corpus_split, opts.corpus_column)
    cache_dir = opts.cache_dir or default_cache_dir()
    with main_process_first(ctx, local=True):
        corpus = load_or_build(sources, opts.output, cache_dir, tokenizer.vocab_size, opts.num_workers,
                               show_progress=opts.progress and ctx.local_rank == 0)
        examples = corpus.cached_arrays("examples", opts.example_settings(),
                                        build=lambda: build_example_tables(corpus, opts))
    if ctx.is_main:
        print_corpus_summary(corpus.info, examples, corpus.directory)
    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    scheme = MaskingScheme.for_vocabulary(tokens, sorted(tokenizer.special_ids), tokenizer.mask_token_id,
                                          mask_prob=opts.mask_prob, whole_word=opts.whole_word_mask)
    special = SpecialIds(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id)
    return PretrainingBatches(corpus.tokens, examples["train"], examples["held_out"], scheme, special,
                              nsp=opts.nsp, seed=opts.seed, batch_size=micro_batch_size(opts, ctx),
                              grad_accum=opts.grad_accum,
                              world_size=ctx.world_size, eval_examples=opts.eval_examples, pad_to=pad_to)


def build_example_tables(corpus: TokenizedCorpus, opts: PretrainOptions) -> dict[str, np.ndarray]:
    train, held_out = build_examples(corpus.sentence_starts, corpus.document_starts,
                                     max_seq_length=opts.max_seq_length, short_seq_prob=opts.short_seq_prob,
                                     nsp=opts.nsp, held_out_fraction=opts.eval_fraction, seed=opts.seed,
                                     nsp_negatives=opts.nsp_negatives, pack_documents=opts.pack_documents)
    return {"train": train, "held_out": held_out}


def print_corpus_summary(info: dict, examples: dict, cache_directory: Path) -> None:
    print(f"corpus: {info['documents']:,} documents, {info['sentences']:,} sentences, {info['tokens']:,} tokens "
          f"(cache {cache_directory})")
    if info["invalid_utf8_lines"]:
        print(f"note: skipped {info['invalid_utf8_lines']:,} line(s) that are not valid UTF-8 "
              f"(first: {info['first_invalid_line']})")
    print(f"examples: {len(examples['train']):,} for training, {len(examples['held_out']):,} held out")
