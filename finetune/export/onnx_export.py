"""This project's model, as an ONNX graph that ONNX Runtime (or any ONNX runtime) runs without PyTorch.

    export_onnx("runs/cola", "exported/cola")      # exported/cola/model.onnx + config.json + the tokenizer

What is exported is the class config.json's architectures names: a *ForSequenceClassification,
*ForTokenClassification or *ForQuestionAnswering head, or else (BertModel, a pretraining or masked-LM
checkpoint) the bare encoder. Its graph:

    inputs   input_ids, attention_mask, token_type_ids (not DistilBERT's)      int64 (batch, sequence)
    outputs  logits                    (batch, labels) or (batch, sequence, labels) for a token classifier
             start_logits, end_logits  (batch, sequence) each, for a question answerer
             last_hidden_state         (batch, sequence, hidden), for the encoder

with batch and sequence dynamic (sequence up to max_position_embeddings), weights inside the file, in fp32
or, asked for (precision="fp16"), in fp16: weights and outputs half the size, for runtimes and accelerators
with fp16 kernels (ONNX Runtime's CPU provider runs it, within about 1e-2 of fp32, and not faster).
torch.onnx's exporter (torch.export, then onnxscript) traces the model in eval mode: attention is PyTorch's
scaled_dot_product_attention, which it writes as ONNX ops, so the graph computes what the model computes.
(The older TorchScript exporter fixes the sequence length that einops' reshapes saw at trace time: wrong
outputs for any other length.)

Beside model.onnx: config.json and the tokenizer's files, so a predictor needs the folder alone, and, when the
model came from a bert-finetune run, that run's summary.json as fine_tuning_summary.json (how long its texts
were cut, how question-answering windows were laid).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from bert.files import atomic_write, check_output_writable
from bert.errors import InputError
from finetune.checkpoint import find_checkpoint, head_of, load_head_model, resolve_model
from finetune.embeddings.sentence_model import load_encoder
from finetune.export.onnx_runner import MODEL_FILE
from finetune.run_summary import resolve_model_dir
from finetune.run_summary import EXPORTED_SUMMARY, run_summary_file

# a head (finetune.checkpoint.HEADS) -> the outputs of its graph, in order
HEAD_OUTPUTS = {
    "SequenceClassification": ("logits",),
    "TokenClassification": ("logits",),
    "QuestionAnswering": ("start_logits", "end_logits"),
}
ENCODER_OUTPUTS = ("last_hidden_state",)
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}  # the graph's arithmetic -> its weights' dtype


class ExportedGraph(nn.Module):
    """The model with the graph's signature: positional tensors in, a tuple of tensors out (named by `outputs`)."""

    def __init__(self, model: nn.Module, outputs: tuple[str, ...]):
        super().__init__()
        self.model = model
        self.outputs = outputs
        self.token_types = model.config.type_vocab_size > 0

    def input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"] + (["token_type_ids"] if self.token_types else [])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        segments = {"token_type_ids": token_type_ids} if self.token_types else {}
        out = self.model(input_ids, attention_mask, **segments)
        return tuple(getattr(out, name) for name in self.outputs)


def exported_model(directory: Path) -> tuple[ExportedGraph, object]:
    """The model of a checkpoint folder as the graph to export, and its tokenizer."""
    head = head_of(directory)
    if head is not None:
        model, tokenizer = load_head_model(directory, head)
        return ExportedGraph(model, HEAD_OUTPUTS[head]), tokenizer
    source, tokenizer = resolve_model(str(directory), vocab=None)
    return ExportedGraph(load_encoder(source), ENCODER_OUTPUTS), tokenizer


def example_inputs(graph: ExportedGraph, pad_token_id: int) -> tuple[torch.Tensor, ...]:
    """Two rows of 8 tokens, the second padded after 5: sizes above 1, which torch.export would fix as constants."""
    input_ids = torch.full((2, 8), 7, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    input_ids[1, 5:], attention_mask[1, 5:] = pad_token_id, 0
    return (input_ids, attention_mask) + ((torch.zeros_like(input_ids),) if graph.token_types else ())


def require_exporter() -> None:
    """torch.onnx's exporter needs onnx and onnxscript, which only the `onnx` extra installs."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise InputError(f"exporting to ONNX needs {e.name}: pip install 'bert-from-scratch[onnx]' "
                         "(or -e \".[onnx]\")") from None


@contextmanager
def exporter_notes_silenced():
    """The exporter's warnings and log lines are about its own internals (torchvision ops it skips, how it
    names shapes), not about the model: kept off the user's terminal while it runs."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: str | Path, output: str | Path, precision: str = "fp32") -> Path:
    """Export `model` (a model folder, a bert-finetune output folder or a Hub id) into the folder `output`, in
    `precision` (fp32 or fp16); returns the path of model.onnx. Every problem with any of them is an
    InputError, before anything is written."""
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: an ONNX export is {' or '.join(PRECISIONS)}")
    output = Path(output)
    check_output_writable(output, "--onnx")
    require_exporter()
    directory = resolve_model_dir(find_checkpoint(str(model)))
    graph, tokenizer = exported_model(directory)
    graph = graph.to(PRECISIONS[precision])
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=graph.model.config.max_position_embeddings)
    names = graph.input_names()
    with torch.no_grad(), exporter_notes_silenced():
        program = torch.onnx.export(graph, example_inputs(graph, tokenizer.pad_token_id), dynamo=True,
                                    input_names=names, output_names=list(graph.outputs),
                                    dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
                                    verbose=False)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / MODEL_FILE, lambda tmp: program.save(tmp))
    graph.model.config.with_overrides(architectures=[type(graph.model).__name__]).to_json_file(output / "config.json")
    tokenizer.save(output)
    summary = run_summary_file(directory)
    if summary.is_file():
        shutil.copy(summary, output / EXPORTED_SUMMARY)
    else:  # an earlier export's into the same folder would describe another model
        (output / EXPORTED_SUMMARY).unlink(missing_ok=True)
    return output / MODEL_FILE
