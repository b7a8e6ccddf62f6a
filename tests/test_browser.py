"""The built book as a reader sees it: every page in headless Chromium, offline, driven by selenium.

For every page of the book (the chapters of ``_toc.yml``, the index and the search page): no console error,
no request to anything but ``file:`` / ``data:`` URLs, every image loaded, every formula typeset by MathJax
(no raw ``\\(``, ``\\[`` or ``$...$`` left in the text), no code cell wider than the column, no ipywidgets
view (a static page has no kernel to draw it), every frame slider moved to both ends shows another frame,
and the search page finds each chapter from a word of its title.

The book comes from ``make book`` (run here; jupyter-cache makes it quick when ``make book`` already ran), or
from the folder ``LATENTKIT_BUILT_BOOK`` names (a built ``_build/html``). The checks themselves are first
tested on small pages made here, one per fault they must catch (a CDN script, raw TeX, a dead slider, a
broken image, a widget view, a console error, a wide code cell), so that a check that cannot fail fails this file.

Chromium and chromedriver come from Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run``
installs them when missing); without them the tests skip with that message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import torch
import yaml

from latentkit import viz

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The flags this workplace's machines need for a headless Chromium with no network (TOOLING.md).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",  # the width at which 90 columns of chapter code fit (book/_static/latentkit.css)
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-extension:", "devtools:")
# Raw TeX left in the text of a page: \( ... \), \[ ... \] or $...$ that MathJax did not typeset.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$[^$\s][^$]*\$")


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip('selenium is not installed (pip install -e ".[test]")')
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip(
            "headless Chromium and chromedriver are not installed: `apt-get install -y chromium chromium-driver` "
            "(Debian; .ci/run installs them when it can)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={ROOT / '_build' / '.chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    driver.get("about:blank")  # the first tab's own chrome:// requests are not the book's
    time.sleep(1.0)
    _drain_logs(driver)
    yield driver
    driver.quit()
    shutil.rmtree(ROOT / "_build" / ".chromium-profile", ignore_errors=True)


def _drain_logs(driver) -> None:
    driver.get_log("browser")
    driver.get_log("performance")


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _wait_for_mathjax(driver) -> None:
    """Wait until MathJax (when the page loads it) has typeset the page."""
    driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const deadline = Date.now() + 30000;
        (function poll() {
          const mj = window.MathJax;
          if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(() => done(true), () => done(false)); }
          else if (document.querySelector('script[src*="mathjax"]') && Date.now() < deadline) { setTimeout(poll, 100); }
          else { done(null); }
        })();
        """
    )


