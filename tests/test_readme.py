"""The README's Python examples run as written (on a small quickstart study), and its
command lines parse."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from optsweep.config import load_sweep
from optsweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch, capsys):
    """Each block runs; what a ``print(...)  # shown`` line prints starts as its
    comment says."""
    sweep = load_sweep(ROOT / "sweeps" / "quickstart.toml").with_overrides(
        n_trials=12, n_jobs=1, report=False
    )
    run_sweep(sweep, root=tmp_path / "results", progress=False)
    shutil.copytree(ROOT / "sweeps", tmp_path / "sweeps")
    monkeypatch.chdir(tmp_path)  # the examples name results/quickstart and sweeps/
    capsys.readouterr()
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        plt.close("all")
    shown = [c.rstrip(".") for c in re.findall(r"(?m)^print\(.*\)\s+#\s*(.+)$", code)]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(shown)
    for line, expected in zip(printed, shown, strict=True):
        assert line.startswith(expected), (line, expected)


def _commands() -> list[str]:
    """Every concrete ``optsweep ...`` command line in the README's shell blocks."""
    out = []
    for block in re.findall(r"```(?:bash|text)\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            m = re.search(r"(?:^|\$ |&& )(?:\.venv/bin/)?optsweep (.*)", line.split("#")[0])
            if m and "[" not in m.group(1) and "..." not in m.group(1):  # not a synopsis
                out.append(m.group(1).strip())
    return out


def test_the_readme_s_commands_are_accepted():
    """Each command the README shows parses with the options it uses (it once
    wrote -n for --n-jobs before -n existed)."""
    import shlex

    from optsweep.cli import build_parser

    commands = _commands()
    assert len(commands) >= 10 and any(c.startswith("worker ") for c in commands)
    for command in commands:
        build_parser().parse_args(shlex.split(command))
