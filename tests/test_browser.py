"""A learner's steps, in a real browser: JupyterLab opens a notebook, Run All Cells runs it
without an error, and a dashboard answers its slider moved with the keyboard. Four notebooks:
the first one (Huber's delta), chapter 03's momentum notebook (the μ slider), chapter 04's
Hessian notebook (the saddle's perturbation σ) and chapter 05's search notebook (the budget
slider of the search dashboard). Each checks that the dashboard's figure is
shown at its own pixel size (not stretched, not soft).

Needs the ``playwright`` Python package (the ``browser`` extra) and Debian's Chromium at
/usr/bin/chromium (``apt-get install chromium``); skipped, with the reason, without them.
The browser never downloads anything: Playwright drives the system Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = "01_losses/01_regression_losses.ipynb"
MOMENTUM_NOTEBOOK = "03_adaptive/01_momentum.ipynb"
HESSIAN_NOTEBOOK = "04_second_order/01_hessian_critical_points.ipynb"
SEARCH_NOTEBOOK = "05_in_practice/01_hyperparameter_search.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# JupyterLab user settings for a quiet, deterministic page: no news/update toasts, and every
# cell kept in the DOM (no windowing) so the test can read all prompts and outputs.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}
MS = 1000  # Playwright timeouts are in milliseconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_lab(root: Path, home: Path, log, notebook: str = NOTEBOOK) -> tuple[subprocess.Popen, str]:
    """JupyterLab on 127.0.0.1 serving ``root``, its config and runtime files under ``home``."""
    for plugin, values in USER_SETTINGS.items():
        path = home / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), "edulib-browser-test"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", str(root), "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         "--ServerApp.port_retries=0", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return proc, f"{base}/lab/tree/{notebook}?token={token}"
        except OSError:
            time.sleep(0.3)
    _stop(proc)
    log.flush()
    pytest.fail("JupyterLab did not answer on 127.0.0.1:\n" + (home / "lab.log").read_text()[-3000:])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _in_lab(tmp_path: Path, notebook: str, drive, budget_s: float) -> None:
    """Serve a copy of the course, open ``notebook`` in Chromium, run it all (no error, every
    cell numbered in order), then ``drive(page, panel, tmp_path)``; screenshot on failure."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                   "(pip install -e '.[browser]')")
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    # A copy of the course: running the notebook in the browser must never touch the
    # committed outputs (JupyterLab may autosave).
    root = tmp_path / "course"
    shutil.copytree(ROOT / "course", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    home = tmp_path / "jupyter"
    home.mkdir()
    n_code = sum(c["cell_type"] == "code" for c in json.loads((root / notebook).read_text())["cells"])
    started = time.monotonic()

    with open(home / "lab.log", "w") as log:
        proc, url = _start_lab(root, home, log, notebook)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30 * MS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(30 * MS)
                try:
                    panel = _run_all(page, url, n_code)
                    drive(page, panel, tmp_path)
                except BaseException:
                    page.screenshot(path=str(tmp_path / "failure.png"))
                    print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
                    raise
            finally:
                browser.close()
    finally:
        _stop(proc)
    assert time.monotonic() - started < budget_s, f"the browser test must stay under {budget_s:.0f} s"


def test_learner_runs_first_notebook_and_moves_huber_slider(tmp_path):
    _in_lab(tmp_path, NOTEBOOK, _drive_huber, budget_s=120)


def test_learner_runs_momentum_notebook_and_moves_mu_slider(tmp_path):
    _in_lab(tmp_path, MOMENTUM_NOTEBOOK, _drive_momentum, budget_s=180)


def test_learner_runs_hessian_notebook_and_moves_saddle_noise_slider(tmp_path):
    _in_lab(tmp_path, HESSIAN_NOTEBOOK, _drive_saddle_escape, budget_s=180)


def test_learner_runs_search_notebook_and_moves_budget_slider(tmp_path):
    _in_lab(tmp_path, SEARCH_NOTEBOOK, _drive_search, budget_s=180)


def _kernel_connected(url: str) -> tuple[bool, list]:
    """Whether the server has a kernel that is idle with a client (the page) connected."""
    base, token = url.split("/lab/")[0], url.split("token=")[1]
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as resp:
        kernels = json.load(resp)
    return any(k["execution_state"] == "idle" and k.get("connections", 0) >= 1 for k in kernels), kernels


def _wait_for_connected_kernel(page, url: str, timeout: float = 60.0) -> None:
    """Wait until the notebook's kernel is idle with the page's websocket open. JupyterLab may
    first ask which kernel to start: the learner accepts the proposed Python 3."""
    select_kernel = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    deadline = time.monotonic() + timeout
    while True:
        ready, kernels = _kernel_connected(url)
        if ready:
            return
        if select_kernel.is_visible():
            select_kernel.locator(".jp-mod-accept").click()
        if time.monotonic() > deadline:
            pytest.fail(f"the notebook's kernel never became idle and connected: {kernels}")
        page.wait_for_timeout(250)


def _run_all(page, url: str, n_code: int):
    """Open the notebook, clear its outputs, Run All Cells; wait until every code cell ran
    (numbered 1..n) without a traceback or a widget error. Returns the notebook panel."""
    page.goto(url, wait_until="domcontentloaded", timeout=60 * MS)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=60 * MS)
    _wait_for_connected_kernel(page, url)  # the page's websocket to the kernel is open
    idle = panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    idle.wait_for(timeout=30 * MS)

    # The copy holds the committed outputs, numbered 1..n already: clear them (Edit > Clear
    # Outputs of All Cells) so that every count and output checked below comes from this run.
    prompts = panel.locator(".jp-CodeCell .jp-InputArea-prompt")
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.get_by_role("menuitem", name="Clear Outputs of All Cells", exact=True).click()
    page.wait_for_function("els => els.every(e => e.innerText.trim() === '[ ]:')",
                           arg=prompts.element_handles())
    assert panel.locator(".jp-OutputArea-output").count() == 0

    # Run > Run All Cells, as a learner would. Should that first request still be lost while
    # the notebook finishes connecting (every prompt stays "[ ]:"), click again, as a learner would.
    for attempt in range(3):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function("els => els.some(e => e.innerText.trim() !== '[ ]:')",
                                   arg=prompts.element_handles(), timeout=10 * MS)
            break
        except Exception:  # playwright's TimeoutError
            if attempt == 2:
                raise

    # A fresh kernel numbers the code cells 1..n in order once all have run. An error stops
    # Run All, so errors are checked while waiting (fail fast, with the traceback).
    errors = panel.locator(".jp-OutputArea-output").filter(has_text="Traceback")
    stderr_tb = panel.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
                              ).filter(has_text="Traceback")
    widget_err = panel.locator(".jp-OutputArea-output").filter(has_text="Error displaying widget")
    expected = [f"[{k}]:" for k in range(1, n_code + 1)]
    deadline = time.monotonic() + 75
    while True:
        assert errors.count() == 0 and stderr_tb.count() == 0, (errors.all_inner_texts()
                                                                or stderr_tb.all_inner_texts())[0]
        got = [t.strip() for t in prompts.all_inner_texts()]
        if got == expected:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"cells did not all run: prompts {got}, expected {expected}")
        page.wait_for_timeout(250)
    idle.wait_for(timeout=30 * MS)
    assert errors.count() == 0 and stderr_tb.count() == 0, errors.all_inner_texts()[:1]
    assert widget_err.count() == 0, widget_err.all_inner_texts()[:1]
    return panel


