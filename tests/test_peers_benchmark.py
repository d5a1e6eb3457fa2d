"""benchmarks/peers.py: each peer's counting rule, applied to cnnsize's rows, gives the figure the
peer's source says it would (the benchmark checks the rules against the installed peers; these
tests need neither the peers nor torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cnnsize
from benchmarks.peers import PEERS, peer_terms

ROOT = Path(__file__).resolve().parents[1]

# Every row type a rule knows, on a small input, at batch 2 so that the batch is seen to multiply.
SPEC = """
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}   # 4x8x8, with bias
  - batchnorm2d
  - relu
  - {type: maxpool2d, kernel_size: 2}                               # 4x4x4
  - {type: adaptive_avgpool2d, output_size: 1}                      # 4x1x1
  - flatten
  - dropout
  - {type: linear, out_features: 10}
"""

# conv MACs 2 * 4*8*8 * 3*3*3 = 13,824 and linear MACs 2 * 4 * 10 = 80: 13,904 in all
MACS = 13_904
# bias: conv 2 * 4*8*8 = 512, linear 2 * 10 = 20
BIAS = 532


@pytest.fixture(scope="module")
def report() -> cnnsize.Report:
    return cnnsize.analyze(cnnsize.load(SPEC), batch_size=2)


def test_the_spec_has_the_macs_the_tests_assume(report: cnnsize.Report) -> None:
    assert report.totals.macs == MACS


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        # batch norm's weight and bias, 2 * 4 = 8 parameters, times the batch: 16
        ("torchinfo", MACS + BIAS + 16),
        # no bias; batch norm 2 * 2 * 4*8*8 = 1,024; adaptive pooling's input 2 * 4*4*4 = 128
        ("fvcore", MACS + 1_024 + 128),
        # bias; batch norm 1,024; relu 2 * 256 = 512; pooling inputs 512 + 128; relu and pooling
        # counted again through the patched functionals 512 + 512 + 128 = 1,152
        ("ptflops-pytorch", MACS + BIAS + 1_024 + 512 + 640 + 1_152),
        # convolution and addmm only, with bias
        ("ptflops-aten", MACS + BIAS),
    ],
)
def test_a_peer_rule_adds_what_the_peer_counts_beside_the_macs(
    report: cnnsize.Report, peer: str, expected: int
) -> None:
    assert sum(peer_terms(report, PEER[peer]).values()) == expected


PEER = {peer.name: peer for peer in PEERS}


def test_the_terms_name_each_kind_as_the_peer_counts_it(report: cnnsize.Report) -> None:
    terms = peer_terms(report, PEER["ptflops-pytorch"])
    # relu counted twice, by nn.ReLU's hook and the patched F.relu: 2 x 2 x 4*8*8
    assert terms["relu"] == 1_024 and terms["flatten"] == 0
    assert list(terms) == [
        "conv2d",
        "batchnorm2d",
        "relu",
        "maxpool2d",
        "adaptive_avgpool2d",
        "flatten",
        "dropout",
        "linear",
    ]


def test_the_benchmark_explains_itself_without_the_peers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "torchinfo" in done.stdout and "--repeat" in done.stdout
