"""Open lesson 3 in JupyterLab in a headless Chromium, run it, and use its search box as a learner would.

Run by `make browser-test` (not collected by `pytest tests`: its name does not start with test_).
Steps: copy notebooks/ to a temporary folder, start JupyterLab there on a free port in quick offline mode
(MMLESSON_QUICK=1 MMLESSON_OFFLINE=1), open 03_image_search.ipynb in Debian's chromium through
chromium-driver (Selenium), clear all outputs, Run All, wait until every code cell has run without an error,
set the search box's k to 15, type "a red star" into its text box, and check that the results come back as a
wrapped grid (more than one row, thumbnails wide enough to read their titles).
Prints one line per step; exits 0 on success, 1 with the reason (and a screenshot path) on failure.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "03_image_search.ipynb"
QUERY = "a red star"
K = 15  # more than one row of the search box's grid (widgets.RESULTS_PER_ROW = 6)
MIN_THUMBNAIL_PX = 100  # narrower than this and a two-line title at fontsize 8 no longer fits under it
# Debian's packages by default; on another system point CHROMIUM and CHROMEDRIVER at a matching browser and driver
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
STATUS_PATTERN = re.compile(r"(\d+) result\(s\) for '(.*)' with score >= (-?[\d.]+) \((\d+) row\(s\) of (\d+)\)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_status(text: str) -> dict | None:
    """The search box's status line as numbers: results, query, rows, columns; None if it is another message."""
    match = STATUS_PATTERN.search(text)
    if match is None:
        return None
    return {"results": int(match[1]), "query": match[2], "rows": int(match[4]), "columns": int(match[5])}


def wrapped_grid_problem(status: str, image_width: int, image_height: int, k: int = K) -> str | None:
    """Why the shown grid is not a readable wrapped grid of k hits, or None when it is.

    ``status``: the search box's status line; ``image_width``/``image_height``: the grid image's pixel size.
    A wrapped grid has k results in ceil(k / columns) > 1 rows, an image taller than one row of thumbnails
    (each thumbnail is about as tall as it is wide), and thumbnails at least MIN_THUMBNAIL_PX wide.
    """
    shown = parse_status(status)
    if shown is None:
        return f"status line is not a result count: {status!r}"
    if shown["results"] != k:
        return f"expected {k} results, status says {shown['results']}"
    if shown["rows"] < 2 or shown["rows"] * shown["columns"] < k or shown["columns"] >= k:
        return f"results are not wrapped: {shown['rows']} row(s) of {shown['columns']} for {k} results"
    if image_width <= 0 or image_height <= 0:
        return "no grid image was drawn"
    thumbnail = image_width / shown["columns"]
    if thumbnail < MIN_THUMBNAIL_PX:
        return f"thumbnails are {thumbnail:.0f} px wide, below {MIN_THUMBNAIL_PX} px: titles unreadable"
    if image_height < 1.5 * thumbnail:
        return f"grid image is {image_height} px tall for {thumbnail:.0f} px thumbnails: only one row drawn"
    return None


def missing_tools() -> list[str]:
    """Debian packages this check needs that are not installed."""
    missing = [package for package, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
               if not Path(path).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    return missing


def lab_settings(root: Path) -> dict[str, str]:
    """A private JupyterLab settings folder: every cell kept in the page, no news or update pop-ups."""
    settings = root / "settings"
    for name, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                         "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (root / "workspaces").mkdir(exist_ok=True)
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}


