"""`cnnsize diff` on the command line: two specs, or one spec against a git revision read with the
real `git` in a temporary repository, its formats, and its growth gates' exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app

OLD = (
    "name: net\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n  - relu\n"
)
NEW = OLD.replace("out_channels: 4", "out_channels: 8")  # params 3 x 9 x 4 + 4 = 112 -> 3 x 9 x 8 + 8 = 224

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def invoke(*args: str):
    return CliRunner().invoke(app, ["diff", *args])


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with two commits of `net.yaml`: OLD, then NEW."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    (tmp_path / "net.yaml").write_text(OLD)
    git("add", "net.yaml")
    git("commit", "-q", "-m", "old")
    (tmp_path / "net.yaml").write_text(NEW)
    git("commit", "-q", "-am", "new")
    return tmp_path


def test_against_a_revision_reads_the_spec_from_git(repo: Path):
    result = invoke(str(repo / "net.yaml"), "--against", "HEAD~1", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["params"] == {"old": 112, "new": 224, "delta": 112, "relative": 1.0}
    assert [layer["status"] for layer in data["layers"]] == ["changed", "changed"]  # the conv, and the relu's width


def test_a_gate_exceeded_exits_1_with_one_line_each(repo: Path):
    result = invoke(str(repo / "net.yaml"), "--against", "HEAD~1", "--max-growth", "params=50%,macs=10")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: --max-growth")]
    # MACs: 27 per output element x 4 x 8 x 8 = 6,912, then 27 x 8 x 8 x 8 = 13,824
    assert errors == [
        "error: --max-growth: params grew by 112 (112 -> 224), +100.00%: more than 50%",
        "error: --max-growth: macs grew by 6,912 (6,912 -> 13,824): more than 10",
    ]


def test_markdown_fits_a_pull_request_comment(tmp_path: Path):
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(NEW)
    result = invoke(str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "--format", "markdown")
    assert result.exit_code == 0, result.output
    head, _, rest = result.stdout.partition("\n")
    assert head.startswith("## net -> net: params +112 (+100.00%); MACs +6,912 (+100.00%)")
    table, _, footnote = rest.rpartition("</details>")
    assert "<details><summary>2 layers changed</summary>" in table
    # the stamp, a footnote: what both sides were counted at
    stamp = f"cnnsize {cnnsize.__version__}, input 3x8x8, batch 1, float32, convention pytorch"
    assert footnote.strip().startswith(f"<sub>{stamp} (") and footnote.strip().endswith("</sub>")
    assert "| `layers[0]` | changed | [4, 8, 8] -> [8, 8, 8] | +112 | +6,912 |" in rest


@pytest.mark.parametrize(
    "args, message",
    [
        (("{spec}", "--against", "no-such-revision"), "git cannot show"),
        (("{spec}", "--against", "--upload-pack=x"), "a git revision"),
        (("{spec}",), "give OLD and NEW, or one SPEC and --against REV"),
        (("{spec}", "{spec}", "--against", "HEAD"), "give OLD and NEW, or one SPEC and --against REV"),
        (("{spec}", "{spec}", "--max-growth", "size=1%"), "NAME one of params"),
    ],
)
def test_usage_errors_exit_2_with_one_message(repo: Path, args, message):
    result = invoke(*(a.replace("{spec}", str(repo / "net.yaml")) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_spec_with_a_problem_at_a_revision_is_located_there(repo: Path):
    (repo / "net.yaml").write_text(OLD.replace("relu", "rleu"))
    subprocess.run(["git", "commit", "-q", "-am", "typo"], cwd=repo, check=True, capture_output=True)
    (repo / "net.yaml").write_text(OLD)
    result = invoke(str(repo / "net.yaml"), "--against", "HEAD")
    assert result.exit_code == 1
    assert f"HEAD:{repo / 'net.yaml'}:5:5: error: layers[1]" in result.output