def _move_sliders(driver) -> list[str]:
    """Move every frame slider to both ends; a slider whose ends show the same frame is dead."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    problems = []
    for k, slider in enumerate(driver.find_elements(By.CSS_SELECTOR, ".lk-frame-slider")):
        image = slider.find_element(By.TAG_NAME, "img")
        for i, control in enumerate(slider.find_elements(By.CSS_SELECTOR, 'input[type="range"]')):
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", control)
            shown = []
            for key in (Keys.HOME, Keys.END):
                control.send_keys(key)
                loaded = driver.execute_script(
                    "const im = arguments[0]; return im.complete && im.naturalWidth > 0;", image
                )
                if not loaded:
                    problems.append(f"slider {k}, control {i}: the frame at {key!r} did not load")
                shown.append(image.get_attribute("src"))
            if shown[0] == shown[1]:
                problems.append(f"slider {k}, control {i}: moved from one end to the other, the frame did not change")
    # A range input outside a frame slider is a widget of something else: it has to work too.
    loose = driver.execute_script(
        "return Array.from(document.querySelectorAll('input[type=range]'))"
        ".filter(e => !e.closest('.lk-frame-slider')).length;"
    )
    if loose:
        problems.append(f"{loose} range input(s) outside a frame slider (not checked, probably dead)")
    return problems


def page_problems(driver, url: str) -> list[str]:
    """Everything a reader would find wrong on the page at ``url`` (an empty list when all is well)."""
    _drain_logs(driver)
    driver.get(url)
    _wait_for_mathjax(driver)
    time.sleep(0.2)  # let late scripts log their errors
    problems = []
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"console error: {entry['message'][:200]}")
    problems += _move_sliders(driver)
    for request in _requests(driver):
        if not request.startswith(LOCAL_SCHEMES):
            problems.append(f"request to a non-local URL: {request[:200]}")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src.slice(0, 120));"
    )
    problems += [f"image not loaded: {src}" for src in broken]
    untypeset = driver.execute_script(
        "return Array.from(document.querySelectorAll('.math'))"
        ".filter(e => !e.querySelector('mjx-container') && e.tagName !== 'MJX-CONTAINER').length;"
    )
    if untypeset:
        problems.append(f"{untypeset} math element(s) not typeset by MathJax")
    text = driver.execute_script(
        """
        const root = (document.querySelector('main') || document.body).cloneNode(true);
        root.querySelectorAll('pre, code, script, style, mjx-container, textarea, .lk-frame-slider')
            .forEach(e => e.remove());
        return root.textContent;
        """
    )
    for match in list(RAW_TEX.finditer(text))[:5]:
        context = text[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ")
        problems.append(f"raw TeX in the text: ...{context}...")
    too_wide = driver.execute_script(
        """
        return Array.from(document.querySelectorAll('div.cell:not(.tag_parameters) div.cell_input pre'))
          .filter(p => {
            const style = getComputedStyle(p);
            const lines = p.textContent.replace(/\\n$/, '').split('\\n').length;
            const inner = p.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
            return p.scrollWidth > p.clientWidth + 1 || Math.round(inner / parseFloat(style.lineHeight)) > lines;
          }).length;
        """
    )
    if too_wide:
        problems.append(f"{too_wide} code cell(s) wider than the column (scrolled or wrapped)")
    widgets = driver.execute_script(
        "return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length;"
    )
    if widgets:
        problems.append(f"{widgets} ipywidgets view(s): blank on a static page (no kernel, no widget manager)")
    return problems


# ---------------------------------------------------------------------------------------------------------
# The checks catch what they are meant to catch: one small page per fault.


def _slider_html(dead: bool = False) -> str:
    def render(a):
        return torch.full((1, 4, 4), 0.5 if dead else a / 4.0)

    return viz.frame_slider(render, {"a": [0, 1, 2, 3, 4]}, title="test")._repr_html_()


_FAULTS = {
    "fine": ("", []),
    "cdn-script": ('<script src="https://cdn.example.org/lib.js"></script>', ["non-local URL"]),
    "raw-tex": (r"<p>the score \(\nabla_x \log p_t(x)\) and $x_1$</p>", ["raw TeX"]),
    "dead-slider": (_slider_html(dead=True), ["did not change"]),
    "broken-image": ('<img src="missing.png" alt="x">', ["image not loaded", "console error"]),
    "widget-view": (
        '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "abc"}</script>',
        ["ipywidgets view"],
    ),
    "console-error": ("<script>undefined_function();</script>", ["console error"]),
    "wide-code": (
        '<div class="cell"><div class="cell_input"><div class="highlight"><pre style="overflow:auto;width:20em">'
        + "x = 1  # "
        + "a long comment " * 12
        + "</pre></div></div></div>",
        ["wider than the column"],
    ),
}


@pytest.mark.parametrize("fault", list(_FAULTS))
def test_page_checks_catch_each_fault(browser, tmp_path, fault):
    extra, expected = _FAULTS[fault]
    page = tmp_path / f"{fault}.html"
    page.write_text(f"<!DOCTYPE html><html><body><main><p>text</p>{_slider_html()}{extra}</main></body></html>")
    problems = page_problems(browser, page.as_uri())
    if not expected:
        assert problems == []
    for what in expected:
        assert any(what in p for p in problems), f"{fault}: expected a problem with {what!r}, got {problems}"


def test_frame_slider_shows_the_frame_of_each_value(browser, tmp_path):
    """The JavaScript picks the frame that FrameSlider.index names, for every value of both sliders."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    slider = viz.frame_slider(
        lambda a, b: torch.full((1, 2, 2), (3 * a + b) / 12.0), {"a": [0, 1, 2, 3], "b": [0, 1, 2]}, title="ab"
    )
    page = tmp_path / "slider.html"
    page.write_text(f"<!DOCTYPE html><html><body>{slider._repr_html_()}</body></html>")
    browser.get(page.as_uri())
    image = browser.find_element(By.CSS_SELECTOR, ".lk-frame-slider img")
    a, b = browser.find_elements(By.CSS_SELECTOR, 'input[type="range"]')
    assert int(image.get_attribute("data-frame")) == slider.index()
    a.send_keys(Keys.HOME)
    b.send_keys(Keys.HOME)
    for i, value_a in enumerate([0, 1, 2, 3]):
        for j, value_b in enumerate([0, 1, 2]):
            assert int(image.get_attribute("data-frame")) == slider.index(a=value_a, b=value_b)
            if j < 2:
                b.send_keys(Keys.ARROW_RIGHT)
        b.send_keys(Keys.HOME)
        if i < 3:
            a.send_keys(Keys.ARROW_RIGHT)
    outputs = [o.text for o in browser.find_elements(By.TAG_NAME, "output")]
    assert outputs == ["3", "0"]


