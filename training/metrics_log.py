"""Metrics as JSON lines (one object per log line, flushed at once), optionally as TensorBoard scalars too, and a
PNG of their curves."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from bert.errors import InputError


REPORT_TO = ("none", "tensorboard")  # where metrics go besides metrics.jsonl (--report-to)


def check_report_to(report_to: str) -> None:
    """--report-to's value, and the package it needs, before a run starts."""
    if report_to not in REPORT_TO:
        raise InputError(f"--report-to {report_to!r}: choose from {', '.join(REPORT_TO)}")
    if report_to == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise InputError("--report-to tensorboard needs the tensorboard package: "
                         "pip install 'bert-from-scratch[tensorboard]'")


class MetricsLog:
    """Appends one JSON object per `write` to a .jsonl file; a no-op where `enabled` is False (rank > 0).

    With report_to="tensorboard" every numeric field of every record is also a TensorBoard scalar of the same
    name at the record's "step", in a `tensorboard/` folder beside the .jsonl file."""

    def __init__(self, path: str | Path, enabled: bool = True, report_to: str = "none"):
        self.path = Path(path)
        self.enabled = enabled
        self.tensorboard_dir = self.path.parent / "tensorboard" if report_to == "tensorboard" else None
        self.writer = None  # torch.utils.tensorboard.SummaryWriter, opened at the first record
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if self.tensorboard_dir is not None:
                self.write_scalars(record)

    def write_scalars(self, record: dict) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package

            self.writer = SummaryWriter(str(self.tensorboard_dir))
        step = record.get("step", 0)
        for name, value in record.items():
            if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(name, value, global_step=step)
        self.writer.flush()  # a killed run keeps what it logged, as metrics.jsonl does

    def clear(self) -> None:
        """A fresh run: forget what an earlier run in the same folder logged."""
        self.path.unlink(missing_ok=True)
        if self.tensorboard_dir is not None:
            shutil.rmtree(self.tensorboard_dir, ignore_errors=True)

    def keep_up_to(self, step: int) -> None:
        """On resume, drop the lines written after the checkpoint's step: those steps are about to be redone.

        The TensorBoard folder is rebuilt from the lines kept. (TensorBoard's own purge_step depends on the
        order of event file names, which is only the order of writing when the two runs started in different
        seconds, so it cannot be relied on.)"""
        records = [r for r in self.read() if r.get("step", 0) <= step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, self.path)
        if self.tensorboard_dir is not None:
            shutil.rmtree(self.tensorboard_dir, ignore_errors=True)
            for record in records:
                self.write_scalars(record)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def plot_metrics(jsonl_path: str | Path, png_path: str | Path, series: dict[str, list[str]],
                 x_key: str = "step") -> bool:
    """One panel per title in `series`, plotting those keys against `x_key`. matplotlib is optional:
    without it nothing is drawn, a note is printed and False is returned."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"note: matplotlib is not installed, so no plot was written to {png_path} "
              "(pip install 'bert-from-scratch[plot]')")
        return False
    records = MetricsLog(jsonl_path).read()
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.8), squeeze=False)
    for ax, (title, keys) in zip(axes[0], series.items()):
        for key in keys:
            points = [(r[x_key], r[key]) for r in records if key in r and x_key in r]
            if points:
                ax.plot(*zip(*points), label=key, marker="o" if len(points) < 30 else None, markersize=3)
        ax.set_title(title)
        ax.set_xlabel(x_key)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return True
