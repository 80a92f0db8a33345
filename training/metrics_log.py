"""Metrics as JSON lines (one object per log line, flushed at once) and a PNG of their curves."""

from __future__ import annotations

import json
import os
from pathlib import Path


class MetricsLog:
    """Appends one JSON object per `write` to a .jsonl file; a no-op where `enabled` is False (rank > 0)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def keep_up_to(self, step: int) -> None:
        """On resume, drop the lines written after the checkpoint's step: those steps are about to be redone."""
        records = [r for r in self.read() if r.get("step", 0) <= step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, self.path)

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
