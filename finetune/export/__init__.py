"""Export to ONNX (`bert-export`) and running the export in ONNX Runtime (`bert-predict --onnx`).

Read onnx_export.py (which model, its graph's inputs and outputs, the files beside it), onnx_runner.py (the
graph behind the PyTorch model's forward), then the command line cli.py. Needs the optional `onnx` extra.
"""

from finetune.export.onnx_export import export_onnx
from finetune.export.onnx_runner import OnnxModel, load_onnx_model

__all__ = ["export_onnx", "OnnxModel", "load_onnx_model"]
