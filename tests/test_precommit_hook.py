"""The pre-commit hook (.pre-commit-hooks.yaml) through the real `pre-commit` program.

The working tree as it is now (uncommitted changes included) is committed into a temporary clone,
and a temporary project points its `.pre-commit-config.yaml` at that clone, so the hook is tested
exactly as a user's project would install and run it. Installing the hook's environment (a
virtualenv with cnnsize and its dependencies) takes a few seconds, once per test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BAD_SPEC = """\
name: bad
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 30}
"""


def _git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-c", "user.name=cnnsize tests", "-c", "user.email=tests@cnnsize.invalid", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding the current working tree in one commit: (path, commit)."""
    clone = tmp_path_factory.mktemp("hook-repo")
    listed = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # tracked files deleted in the working tree are left out
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    _git("init", "-q", cwd=clone)
    _git("add", "-A", cwd=clone)
    _git("commit", "-q", "-m", "the working tree under test", cwd=clone)
    return clone, _git("rev-parse", "HEAD", cwd=clone)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, hook_repo: tuple[Path, str]) -> Path:
    """A user's project whose pre-commit config uses the hook, with one good spec."""
    path = tmp_path_factory.mktemp("project")
    repo, rev = hook_repo
    config = {"repos": [{"repo": str(repo), "rev": rev, "hooks": [{"id": "cnnsize-check"}]}]}
    (path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "toy.yaml", path / "specs" / "good.yaml")
    _git("init", "-q", cwd=path)
    _git("add", "-A", cwd=path)
    return path


def _pre_commit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PRE_COMMIT_HOME"] = str(project.parent / "pre-commit-home")  # shared by this module's runs
    env.pop("PYTHONPATH", None)  # the hook must run the cnnsize installed in its own environment
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--color", "never", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_hook_passes_a_good_spec_and_skips_the_config_file(project: Path) -> None:
    done = _pre_commit(project, "--all-files")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "cnnsize check" in output and "Passed" in output
    # .pre-commit-config.yaml is YAML but no spec: the hook leaves it out by default, or it would fail.
    assert "Failed" not in output


def test_hook_fails_a_bad_spec_naming_file_and_line(project: Path) -> None:
    bad = project / "specs" / "bad.yaml"
    bad.write_text(BAD_SPEC)
    _git("add", "specs/bad.yaml", cwd=project)
    try:
        done = _pre_commit(project, "--files", "specs/good.yaml", "specs/bad.yaml")
    finally:
        _git("rm", "-q", "--cached", "specs/bad.yaml", cwd=project)
        bad.unlink()
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Failed" in output
    # The kernel (30) does not fit the 8x8 input: reported at line 4, column 50 (`kernel_size`'s value).
    assert "specs/bad.yaml:4:50: error: layers[0].kernel_size:" in output
    assert "2 specs checked: 1 failed" in output
    assert not any(line.startswith("specs/good.yaml") for line in output.splitlines())


def test_hook_environment_has_cnnsize_typed_and_no_torch(project: Path) -> None:
    assert _pre_commit(project, "--all-files").returncode == 0  # the environment exists
    home = project.parent / "pre-commit-home"
    pythons = sorted(home.glob("repo*/py_env-*/bin/python"))
    assert len(pythons) == 1, pythons
    probe = (
        "import importlib.util, pathlib, cnnsize;"
        "print(importlib.util.find_spec('torch') is None);"
        "print((pathlib.Path(cnnsize.__file__).parent / 'py.typed').is_file())"
    )
    done = subprocess.run([str(pythons[0]), "-c", probe], capture_output=True, text=True, cwd=home)
    assert done.stdout.split() == ["True", "True"], done.stderr
