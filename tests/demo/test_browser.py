"""``n2ldiff demo`` in a real headless browser (Playwright + Debian's chromium).

Starts ``n2ldiff demo --model <tiny model> --port <free port>`` in a subprocess, uploads a generated
96x64 photo, runs n2ldiff and the baselines, checks that the result images appear, downloads the zip
and a PNG and decodes them. Requests that leave 127.0.0.1 are blocked and must not happen (offline).

Skipped when chromium or playwright is missing, unless ``CI`` is set (then it fails instead), and always
skipped with ``N2LDIFF_NO_BROWSER=1`` (``scripts/test.sh`` for users without root: no chromium installed).
``N2LDIFF_CHROMIUM`` overrides the browser path; ``N2LDIFF_DEMO_SCREENSHOT=docs/demo.png`` also saves a
screenshot of the page after a run on the shipped astronaut example (``N2LDIFF_DEMO_MODEL`` picks the
model for it, e.g. the shipped default; the tiny test model's n2ldiff output is noise).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("N2LDIFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 96, 64
SEEDS = (3407, 7)
START_TIMEOUT = 180  # s: importing torch + gradio on a busy 2-core machine
RUN_TIMEOUT_MS = 180_000


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set: run scripts/install_browser.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sync_playwright():
    if os.environ.get("N2LDIFF_NO_BROWSER", "0") != "0":
        pytest.skip(
            "N2LDIFF_NO_BROWSER is set: no chromium (scripts/install_browser.sh installs it system-wide, as root)"
        )
    for module, hint in (("gradio", "n2ldiff[demo]"), ("playwright", "n2ldiff[browser-test]")):
        try:
            __import__(module)
        except ImportError:
            _missing(f"{module} is not installed (pip install '{hint}')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"chromium not found at {CHROMIUM} (scripts/install_browser.sh installs it)")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_demo(model_dir: Path, workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    log = workdir / "demo.log"
    temp = workdir / "tmp"  # the server's uploads, results and Gradio cache stay in pytest's tmp_path
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", TMPDIR=str(temp))
    command = [sys.executable, "-c", "from n2ldiff.cli import main; main()", "demo"]
    command += ["--model", str(model_dir), "--port", str(port), "--device", "cpu"]
    with open(log, "wb") as handle:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"n2ldiff demo exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url, log
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"n2ldiff demo did not serve {url} within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def demo_url(sync_playwright, tiny_model_dir, tmp_path_factory):
    proc, url, _ = _start_demo(tiny_model_dir, tmp_path_factory.mktemp("demo"))
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def browser(sync_playwright):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    """A fresh page whose requests may only go to 127.0.0.1; ``page.external`` lists the blocked ones."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    external: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.external = external
    yield page
    context.close()


@pytest.fixture()
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([x * 2.5, y * 3.5, 128 + 40 * np.sin(x / 7.0)], axis=-1) + rng.normal(0, 8, (HEIGHT, WIDTH, 3))
    path = tmp_path / "street.png"
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#n2l-run")


def _upload(page, *paths: Path) -> None:
    page.locator("#n2l-upload input[type=file]").set_input_files([str(p) for p in paths])
    for p in paths:
        page.locator("#n2l-upload").get_by_text(p.stem, exact=False).first.wait_for()


def _checked_methods(page) -> list[str]:
    boxes = page.locator("#n2l-methods input[type=checkbox]")
    return [
        boxes.nth(i).evaluate("el => el.closest('label').innerText.trim()")
        for i in range(boxes.count())
        if boxes.nth(i).is_checked()
    ]


def _download(page, name: str, into: Path) -> Path:
    link = page.locator(f'#n2l-downloads a[download="{name}"]')
    with page.expect_download() as info:
        link.click()
    target = into / name
    info.value.save_as(target)
    return target