def _image_shown_at_pixel_size(page, image) -> None:
    """The PNG is displayed at its own width (issue 9: a stretched image looks soft)."""
    natural, shown = page.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]",
                                   image.element_handle())
    assert natural > 100 and abs(natural - shown) <= 1, (natural, shown)


def _drive_huber(page, panel, tmp_path: Path) -> None:
    # The Huber delta dashboard: a slider, its readout, the dashboard's numbers and a figure.
    dash = panel.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=page.locator(".widget-slider")).first
    dash.scroll_into_view_if_needed()
    handle = dash.locator(".noUi-handle").first
    readout = dash.locator(".widget-readout").first
    numbers = dash.locator(".widget-html").first
    image = dash.locator("img").first
    for loc in (handle, readout, numbers, image):
        loc.wait_for(state="visible")
    assert "delta" in dash.inner_text()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
    before = {"src": image.get_attribute("src"), "readout": readout.inner_text(),
              "numbers": numbers.inner_text()}
    assert before["src"], "the dashboard's image has no source"

    # Move the slider with the keyboard; the kernel refits and sends a new PNG.
    handle.focus()
    for _ in range(5):
        handle.press("ArrowLeft")
    page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete",
                           arg=[image.element_handle(), before["src"]], timeout=30 * MS)
    panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=30 * MS)
    after = {"src": image.get_attribute("src"), "readout": readout.inner_text(),
             "numbers": numbers.inner_text()}
    assert after["readout"] != before["readout"], (before, after)
    assert after["numbers"] != before["numbers"] and "Huber slope" in after["numbers"], (before, after)
    assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 100

    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "huber_dashboard.png"))
    _image_shown_at_pixel_size(page, image)


