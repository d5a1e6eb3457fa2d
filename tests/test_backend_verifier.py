"""`verify` without the command line: every bundled spec passes on the CPU, the timed paths run,
and each way a run can be refused or fail is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnnsize
from cnnsize.backend import verifier
from cnnsize.backend.verifier import OutOfMemory, VerifyOptions, run_pieces, verify
from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError, UsageError
from cnnsize.memory import Precision
from cnnsize.planner import model_memory

SPECS = sorted(Path(__file__).parent.parent.joinpath("specs").glob("*.yaml"))
CPU = VerifyOptions(device="cpu", batch_size=2, timed=False)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_bundled_spec_passes_on_the_cpu(path):
    result = verify(cnnsize.load(path), CPU)
    assert result.passed, "\n".join(result.failures())
    assert result.memory.saved_matches
    assert len(result.layers) == sum(1 for _ in analyze(cnnsize.load(path)).leaves())


def test_timed_inference_and_training():
    spec = cnnsize.load("specs/small-resnet.yaml")
    seen = []
    inference = verify(
        spec, VerifyOptions(device="cpu", batch_size=2, warmup=1, iterations=3), lambda d, t: seen.append((d, t))
    )
    assert inference.passed and inference.throughput.iterations == 3
    assert inference.throughput.flops_per_step == inference.totals[2].engine
    assert seen[-1] == (4, 4)  # warm-up included in the progress
    training = verify(spec, VerifyOptions(device="cpu", batch_size=2, warmup=0, iterations=2, mode="training"))
    assert training.throughput.flops_per_step == 3 * inference.totals[2].engine
    assert training.memory.saved_activation_bytes > 0
    assert training.memory.peak_allocated_bytes is None  # measured on CUDA only


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_and_channels_last_on_the_cpu(dtype):
    options = VerifyOptions(device="cpu", batch_size=2, dtype=dtype, channels_last=True, warmup=0, iterations=1)
    result = verify(cnnsize.load("specs/small-resnet.yaml"), options)
    assert result.passed and result.dtype == dtype
    assert (
        result.memory.engine_activation_bytes
        == analyze(cnnsize.load("specs/small-resnet.yaml"), 2, dtype).totals.activation_bytes
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (VerifyOptions(batch_size=0), "--batch-size must be an integer of at least 1, got 0"),
        (VerifyOptions(iterations=0), "--iterations must be an integer of at least 1"),
        (VerifyOptions(warmup=-1), "--warmup must be an integer of at least 0"),
        (VerifyOptions(mode="eval"), "unknown mode 'eval'"),
        (VerifyOptions(dtype="int8"), "unknown dtype 'int8'"),
        (VerifyOptions(device="tpu"), "unknown device 'tpu'"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        verify(cnnsize.load("specs/toy.yaml"), options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_asking_for_absent_cuda_is_a_usage_error():
    with pytest.raises(UsageError, match="--device cuda: no CUDA device is available"):
        verify(cnnsize.load("specs/toy.yaml"), VerifyOptions(device="cuda"))


def test_channels_last_needs_a_volume(make_spec):
    spec = make_spec({"input": [8], "layers": [{"type": "linear", "out_features": 2}]})
    with pytest.raises(UsageError, match="--channels-last needs \\(C, H, W\\) inputs"):
        verify(spec, VerifyOptions(device="cpu", channels_last=True))


def test_refuses_before_allocating_and_says_what_fits(monkeypatch):
    spec = cnnsize.load("specs/small-resnet.yaml")
    # the run's worst moment at batch 3: the measured training-mode forward pass (parameters,
    # running statistics, what autograd keeps and the tensors alive), or the timed inference
    model = model_memory(spec, Precision("float32", None, "cpu"))
    free = max(piece.at(3) for piece in run_pieces(model, VerifyOptions(device="cpu")))
    assert free >= model.footprint("inference", "sgd", 3).total_bytes
    monkeypatch.setattr(verifier, "free_bytes", lambda device: free)
    monkeypatch.setattr(verifier, "build_network", lambda *a: pytest.fail("allocated before refusing"))
    with pytest.raises(OutOfMemory, match="at most --batch-size 3 would fit"):
        verify(spec, VerifyOptions(device="cpu", batch_size=64))
    monkeypatch.setattr(verifier, "free_bytes", lambda device: 1000)
    with pytest.raises(OutOfMemory, match="not even batch size 1 fits"):
        verify(spec, VerifyOptions(device="cpu", batch_size=64))


def test_out_of_memory_is_reported_not_raised(monkeypatch):
    def exhausted(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(verifier, "measure", exhausted)
    with pytest.raises(
        OutOfMemory, match="out of memory on cpu while running the measured forward pass at batch size 1"
    ):
        verify(cnnsize.load("specs/toy.yaml"), VerifyOptions(device="cpu"))


def test_a_dtype_the_device_cannot_run_is_a_usage_error(monkeypatch):
    def unsupported(*args):
        raise RuntimeError("\"slow_conv2d_cpu\" not implemented for 'Half'")

    monkeypatch.setattr(verifier, "measure", unsupported)
    options = VerifyOptions(device="cpu", dtype="float16")
    with pytest.raises(UsageError, match='--dtype float16 cannot run on cpu: "slow_conv2d_cpu" not implemented'):
        verify(cnnsize.load("specs/toy.yaml"), options)


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    def bug(*args):
        raise KeyError("a bug in cnnsize")

    monkeypatch.setattr(verifier, "measure", bug)
    with pytest.raises(KeyError):
        verify(cnnsize.load("specs/toy.yaml"), VerifyOptions(device="cpu"))


def test_a_forward_pass_pytorch_refuses_is_a_usage_error(make_spec):
    # batch norm in training needs more than one value per channel: batch 1 of 1x1 maps has one
    spec = make_spec({"input": [3, 4, 4], "layers": ["global_avgpool2d", "batchnorm2d"]})
    with pytest.raises(UsageError, match="PyTorch refused the forward pass at batch size 1"):
        verify(spec, VerifyOptions(device="cpu", timed=False))
    assert verify(spec, VerifyOptions(device="cpu", batch_size=2, timed=False)).passed


def test_compile_times_the_compiled_model(monkeypatch):
    compiled = []

    def fake_compile(module):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    result = verify(cnnsize.load("specs/toy.yaml"), VerifyOptions(device="cpu", compile=True, warmup=0, iterations=1))
    assert len(compiled) == 1 and result.options["compile"] and result.passed

    def broken(*args):
        raise RuntimeError("InductorError: no working C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda module: broken)
    with pytest.raises(CnnsizeError, match="--compile failed: RuntimeError: InductorError"):
        verify(cnnsize.load("specs/toy.yaml"), VerifyOptions(device="cpu", compile=True, warmup=0, iterations=1))


@needs_cuda
def test_cuda_run_measures_peak_memory():
    options = VerifyOptions(device="cuda", batch_size=4, warmup=1, iterations=3, mode="training")
    result = verify(cnnsize.load("specs/small-resnet.yaml"), options)
    assert result.passed and result.device.startswith("cuda:")
    assert result.memory.peak_allocated_bytes > 0


ZOO = sorted(Path(cnnsize.__file__).parent.joinpath("zoo").glob("*.yaml"))


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_every_zoo_spec_passes_on_the_cpu(path):
    # Every layer's shape, and the totals of params, running statistics and FlopCounterMode's
    # FLOPs, equal PyTorch's for torchvision's architectures at 224x224 (batch 1).
    result = verify(cnnsize.load(path), VerifyOptions(device="cpu", batch_size=1, timed=False))
    assert result.passed, "\n".join(result.failures())
    # and what autograd saves for backward equals the memory model's estimate, to the byte
    assert result.memory.model_saved_bytes == result.memory.saved_activation_bytes
