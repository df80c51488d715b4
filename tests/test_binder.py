"""The binder/ folder follows repo2docker's rules and installs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def lines(name: str) -> list[str]:
    text = (BINDER / name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_runtime_names_a_python_3_version():
    assert lines("runtime.txt") == ["python-3.12"]


def test_apt_brings_graphviz():
    assert lines("apt.txt") == ["graphviz"]


def test_requirements_install_this_repo_with_the_notebook_extras():
    # with a binder/ folder repo2docker ignores pyproject.toml, so the repo must be installed here
    assert lines("requirements.txt") == [".[notebook]"]


def test_only_files_repo2docker_reads_are_in_binder():
    known = {"runtime.txt", "requirements.txt", "apt.txt", "postBuild", "start", "environment.yml"}
    assert {p.name for p in BINDER.iterdir()} <= known


def test_requirements_resolve_from_the_repository_root(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(tmp_path / "r.json"), "-r", "binder/requirements.txt"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    names = {item["metadata"]["name"].lower().replace("_", "-") for item in report["install"]}
    assert {"agentflow-nb", "ipywidgets", "anywidget", "graphviz-pure", "ipykernel", "graphviz"} <= names
