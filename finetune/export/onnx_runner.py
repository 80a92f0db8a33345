"""An exported folder (bert-export) run in ONNX Runtime, behind the PyTorch model's own interface.

    model, tokenizer = load_onnx_model("exported/cola")
    model(**tokenizer(["A sentence."])).logits          # as BertForSequenceClassification's forward gives

OnnxModel takes the forward's tensors (input_ids, attention_mask, token_type_ids) and gives its output
dataclass (ClassifierOutput, QuestionAnsweringOutput, or BertOutput for an encoder), so the code that runs a
PyTorch model for bert-predict runs this one unchanged. It is an nn.Module without parameters, for the
.eval() / .train() / .to() calls that code makes; the graph runs on the CPU in the precision it was exported
in (`precision`: fp32 or fp16), and its outputs come back as fp32 tensors either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from bert import read_config
from bert.errors import InputError
from bert.heads import ClassifierOutput, QuestionAnsweringOutput
from bert.model import BertOutput
from finetune.checkpoint import load_tokenizer
from tokenizer import WordPieceTokenizer

MODEL_FILE = "model.onnx"
OUTPUT_CLASSES = {  # the graph's output names -> the forward's output dataclass
    ("logits",): ClassifierOutput,
    ("start_logits", "end_logits"): QuestionAnsweringOutput,
    ("last_hidden_state",): BertOutput,
}
GRAPH_PRECISIONS = {"tensor(float)": "fp32", "tensor(float16)": "fp16"}  # ONNX Runtime's output type -> ours


class OnnxModel(nn.Module):
    def __init__(self, session, config):
        super().__init__()
        self.session = session
        self.config = config
        self.input_names = [i.name for i in session.get_inputs()]
        outputs = tuple(o.name for o in session.get_outputs())
        if outputs not in OUTPUT_CLASSES:
            raise InputError(f"the ONNX graph's outputs {', '.join(outputs)} are not a head's (expected "
                             f"{' or '.join(', '.join(names) for names in OUTPUT_CLASSES)})")
        self.output_class = OUTPUT_CLASSES[outputs]
        self.precision = GRAPH_PRECISIONS.get(session.get_outputs()[0].type, session.get_outputs()[0].type)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None):
        given = {"input_ids": input_ids,
                 "attention_mask": torch.ones_like(input_ids) if attention_mask is None else attention_mask,
                 "token_type_ids": torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids}
        feed = {name: given[name].cpu().numpy().astype(np.int64) for name in self.input_names}
        return self.output_class(*(torch.from_numpy(array).float() for array in self.session.run(None, feed)))


def load_onnx_model(directory: str | Path, outputs: tuple[str, ...] | None = None,
                    threads: int | None = None) -> tuple[OnnxModel, WordPieceTokenizer]:
    """The exported model of `directory` in an ONNX Runtime session (on `threads` threads: default torch's
    number), and its tokenizer. `outputs`: the graph outputs the caller needs, e.g. ("logits",); a graph with
    others is an InputError."""
    try:
        import onnxruntime  # imported here: the optional `onnx` extra; PyTorch models never need it
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidProtobuf
    except ImportError:
        raise InputError("running an ONNX export needs onnxruntime: pip install 'bert-from-scratch[onnx]' "
                         "(or -e \".[onnx]\")") from None

    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file():
        raise InputError(f"{directory}: no {MODEL_FILE} (export one with bert-export --onnx {directory} --model M)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    try:
        session = onnxruntime.InferenceSession(str(directory / MODEL_FILE), options,
                                               providers=["CPUExecutionProvider"])
        config = read_config(directory / "config.json")
    except (OSError, ValueError, Fail, InvalidProtobuf) as e:  # a file that is not an ONNX model, or broken
        raise InputError(f"{directory}: {str(e).splitlines()[0]}") from None
    model = OnnxModel(session, config)
    given = tuple(o.name for o in session.get_outputs())
    if outputs is not None and given != outputs:
        raise InputError(f"{directory / MODEL_FILE} outputs {', '.join(given)}, not {', '.join(outputs)}: export a "
                         "model with that head")
    return model, load_tokenizer(directory)