def start_lab(root: Path, port: int, token: str) -> subprocess.Popen:
    env = {**os.environ, "MMLESSON_QUICK": "1", "MMLESSON_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **lab_settings(root)}
    env.pop("MPLBACKEND", None)  # the notebook draws inline, as for a learner
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(root / "lab.log", "wb")
    return subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--IdentityProvider.token={token}", "--allow-root", str(root / "notebooks")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_lab(port: int, token: str, server: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError("JupyterLab exited early (see lab.log)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s")


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_until(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_command(driver, menu: str, label: str) -> None:
    """Click a JupyterLab menu entry by its label (e.g. Run > Run All Cells), as a learner would."""
    from selenium.webdriver.common.by import By

    for item in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item"):
        if item.text.strip() == menu:
            item.click()
            break
    else:
        raise RuntimeError(f"no {menu!r} menu in the menu bar")
    def entry():
        return [item for item in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
                if item.find_element(By.CSS_SELECTOR, ".lm-Menu-itemLabel").text.strip() == label]

    wait_until(entry, 10, f"the menu entry {menu} > {label}")[0].click()


def status_bar(driver) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(bar.text for bar in driver.find_elements(By.ID, "jp-main-statusbar"))


def prompts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [p.text.strip() for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]


def error_outputs(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    outputs = driver.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    return [output.text[-600:] for output in outputs if "Traceback" in output.text or "Error:" in output.text]


def run_all_cells(driver, timeout: float) -> float:
    """Clear outputs, Run All, wait until every code cell shows an execution count; returns seconds."""
    run_command(driver, "Edit", "Clear Outputs of All Cells")
    wait_until(lambda: all(p in ("[ ]:", "[ ]") for p in prompts(driver)), 20, "cleared prompts")
    started = time.time()
    run_command(driver, "Run", "Run All Cells")

    def finished():
        errors = error_outputs(driver)
        if errors:
            raise RuntimeError(f"a cell raised an error:\n{errors[0]}")
        shown = prompts(driver)
        return shown and all(re.fullmatch(r"\[\d+\]:?", p) for p in shown)

    wait_until(finished, timeout, "Run All to finish", poll=1.0)
    return time.time() - started


def use_search_box(driver, timeout: float = 60.0) -> tuple[str, int, int]:
    """Set k, type the query into the first search box; returns (status line, image width, image height)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    text_box = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, 'input[placeholder^="describe an image"]'),
                          30, "the search box's text input")[0]
    box = text_box.find_element(By.XPATH, "./ancestor::div[contains(@class, 'widget-vbox')][1]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    status_of = lambda: box.find_element(By.CSS_SELECTOR, ":scope > .widget-label").text  # noqa: E731

    readout = box.find_elements(By.CSS_SELECTOR, ".widget-readout")[0]  # the k slider's number, editable
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys(str(K), Keys.ENTER)
    wait_until(lambda: f"{K} result(s)" in status_of(), timeout, f"k = {K} to take effect")

    text_box.click()
    text_box.send_keys(Keys.CONTROL, "a")
    text_box.send_keys(Keys.BACKSPACE)
    wait_until(lambda: "type a description" in status_of(), timeout, "the cleared box to say 'type a description'")
    text_box.send_keys(QUERY)
    wait_until(lambda: (parse_status(status_of()) or {}).get("query") == QUERY, timeout, f"results for {QUERY!r}")
    wait_until(lambda: "Idle" in status_bar(driver), timeout, "the kernel to finish the searches typed so far")

    def grid_image():
        images = box.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
        if not images:
            return None
        size = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight];", images[-1])
        return size if size[0] > 0 else None

    width, height = wait_until(grid_image, timeout, "the results grid image")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", box)
    return status_of(), width, height


def main(timeout: float = 600.0) -> int:
    missing = missing_tools()
    if missing:
        print("browser check needs: " + ", ".join(missing) + ". Install Chromium and its driver with "
              "`sudo apt-get install -y chromium chromium-driver` and Selenium with `.venv/bin/pip install selenium` "
              "(or run `make browser-test` as root, which installs them).")
        return 1
    root = Path(tempfile.mkdtemp(prefix="mmlesson-browser-"))
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    port, token = free_port(), secrets.token_hex(8)
    server, driver, started = start_lab(root, port, token), None, time.time()
    try:
        wait_for_lab(port, token, server)
        print(f"JupyterLab on 127.0.0.1:{port} serving a copy of notebooks/ in {root}")
        driver = open_browser()
        driver.get(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}")
        wait_until(lambda: prompts(driver), 90, "the notebook to open")
        wait_until(lambda: "Idle" in status_bar(driver), 90, "the kernel to start (status bar: Idle)")
        print(f"opened {NOTEBOOK}: {len(prompts(driver))} code cells")
        seconds = run_all_cells(driver, timeout)
        print(f"Run All finished in {seconds:.0f} s, no errors")
        status, width, height = use_search_box(driver)
        problem = wrapped_grid_problem(status, width, height)
        if problem:
            raise RuntimeError(f"search box: {problem}")
        print(f"typed {QUERY!r}: {status}; grid image {width}x{height} px")
        driver.save_screenshot(str(root / "search_box.png"))
        print(f"screenshot of the search box: {root / 'search_box.png'}")
        print(f"browser check passed in {time.time() - started:.0f} s")
        shutil.rmtree(root / "notebooks", ignore_errors=True)  # keep only the screenshot and the server log
        return 0
    except Exception as error:  # report, keep a screenshot, and fail
        shot = root / "failure.png"
        if driver is not None:
            driver.save_screenshot(str(shot))
        print(f"browser check FAILED: {error}\n(screenshot: {shot if driver else 'none'}; "
              f"server log: {root / 'lab.log'})")
        return 1
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    raise SystemExit(main())