def _drive_momentum(page, panel, tmp_path: Path) -> None:
    """The momentum dashboard: move μ with the keyboard; the figure and the rates change."""
    rates = page.locator(".widget-html").filter(has_text="measured rate")  # the readout
    dash = panel.locator(".jp-OutputArea-output .widget-vbox").filter(has=rates).first
    readout = dash.locator(".widget-html").filter(has_text="measured rate").first
    readout.wait_for(state="visible")
    mu = dash.locator(".widget-slider").filter(has_text="momentum μ").first
    handle = mu.locator(".noUi-handle").first
    value = mu.locator(".widget-readout").first
    image = dash.locator("img").first
    dash.scroll_into_view_if_needed()
    for loc in (handle, value, image):
        loc.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
    # the notebook drove the dashboard to mu = 0.9 after displaying it
    page.wait_for_function("el => el.innerText.includes('μ = 0.9')", arg=readout.element_handle())
    before = {"src": image.get_attribute("src"), "mu": value.inner_text(), "readout": readout.inner_text()}
    assert before["mu"].strip() == "0.900", before

    handle.focus()
    for _ in range(10):
        handle.press("ArrowLeft")  # step 0.001: mu 0.900 -> 0.890
    page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete",
                           arg=[image.element_handle(), before["src"]], timeout=30 * MS)
    page.wait_for_function("el => el.innerText.includes('μ = 0.89)')", arg=readout.element_handle(),
                           timeout=30 * MS)
    panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=30 * MS)
    after = {"src": image.get_attribute("src"), "mu": value.inner_text(), "readout": readout.inner_text()}
    assert after["mu"].strip() == "0.890", after
    # at eta* both roots are complex for mu = 0.89: the rate is sqrt(0.89)
    assert after["readout"] != before["readout"] and "theory ρ = 0.9434" in after["readout"], after
    _image_shown_at_pixel_size(page, image)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "momentum_dashboard.png"))


def _drive_saddle_escape(page, panel, tmp_path: Path) -> None:
    """Chapter 04's saddle dashboard: a smaller perturbation σ takes longer to escape."""
    readouts = page.locator(".widget-html").filter(has_text="growth factor")
    dash = panel.locator(".jp-OutputArea-output .widget-vbox").filter(has=readouts).first
    readout = dash.locator(".widget-html").filter(has_text="growth factor").first
    readout.wait_for(state="visible")
    sigma = dash.locator(".widget-slider").filter(has_text="perturbation σ").first
    handle = sigma.locator(".noUi-handle").first
    image = dash.locator("img").first
    dash.scroll_into_view_if_needed()
    for loc in (handle, image):
        loc.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
    # the notebook drove the dashboard back to sigma = 1e-6 after displaying it
    page.wait_for_function("el => el.innerText.includes('σ = 1e-06: leaves after')",
                           arg=readout.element_handle())
    before = {"src": image.get_attribute("src"), "readout": readout.inner_text()}

    handle.focus()
    handle.press("ArrowLeft")  # the previous option: sigma 1e-6 -> 1e-9
    page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete",
                           arg=[image.element_handle(), before["src"]], timeout=30 * MS)
    page.wait_for_function("el => el.innerText.includes('σ = 1e-09: leaves after')",
                           arg=readout.element_handle(), timeout=30 * MS)
    panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=30 * MS)
    after = {"src": image.get_attribute("src"), "readout": readout.inner_text()}

    def steps(text: str) -> int:
        return int(text.split("leaves after ")[1].split(" steps")[0])

    # escaping takes about ln(1/sigma)/ln(1 + 2 eta) steps: 1000x smaller sigma, more steps
    assert steps(after["readout"]) > steps(before["readout"]), (before, after)
    _image_shown_at_pixel_size(page, image)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "saddle_dashboard.png"))


def _drive_search(page, panel, tmp_path: Path) -> None:
    """Chapter 05's search dashboard: a smaller budget shows fewer trials and a new best."""
    readouts = page.locator(".widget-html").filter(has_text="best trial")
    dash = panel.locator(".jp-OutputArea-output .widget-vbox").filter(has=readouts).first
    readout = dash.locator(".widget-html").filter(has_text="best trial").first
    readout.wait_for(state="visible")
    budget = dash.locator(".widget-slider").filter(has_text="budget (trials)").first
    handle = budget.locator(".noUi-handle").first
    value = budget.locator(".widget-readout").first
    image = dash.locator("img").first
    dash.scroll_into_view_if_needed()
    for loc in (handle, value, image):
        loc.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
    page.wait_for_function("el => el.innerText.includes('budget 16')", arg=readout.element_handle())
    before = {"src": image.get_attribute("src"), "budget": value.inner_text(),
              "readout": readout.inner_text()}
    assert before["budget"].strip() == "16", before

    handle.focus()
    for _ in range(4):
        handle.press("ArrowLeft")  # step 1: budget 16 -> 12
    page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete",
                           arg=[image.element_handle(), before["src"]], timeout=30 * MS)
    page.wait_for_function("el => el.innerText.includes('budget 12')", arg=readout.element_handle(),
                           timeout=30 * MS)
    panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=30 * MS)
    after = {"src": image.get_attribute("src"), "budget": value.inner_text(),
             "readout": readout.inner_text()}
    assert after["budget"].strip() == "12", after

    def regret(text: str) -> float:
        return float(text.split("regret ")[1].split(")")[0])

    # the best of the first 12 trials is never better than the best of the first 16
    assert regret(after["readout"]) >= regret(before["readout"]), (before, after)
    _image_shown_at_pixel_size(page, image)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "search_dashboard.png"))
