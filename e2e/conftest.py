"""A throwaway JupyterLab server on 127.0.0.1 and Debian's Chromium, driven by Playwright.

Every browser test starts clean: a fresh browser context, a fresh JupyterLab workspace, fresh
copies of the notebooks in a folder of its own, the light theme, and no kernel running (all
kernels are shut down after each test, and checked before the next). Nothing waits a fixed
time: each wait is for a state, with a generous deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from e2e import notebooks

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "e2e-screenshots"
CHROMIUM = os.environ.get("AGENTFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
LIGHT, DARK, HIGH_CONTRAST = "JupyterLab Light", "JupyterLab Dark", "JupyterLab Dark High Contrast"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Jupyter:
    """The running server: its URL, and the REST calls the tests need."""

    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url, self.token, self.root = url, token, root

    def call(self, method: str, path: str, body: dict | None = None) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def kernels(self) -> list[dict]:
        return self.call("GET", "/api/kernels")  # type: ignore[return-value]

    def shut_down_everything(self) -> None:
        """End every session and kernel; the server answers once each kernel is gone."""
        for session in self.call("GET", "/api/sessions"):  # type: ignore[union-attr]
            self.call("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.kernels():
            self.call("DELETE", f"/api/kernels/{kernel['id']}")
        assert self.kernels() == [], "a kernel survived the shutdown"

    def set_theme(self, theme: str) -> None:
        self.call("PUT", "/lab/api/settings/@jupyterlab/apputils-extension:themes",
                  {"raw": json.dumps({"theme": theme})})


def _serve(process: subprocess.Popen, log: Path, ready: threading.Event, ended: threading.Event,
           found: list[str]) -> None:
    """Copy the server's output to `log`; once it says where it serves, note the URL in `found`
    (the port asked for may have been taken meanwhile: the server then picks another)."""
    with open(log, "w") as out:
        for line in process.stdout:  # type: ignore[union-attr]
            out.write(line)
            out.flush()
            match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if match and not ready.is_set():
                found.append(match.group(1))
                ready.set()
    ended.set()
    ready.set()  # let the waiter see it


def _answering(jupyter: Jupyter, ended: threading.Event, deadline: float = 120) -> None:
    """Wait until the server answers: it prints its URL just before it binds its port.
    Each retry waits on `ended`, so a server that dies is seen at once."""
    give_up = time.monotonic() + deadline
    while True:
        try:
            jupyter.call("GET", "/api/status")
            return
        except OSError:
            if ended.is_set() or time.monotonic() > give_up:
                raise
            ended.wait(0.1)


@pytest.fixture(scope="session")
def server(request):
    """JupyterLab (which also serves Notebook 7) on a scratch folder; always stopped at the end.
    Its log (every request, every save) is kept as `FAILED-server.log` beside the screenshots
    when a test failed."""
    base = Path(tempfile.mkdtemp(prefix="agentflow-e2e-"))
    work = base / "work"
    work.mkdir()
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "JUPYTER_DATA_DIR": str(base / "data"), "IPYTHONDIR": str(base / "ipython")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         f"--LabApp.workspaces_dir={base / 'workspaces'}", f"--LabApp.user_settings_dir={base / 'settings'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--ServerApp.shutdown_no_activity_timeout=0", "--ServerApp.log_level=DEBUG",
         "--MappingKernelManager.cull_idle_timeout=0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=work, text=True,
    )
    ready, ended, found = threading.Event(), threading.Event(), []
    reader = threading.Thread(target=_serve, args=(process, base / "server.log", ready, ended, found), daemon=True)
    reader.start()
    try:
        if not ready.wait(120) or not found or process.poll() is not None:
            raise RuntimeError((base / "server.log").read_text())
        jupyter = Jupyter(found[0], token, work)
        _answering(jupyter, ended)
        yield jupyter
    finally:
        if process.poll() is None and found:
            Jupyter(found[0], token, work).shut_down_everything()  # no kernel outlives the suite
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        reader.join(30)
        process.stdout.close()
        if request.session.testsfailed:
            SHOTS.mkdir(exist_ok=True)
            shutil.copy(base / "server.log", SHOTS / "FAILED-server.log")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def jupyter(server):
    """The server, clean for this test: no kernel, light theme; fresh notebooks in a folder of its own."""
    server.shut_down_everything()
    server.set_theme(LIGHT)
    folder = server.root / f"t{next(_counter)}"
    folder.mkdir()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, folder)
    for name, cells in notebooks.EXTRA.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nbformat.write(nb, folder / name)
    server.folder = folder.name
    try:
        yield server
    finally:
        server.shut_down_everything()
        server.set_theme(LIGHT)


@pytest.fixture(scope="session")
def browser():
    SHOTS.mkdir(exist_ok=True)
    for old in SHOTS.glob("FAILED-*"):  # what failed in an earlier run
        old.unlink()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


def pytest_collection_modifyitems(items):
    for item in items:  # a browser test opens a notebook and starts a kernel: more than the default
        item.add_marker(pytest.mark.timeout(420))


@pytest.fixture
def page(browser, jupyter, request):
    """A fresh browser context (1280x800, a laptop screen) for each test; a screenshot if it fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        if getattr(request.node, "failed_call", False):
            page.screenshot(path=str(SHOTS / f"FAILED-{request.node.name}.png"))
        context.close()