# ---------------------------------------------------------------------------------------------------------
# The built book.


def _book_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for entry in toc["chapters"]]


@pytest.fixture(scope="module")
def built_book() -> Path:
    given = os.environ.get("LATENTKIT_BUILT_BOOK")
    if given:
        html = Path(given)
        assert (html / "index.html").is_file(), f"LATENTKIT_BUILT_BOOK={given} holds no built book"
        return html
    venv = Path(sys.prefix)
    result = subprocess.run(
        ["make", "-s", "book", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=3000
    )
    assert result.returncode == 0, f"make book failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return ROOT / "_build" / "html"


@pytest.mark.timeout(3600)  # builds the book when make book did not run before (about 8 minutes on 2 cores)
def test_every_page_reads_offline(browser, built_book):
    pages = [built_book / f"{name}.html" for name in _book_pages()] + [built_book / "genindex.html"]
    report = {}
    for page in pages:
        assert page.is_file(), f"{page} was not built"
        problems = page_problems(browser, page.as_uri())
        if problems:
            report[page.name] = problems
    assert not report, "pages with problems:\n" + json.dumps(report, indent=1)


def _title_word(page: Path) -> str:
    """The longest word of the page's title: the search must find the page from it."""
    text = page.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)(?:&#8212;|</title>)", text, re.S)
    assert title, f"{page} has no <title>"
    words = re.findall(r"[A-Za-z]{5,}", title.group(1))
    return max(words, key=len).lower()


@pytest.mark.timeout(3600)
def test_search_finds_every_chapter(browser, built_book):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    missing = {}
    for name in _book_pages()[1:]:
        if name.endswith("bibliography"):
            continue
        word = _title_word(built_book / f"{name}.html")
        _drain_logs(browser)
        browser.get((built_book / "search.html").as_uri() + f"?q={quote(word)}")
        WebDriverWait(browser, 30).until(
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "#search-results p.search-summary")
                or d.find_elements(By.CSS_SELECTOR, "#search-results .search-summary")
            )
        )
        links = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, "#search-results a")]
        if not any(Path(name).name + ".html" in link for link in links):
            missing[name] = (word, links[:5])
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"search for {word!r}: console errors {errors}"
        remote = [u for u in _requests(browser) if not u.startswith(LOCAL_SCHEMES)]
        assert not remote, f"search for {word!r}: requests to {remote}"
    assert not missing, f"the search did not find these chapters from a word of their title: {missing}"