def test_generate_and_download(page, demo_url, photo, tmp_path):
    _open(page, demo_url)
    _upload(page, photo)
    page.fill("#n2l-seeds textarea, #n2l-seeds input", ", ".join(map(str, SEEDS)))
    methods = _checked_methods(page)
    assert methods[0] == "n2ldiff"

    page.click("#n2l-run")
    page.locator('#n2l-downloads a[download="n2ldiff-results.zip"]').wait_for(timeout=RUN_TIMEOUT_MS)

    # the gallery shows the normal photo and every (method, seed) result, all decoded by the browser
    expected = len(methods) * (1 + len(SEEDS))  # one row per method: the normal photo, then each seed
    images = page.locator("#n2l-results img")
    images.nth(expected - 1).wait_for()
    assert images.count() == expected
    for i in range(expected):  # the gallery may load images lazily: bring each into view
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#n2l-results img')].every(e => e.complete && e.naturalWidth)"
    )
    sizes = images.evaluate_all("els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
    assert all(complete and (w, h) == (WIDTH, HEIGHT) for complete, w, h in sizes), sizes
    assert "results" in page.locator("#n2l-status").inner_text()

    archive_path = _download(page, "n2ldiff-results.zip", tmp_path)
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        pngs = sorted(n for n in names if n.endswith(".png"))
        assert len(pngs) == len(methods) * len(SEEDS)
        for name in pngs:
            with Image.open(io.BytesIO(archive.read(name))) as img:
                img.load()
                assert img.size == (WIDTH, HEIGHT)
        records = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
    assert sorted(r["output"] for r in records) == pngs
    assert {r["method"] for r in records} == set(methods)
    assert {r["seed"] for r in records} == set(SEEDS)
    n2l = next(r for r in records if r["method"] == "n2ldiff")
    assert n2l["weights_sha256"] and n2l["settings"]["sampler"] and n2l["version"]

    single = _download(page, f"street_n2ldiff_s{SEEDS[0]}.png", tmp_path)
    with Image.open(single) as img:
        img.load()
        assert img.size == (WIDTH, HEIGHT)

    # the other views are filled too
    page.get_by_role("tab", name="Brightened").click()
    page.get_by_role("tabpanel").locator("img").nth(expected - 1).wait_for()
    page.get_by_role("tab", name="Zoomed crop").click()
    page.get_by_role("tabpanel").locator("img").nth(expected - 1).wait_for()
    assert page.external == []


def test_bad_upload_shows_a_message(page, demo_url, photo, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(photo.read_bytes()[:200])  # a truncated PNG
    _open(page, demo_url)
    _upload(page, broken)
    page.click("#n2l-run")
    toasts = page.locator(".toast-body")
    toasts.filter(has_text="none of the uploaded files is a readable image").wait_for()
    text = " ".join(toasts.all_inner_texts())
    assert "Skipped broken.png" in text
    assert "Traceback" not in text
    assert page.locator("#n2l-results img").count() == 0
    assert page.external == []


def test_screenshot_for_the_docs(request, tiny_model_dir, tmp_path):
    """Only with N2LDIFF_DEMO_SCREENSHOT=<png path>: run the astronaut example and save the page."""
    target = os.environ.get("N2LDIFF_DEMO_SCREENSHOT")
    if not target:
        pytest.skip("set N2LDIFF_DEMO_SCREENSHOT=docs/demo.png to refresh the README screenshot")
    browser = request.getfixturevalue("browser")
    model = Path(os.environ.get("N2LDIFF_DEMO_MODEL") or tiny_model_dir)
    proc, url, _ = _start_demo(model, tmp_path)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page = context.new_page()
        _open(page, url)
        page.get_by_role("button", name="astronaut").first.click()
        page.locator("#n2l-upload").get_by_text("astronaut").first.wait_for()
        page.click("#n2l-run")
        page.locator('#n2l-downloads a[download="n2ldiff-results.zip"]').wait_for(timeout=RUN_TIMEOUT_MS)
        all_loaded = "[...document.querySelectorAll('#n2l-results img')].every(i => i.complete && i.naturalWidth)"
        page.wait_for_function(f"() => {all_loaded}")
        page.wait_for_timeout(1500)  # let toasts and transitions settle
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=target, full_page=False)
        context.close()
    finally:
        _stop(proc)
    _shrink_png(Path(target))
    assert Path(target).stat().st_size < 300_000


def _shrink_png(path: Path, limit: int = 300_000) -> None:
    """Palette-quantize a screenshot (256 colours first, then fewer) until it is under ``limit`` bytes."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    for colours in (256, 128, 64, 32):
        rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size < limit:
            return
