"""The README's promises: the course opens in JupyterLab, every chapter has notebooks that nbval
runs, and the code is lint-clean."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^```bash\n(.+?)\n```", readme, flags=re.M | re.S)
    assert len(commands) == 2, f"README must show exactly two set-up commands, found {commands}"
    open_cmd, test_cmd = commands
    assert "jupyterlab course" in open_cmd and "pip install" in open_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_jupyterlab_serves_the_course_on_loopback(tmp_path):
    port, token = _free_port(), "edulib-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "course", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         "--ServerApp.port_retries=0"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        listing, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=2) as resp:
                    listing = json.load(resp)
                break
            except OSError:
                time.sleep(0.5)
        if listing is None:
            proc.terminate()
            pytest.fail("JupyterLab did not answer on 127.0.0.1:\n" + proc.communicate()[0][-3000:])
        names = {item["name"] for item in listing["content"]}
        assert {"01_losses", "02_gradient_descent"} <= names, names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_every_notebook_has_committed_outputs_and_a_kernel():
    notebooks = sorted((ROOT / "course").glob("*/*.ipynb"))
    assert notebooks, "no notebooks under course/"
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        if nb["metadata"].get("edulib", {}).get("learner_version_of"):
            continue  # learner versions ship unexecuted; tests/test_grading.py checks their sources
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, nb_path
        assert all(c.get("execution_count") for c in code), f"{nb_path}: unexecuted cells"
        assert nb["metadata"]["kernelspec"]["name"] == "python3", nb_path


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_solution_region_is_in_an_nbgrader_solution_cell():
    # nbgrader generate_assignment stops at "Solution region detected in a non-solution cell"
    bad = []
    for nb_path in sorted((ROOT / "course").glob("**/*.ipynb")):
        for i, cell in enumerate(json.loads(nb_path.read_text())["cells"]):
            if "### BEGIN SOLUTION" in "".join(cell["source"]) and not cell["metadata"].get(
                    "nbgrader", {}).get("solution"):
                bad.append(f"{nb_path.relative_to(ROOT)} cell {i}")
    assert not bad, bad
