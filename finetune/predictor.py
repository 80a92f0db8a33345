"""Using a fine-tuned model: `load_predictor` (the Python API) and `predict(options)` (what bert-predict runs).

    from finetune import load_predictor
    classifier = load_predictor("runs/mrpc")          # a bert-finetune output folder: its best model
    classifier(("He left early.", "He did not stay long."))   -> Prediction(label, probabilities)
    tagger = load_predictor("runs/ner/seed-42/model")  # or one model folder
    tagger("Angela Merkel visited Paris.")            -> [EntitySpan(start, end, type, score, text), ...]
    answerer = load_predictor("runs/squad", device="cuda")
    answerer("Who wrote it?", "It was written by Pina Bausch.")  -> PredictedAnswer(text, start, end, score)

The model folder's config.json names its head (architectures: BertForSequenceClassification, ...), and the
family registry (finetune/registry.py) the predictor of that head: the sentence family's TextClassifier, the
token family's EntityTagger, question answering's QuestionAnswerer. A folder without a fine-tuned head (a
pretrained encoder such as all-MiniLM-L6-v2) is refused: its classifier would be random. Each predictor
takes one input or a list, batched, cut to the length the model was fine-tuned with (its run's summary.json).
backend="onnx": the folder is a bert-export one, run in ONNX Runtime on the CPU, in the precision it was
exported in (fp32 unless bert-export was asked for fp16).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from bert.files import atomic_write
from finetune.checkpoint import HEADS, find_checkpoint, head_of, load_head_model
from finetune.export.onnx_export import HEAD_OUTPUTS
from finetune.export.onnx_runner import load_onnx_model
from finetune.registry import family_of_head
from finetune.run_summary import resolve_model_dir
from tokenizer.text_files import check_text_arguments
from training import DistributedContext, Precision, choose_precision
from bert.errors import InputError
from training.option_checks import check_field_types
from training.precision import CHOICES as PRECISIONS

BACKENDS = ("torch", "onnx")


def load_predictor(model: str | Path, device: str | None = None, backend: str = "torch", precision: str = "auto",
                   max_seq_length: int | None = None, batch_size: int = 64):
    """The predictor of a fine-tuned model folder (or of a bert-finetune output folder's best model): a
    callable for the model's family, see the module docstring. device: "cpu" or "cuda" (default: cuda if
    available); precision as bert-finetune's (auto: bf16 where the hardware runs it natively)."""
    if backend not in BACKENDS:
        raise InputError(f"backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if max_seq_length is not None and max_seq_length < 1:
        raise InputError(f"--max-seq-length must be at least 1, got {max_seq_length}")
    model_dir = resolve_model_dir(find_checkpoint(str(model)))
    head = head_of(model_dir)
    family = family_of_head(head) if head is not None else None
    if family is None:
        raise InputError(f"{model_dir}: its config.json names no fine-tuned head ({', '.join(HEADS)}), so it has "
                         "nothing to predict with; fine-tune it with bert-finetune first (for sentence vectors of "
                         "an encoder, use bert-embed)")
    if backend == "onnx":
        device = device_for_onnx(device)
        loaded, tokenizer = load_onnx_model(model_dir, outputs=HEAD_OUTPUTS[head])
        precision_used = onnx_precision(precision, loaded.precision)
    else:
        device = torch_device(device)
        precision_used = choose_precision(precision, device)
        loaded, tokenizer = load_head_model(model_dir, head)
        loaded = loaded.to(device)
    return family.predictor(model_dir, loaded, tokenizer, max_seq_length, batch_size, precision_used,
                            DistributedContext(device=device))


def torch_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"--device {device!r}: choose cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA GPU")
    return torch.device(device)


def device_for_onnx(device: str | None) -> torch.device:
    if device not in (None, "cpu"):
        raise InputError(f"--onnx runs in ONNX Runtime on the CPU: --device {device} does not apply to it")
    return torch.device("cpu")


def onnx_precision(requested: str, exported: str) -> Precision:
    """An exported graph runs in the precision it was exported in (bert-export --precision)."""
    if requested not in ("auto", exported):
        raise InputError(f"--onnx runs the exported {exported} graph: --precision {requested} does not apply to it")
    return Precision(exported, "cpu", "the exported ONNX graph, in ONNX Runtime")


# ------------------------------------------------------------------ bert-predict

@dataclass
class PredictOptions:
    """What bert-predict is asked (its flags, named with underscores), checked in one place."""

    model: str  # a model folder, a bert-finetune output folder, or a Hub id of a fine-tuned model
    texts: list[str] = field(default_factory=list)  # one text, or a pair
    question: str | None = None  # with context: a question-answering model's input
    context: str | None = None
    input: Path | None = None  # a file of examples instead of texts
    text_columns: str | list[str] | None = None  # read input as a table and take these columns
    output: Path | None = None  # where the predictions of input go (default: stdout)
    batch_size: int = 64
    max_seq_length: int | None = None  # default: the length the model was fine-tuned with
    onnx: bool = False  # model is a bert-export folder, run in ONNX Runtime
    precision: str = "auto"
    device: str | None = None  # "cpu" or "cuda"; default: cuda if available

    def __post_init__(self) -> None:
        self.model = str(self.model)
        self.texts = [self.texts] if isinstance(self.texts, str) else list(self.texts)
        self.input = None if self.input is None else Path(self.input)
        self.output = None if self.output is None else Path(self.output)
        if isinstance(self.text_columns, (list, tuple)):
            self.text_columns = ",".join(self.text_columns)
        check_field_types(self)
        if (self.question is None) != (self.context is None):
            raise InputError("--question and --context go together")
        if self.question is not None and (self.texts or self.input):
            raise InputError("give --question and --context, or TEXT, or --input FILE: one of them")
        if self.question is None and bool(self.texts) == bool(self.input):
            raise InputError("give either one sentence (or two, for a pair) or --input FILE")
        if self.text_columns is not None and self.input is None:
            raise InputError("--text-columns names columns of --input's file")
        if len(self.texts) > 2:
            raise InputError(f"expected a sentence or a sentence pair, got {len(self.texts)} texts (quote each "
                             "sentence)")
        check_text_arguments(*self.texts, self.question, self.context)


def predict(options: PredictOptions | None = None, /, **option_values) -> str:
    """bert-predict: the predictions of options' texts or input file, formatted; written to options.output
    when it is set (and the input a file), returned otherwise."""
    if options is None:
        options = PredictOptions(**option_values)
    elif option_values:
        options = replace(options, **option_values)
    predictor = load_predictor(options.model, options.device, "onnx" if options.onnx else "torch",
                               options.precision, options.max_seq_length, options.batch_size)
    examples = predictor.read_examples(options)  # a bad input file fails here, before anything is printed
    print(predictor.precision.describe(), file=sys.stderr)
    results = predictor.predict(examples)
    from_file = options.input is not None
    as_jsonl = options.output is not None and options.output.suffix == ".jsonl"
    text = predictor.format(examples, results, from_file, as_jsonl)
    if options.output is not None and from_file:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(options.output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        print(f"{len(examples)} predictions written to {options.output}", file=sys.stderr)
        return ""
    return text
