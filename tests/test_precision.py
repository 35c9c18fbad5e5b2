"""The one precision policy: every hardware case, with its reason (only the capability probes are faked)."""

from __future__ import annotations

import warnings

import pytest

from landseg import precision as P
from landseg.errors import ConfigError


@pytest.fixture
def hardware(monkeypatch: pytest.MonkeyPatch):
    """Set what the probes report: CPU ISA, native CPU bf16, CUDA compute capability (None: no CUDA)."""

    def set_(isa: str = "AVX2", native: bool = False, cuda: tuple[int, int] | None = None) -> None:
        monkeypatch.setattr(P, "cpu_capability", lambda: isa)
        monkeypatch.setattr(P, "cpu_bf16_native", lambda: native)
        monkeypatch.setattr(P, "cuda_capability", lambda device: cuda)

    return set_


@pytest.mark.parametrize(("isa", "native", "cuda", "device", "expected", "reason"), [
    ("AVX2", False, None, "cpu", "32", "CPU has AVX2 only, bf16 would be emulated"),
    ("AVX512", False, None, "cpu", "32", "CPU has AVX512 only, bf16 would be emulated"),
    ("AVX512", True, None, "cpu", "bf16", "CPU has native bf16 (AVX512 with AVX512-BF16/AMX)"),
    ("AVX2", False, (9, 0), "cuda", "bf16", "CUDA sm_90 computes bf16 natively (compute capability >= 8.0)"),
    ("AVX2", False, (8, 0), "gpu", "bf16", "CUDA sm_80 computes bf16 natively (compute capability >= 8.0)"),
    ("AVX2", False, (7, 5), "cuda:1", "16", "CUDA sm_75 has no native bf16 (compute capability < 8.0): fp16 "
                                          "mixed precision instead"),
])
def test_auto(hardware, isa, native, cuda, device, expected, reason) -> None:
    hardware(isa, native, cuda)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        choice = P.choose_precision("auto", device)
    assert (choice.name, choice.reason, choice.requested) == (expected, reason, "auto")
    assert choice.lightning == {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}[expected]
    assert str(choice) == f"{choice.label}: {reason}"


def test_cpu_without_native_bf16_honours_explicit_bf16_with_the_measured_slowdown(hardware) -> None:
    hardware("AVX2", native=False)
    with pytest.warns(P.PrecisionWarning, match=r"no native bf16.*58-82x.*12x slower"):
        choice = P.choose_precision("bf16-mixed", "cpu")
    assert (choice.name, choice.requested) == ("bf16", "bf16")
    assert choice.reason == "requested (CPU AVX2, no native bf16)"


def test_explicit_choices_where_the_hardware_has_them_do_not_warn(hardware) -> None:
    hardware("AVX512", native=True, cuda=(8, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.choose_precision("bf16", "cpu").name == "bf16"
        assert P.choose_precision("32-true", "cpu").name == "32"
        assert P.choose_precision("16-mixed", "cuda").name == "16"
        assert P.choose_precision("bf16", "cuda").name == "bf16"


def test_explicit_bf16_on_an_old_gpu_warns(hardware) -> None:
    hardware(cuda=(7, 0))
    with pytest.warns(P.PrecisionWarning, match="sm_70"):
        assert P.choose_precision("bf16", "cuda").name == "bf16"


def test_fp16_on_cpu_warns(hardware) -> None:
    hardware("AVX512", native=True)
    with pytest.warns(P.PrecisionWarning, match="fp16"):
        assert P.choose_precision("16", "cpu").name == "16"


def test_cuda_asked_without_cuda_is_a_clear_error(hardware) -> None:
    hardware(cuda=None)
    with pytest.raises(ConfigError, match="no CUDA device"):
        P.choose_precision("auto", "cuda")


def test_names_normalise_and_unknown_ones_list_the_valid(hardware) -> None:
    assert [P.normalize_precision(v) for v in (None, "AUTO", "fp32", 32, "bf16-mixed", "fp16")] == [
        "auto", "auto", "32", "32", "bf16", "16"]
    with pytest.raises(ConfigError, match="Valid: auto, 32, bf16, 16"):
        P.normalize_precision("bf32")


def test_the_real_probes_agree_with_torch() -> None:
    import torch

    assert P.cpu_bf16_native() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert P.cpu_capability() == torch.backends.cpu.get_cpu_capability()
    choice = P.choose_precision("auto", "cpu")
    assert choice.name == ("bf16" if P.cpu_bf16_native() else "32")


def test_announce_prints_each_choice_once(hardware, capsys: pytest.CaptureFixture[str]) -> None:
    hardware("AVX2", native=False)
    for _ in range(3):
        P.resolve_precision("auto", "cpu", "evaluate (test)")
    err = capsys.readouterr().err
    assert err.count("landseg: evaluate (test) runs in fp32: CPU has AVX2 only, bf16 would be emulated") == 1
