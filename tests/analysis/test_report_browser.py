"""The report in a real headless browser: the page renders and every figure loads.

Playwright (a dev dependency) drives a Chromium. Playwright's own browser download reaches a
CDN, not a package registry, so the browser is the system's (Debian's ``chromium`` package:
``apt-get install chromium``), or the one ``LMTEAMS_CHROMIUM`` names. Without one the test is
skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lmteams.analysis.report import report
from lmteams.state.store import EventStore

from .test_report import project_runs

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str | None:
    named = os.environ.get("LMTEAMS_CHROMIUM")
    if named:
        return named
    return next((path for c in CANDIDATES if (path := shutil.which(c))), None)


@pytest.fixture
def browser_path() -> str:
    pytest.importorskip("playwright", reason="playwright is not installed (the dev extra has it)")
    found = chromium()
    if found is None:
        pytest.skip(
            "no Chromium here: apt-get install chromium, or set LMTEAMS_CHROMIUM "
            "(Playwright's own browser download is not reachable from this machine)"
        )
    return found


async def test_the_report_renders_in_chromium(
    store: EventStore, tmp_path: Path, browser_path: str
) -> None:
    from playwright.async_api import async_playwright

    run, _ = await project_runs(store, 3, 1)
    out = tmp_path / "report"
    written = report(run, out, store=store)
    page_file = next(p for p in written if p.suffix == ".html")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(page_file.as_uri(), wait_until="load")
            title = await page.title()
            images = await page.evaluate(
                "() => [...document.images].map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            headings = await page.locator("h2").all_inner_texts()
            task_rows = await page.locator("#cost-per-task tr").count()
            shot = await page.screenshot(full_page=True)
        finally:
            await browser.close()
    assert title == f"Run {run}"
    assert images, "the page has no figures"
    for alt, complete, width in images:
        assert complete and width > 0, f"figure {alt!r} did not load"
    assert "cost per task" in headings and "Tasks, claims and lead calls (Gantt)" in headings
    assert task_rows > 1  # the header and one row a task
    assert not errors
    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
    (out / "screenshot.png").write_bytes(shot)
