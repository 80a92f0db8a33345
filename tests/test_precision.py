"""The precision policy: what `auto` picks on each kind of device (capability probes stubbed), forced
choices, the flag and its aliases, and the fp16 loss scaler."""

import argparse

import pytest
import torch

from training import precision as policy
from training.precision import PrecisionError, add_precision_flag, choose_precision


@pytest.fixture
def cpu(monkeypatch):
    """A CPU whose bf16 support the test decides."""
    def make(native_bf16: bool, kind: str):
        monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: native_bf16)
        monkeypatch.setattr(policy, "cpu_kind", lambda: kind)
    return make


@pytest.fixture
def gpu(monkeypatch):
    """A CUDA GPU whose bf16 support the test decides (no GPU needed)."""
    def make(has_bf16: bool, name: str):
        monkeypatch.setattr(policy, "cuda_has_bf16", lambda device: has_bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    return make


def test_auto_on_a_cpu_without_native_bf16_is_fp32_and_says_why(cpu):
    cpu(native_bf16=False, kind="AVX2")
    chosen = choose_precision("auto", "cpu")
    assert chosen.name == "fp32" and chosen.grad_scaler() is None
    assert chosen.describe() == "precision: fp32 (this CPU has no native bf16: AVX2)"


def test_auto_on_a_cpu_with_native_bf16_is_bf16(cpu):
    cpu(native_bf16=True, kind="AVX512+AMX")
    chosen = choose_precision("auto", "cpu")
    assert chosen.name == "bf16" and chosen.grad_scaler() is None
    assert "native bf16: AVX512+AMX" in chosen.describe()
    with chosen.autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")


def test_auto_on_a_gpu_with_bf16_is_bf16(gpu):
    gpu(has_bf16=True, name="NVIDIA H100")
    chosen = choose_precision("auto", "cuda")
    assert (chosen.name, chosen.device_type) == ("bf16", "cuda") and chosen.grad_scaler() is None
    assert "NVIDIA H100" in chosen.describe()


def test_auto_on_a_gpu_without_bf16_is_fp16_with_loss_scaling(gpu):
    gpu(has_bf16=False, name="Tesla T4")
    chosen = choose_precision("auto", "cuda")
    assert (chosen.name, chosen.device_type) == ("fp16", "cuda")
    assert "dynamic loss scaling" in chosen.reason
    scaler = chosen.grad_scaler()
    assert isinstance(scaler, torch.amp.GradScaler)


def test_forcing_bf16_where_it_is_emulated_warns(cpu):
    cpu(native_bf16=False, kind="AVX2")
    warnings = []
    chosen = choose_precision("bf16", "cpu", warn=warnings.append)
    assert chosen.name == "bf16" and len(warnings) == 1 and "emulated" in warnings[0] and "AVX2" in warnings[0]
    assert choose_precision("fp32", "cpu", warn=warnings.append).name == "fp32" and len(warnings) == 1


def test_forcing_bf16_where_it_is_native_does_not_warn(cpu):
    cpu(native_bf16=True, kind="AVX512-BF16")
    warnings = []
    assert choose_precision("bf16", "cpu", warn=warnings.append).name == "bf16" and warnings == []


def test_fp16_on_a_cpu_is_an_error(cpu):
    cpu(native_bf16=True, kind="AVX512-BF16")
    with pytest.raises(PrecisionError, match="fp16 needs a CUDA GPU"):
        choose_precision("fp16", "cpu")


def test_default_warning_goes_to_stderr(cpu, capsys):
    cpu(native_bf16=False, kind="AVX2")
    choose_precision("bf16", "cpu")
    assert capsys.readouterr().err.startswith("warning: --precision bf16 on a CPU without native bf16 (AVX2)")


@pytest.mark.parametrize("argv, expected", [([], "auto"), (["--precision", "fp16"], "fp16"), (["--bf16"], "bf16"),
                                            (["--no-bf16"], "fp32")])
def test_flag_and_its_aliases(argv, expected):
    parser = argparse.ArgumentParser()
    add_precision_flag(parser)
    assert parser.parse_args(argv).precision == expected


def test_the_flag_rejects_unknown_values_and_conflicts():
    parser = argparse.ArgumentParser()
    add_precision_flag(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--precision", "fp8"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--bf16", "--precision", "fp32"])


def test_the_real_cpu_gets_an_answer():
    chosen = choose_precision("auto", "cpu")
    assert chosen.name == ("bf16" if policy.cpu_has_native_bf16() else "fp32")
    assert policy.cpu_kind() in chosen.describe()


def test_a_step_whose_fp16_gradients_overflow_is_skipped_and_reported(tmp_path):
    """The engine's update says when fp16's loss scaler skipped the step (pretraining counts these). fp16
    autocast is refused on a CPU, but the scaler's arithmetic runs there: a Precision made by hand drives it."""
    from types import SimpleNamespace

    from training import DistributedContext, MetricsLog
    from training.engine import Engine

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    engine = Engine(SimpleNamespace(max_grad_norm=1.0), model, optimizer, scheduler,
                    policy.Precision("fp16", "cpu", "made by hand"), DistributedContext(), tmp_path,
                    MetricsLog(tmp_path / "metrics.jsonl", enabled=False))
    start = model.weight.detach().clone()
    engine.scaler.scale(model(torch.ones(1, 2)).sum() * float("inf")).backward()  # gradients: inf
    assert engine.update() is True
    assert torch.equal(model.weight, start) and engine.scaler.get_scale() == 2.0**15  # 2^16 halved
    optimizer.zero_grad()
    engine.scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    assert engine.update() is False
    assert not torch.equal(model.weight, start)
