"""`dsreg scores --html`: a static page with a table per benchmark and a models × tasks matrix, checked in a real
headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `make system-deps`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dsreg
from dsreg.cli import main
from dsreg.evaluation.html import render
from dsreg.evaluation.records import new_record, write_record
from dsreg.evaluation.table import ranked

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
TRICKY = 'net <script>alert("x")</script> & co'


def _submit_some(toy: Any, truth: list[int]) -> None:
    toy()
    dsreg.evaluate("toy", "test", [(y + 1) % 3 for y in truth], model="old-model", submit=True, notes="baseline")
    toy(version="1.1.0")
    dsreg.evaluate("toy", "test", truth, model=TRICKY, submit=True, notes="<b>not bold</b>")
    dsreg.evaluate("toy", "test", [0] * 10, model="zeros", submit=True)
    dsreg.evaluate("toy", "train", truth[:4], model="zeros", submit=True)
    dataset = {"name": "ocr", "config": "default", "version": "1.0.0", "manifest_sha256": "0" * 64}
    metric = {"name": "cer", "version": "1", "signature": "cer|v1", "primary": "cer", "higher_is_better": False}
    for model, cer in [("zeros", 0.25), ("old-model", 0.125)]:
        write_record(new_record(model=model, dataset=dataset, split="test", metric=metric, values={"cer": cer}))


def test_the_page_escapes_everything_it_shows(toy, truth) -> None:
    _submit_some(toy, truth)
    page = render(ranked())
    assert "<script>" not in page and "<b>not bold</b>" not in page
    assert "net &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert page.count("<tr data-record=") == 6 and page.count('class="benchmark"') == 3


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by selenium through Debian's chromedriver, with no network access of its own."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install 'dsreg[dev]')")
    found = [path if os.access(path, os.X_OK) else shutil.which(Path(path).name) for path in (CHROMIUM, DRIVER)]
    for path, where in zip((CHROMIUM, DRIVER), found, strict=True):
        if where is None:
            pytest.skip(f"{path} is absent: run `make system-deps` (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(found[0])
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(found[1])), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_every_record_is_visible_in_chromium(toy, truth, tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _submit_some(toy, truth)
    assert main(["scores", "--html", str(tmp_path / "site")]) == 0
    browser.get((tmp_path / "site" / "index.html").as_uri())
    assert browser.title == "dsreg scores"
    entries = ranked()
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-record]")
    assert sorted(r.get_attribute("data-record") for r in rows) == sorted(e.record["id"] for e in entries)
    for row, entry in zip(rows, entries, strict=True):  # the page lists them in ranked order
        assert row.get_attribute("data-record") == entry.record["id"]
        assert row.is_displayed() and row.size["height"] > 0 and row.size["width"] > 0
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == str(entry.rank) and cells[1] == entry.record["model"]
        assert f"{entry.primary_value:.4f}" in cells
    tricky = next(r for r in rows if TRICKY in r.text)
    assert "<b>not bold</b>" in tricky.text  # escaped, so shown literally
    sections = browser.find_elements(By.CSS_SELECTOR, "section.benchmark h2")
    assert [s.text for s in sections] == [
        "ocr/default test cer",
        "toy/default test accuracy",
        "toy/default train accuracy",
    ]
    ocr = browser.find_elements(By.CSS_SELECTOR, 'section[data-benchmark="ocr/default test cer"] tr[data-record]')
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in ocr] == ["old-model", "zeros"]  # lower CER first
    matrix = {
        r.get_attribute("data-model"): [c.text for c in r.find_elements(By.TAG_NAME, "td")]
        for r in browser.find_elements(By.CSS_SELECTOR, "#matrix tr[data-model]")
    }
    assert matrix == {
        "old-model": ["0.1250", "0.0000", ""],
        TRICKY: ["", "1.0000", ""],
        "zeros": ["0.2500", "0.4000", "1.0000"],
    }
    assert all(r.is_displayed() for r in browser.find_elements(By.CSS_SELECTOR, "#matrix tr"))
