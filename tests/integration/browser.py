"""Debian Chromium driven by Playwright, and the Prefect UI's Resume form as an approver fills it.

Playwright's own browser download is not used (nothing downloads at run time): the system's
`/usr/bin/chromium` is launched with a fresh profile and no background network traffic.
`scripts/browser` installs it.
"""

from __future__ import annotations

import base64
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
TIMEOUT_MS = 30_000  # a page of the UI on a loaded 2-core machine, not a speed target
SERVER_ERROR = "Something went wrong"  # the UI's toast when an API call fails
SUBMITS = 3


def require_chromium() -> Path:
    """The browser, or a failure (never a skip) that says how to install it."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Debian chromium is missing ({CHROMIUM} not found): run scripts/browser, or "
                    "`apt-get install --no-install-recommends chromium` as root", pytrace=False)
    return CHROMIUM


@contextmanager
def chromium(profile: Path, credential: str | None = None,
             viewport: tuple[int, int] = (1400, 1000)) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a fresh user-data-dir (`profile` must not exist yet).

    With `credential`, the Prefect UI is logged in as its login page does it (the stack's `user:password`,
    base64, in the page's local storage under `prefect-password`).
    """
    executable = require_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(executable), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": viewport[0], "height": viewport[1]}, locale="fr-FR")
        context.set_default_timeout(TIMEOUT_MS)
        if credential:
            encoded = base64.b64encode(credential.encode()).decode()
            context.add_init_script(f"localStorage.setItem('prefect-password', '{encoded}')")
        try:
            yield context
        finally:
            context.close()


@dataclass(frozen=True)
class Answer:
    """What an approver chooses and types in the Resume form (`role`: what the record says of the name)."""

    decision: str  # approve, reject, request_changes: the options of the Decision select
    name: str  # one of the Name select's options: the stage's people
    role: str
    comment: str
    edits: str = ""  # fact-sheet fields as YAML (with request_changes)


def open_run(page: Page, ui_url: str, run_id: str) -> None:
    page.goto(f"{ui_url}/runs/flow-run/{run_id}")


def open_resume_form(page: Page, ui_url: str, run_id: str) -> tuple[Locator, str]:
    """Open the paused run and its Resume form: the dialog, and the Markdown text it shows above the fields."""
    open_run(page, ui_url, run_id)
    page.get_by_role("button", name="Resume", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    prompt = dialog.locator("article.markdown-renderer").first
    prompt.wait_for()
    return dialog, prompt.inner_text()


def read_prompt(page: Page, ui_url: str, run_id: str, shots: Path) -> str:
    """What the Resume form asks, as an approver reads it; the form is closed again without an answer."""
    dialog, shown = open_resume_form(page, ui_url, run_id)
    page.screenshot(path=str(shots / f"resume-{run_id[:8]}-read.png"), full_page=True)
    dialog.get_by_role("button", name="Close", exact=True).click()
    dialog.wait_for(state="hidden")
    return shown


def resume_with(page: Page, ui_url: str, run_id: str, answer: Answer, shots: Path) -> str:
    """Open the paused run, click Resume, fill the form, submit; the form's Markdown text as shown.

    Fails with a screenshot when the form does not close (the server refused the input).
    """
    dialog, shown = open_resume_form(page, ui_url, run_id)
    _choose(page, _field(dialog, "Decision"), answer.decision)
    _choose(page, _field(dialog, "Name"), answer.name)
    _field(dialog, "Comment").locator("textarea").fill(answer.comment)
    if answer.edits:
        _field(dialog, "Edits").locator("textarea").fill(answer.edits)
    for attempt in range(1, SUBMITS + 1):
        if attempt > 1:
            page.wait_for_timeout(1000)  # as a person would, before trying again
            if dialog.is_hidden():  # the error was another call's: this Submit went through after all
                return shown
        failed_before = page.get_by_text(SERVER_ERROR).count()
        dialog.get_by_role("button", name="Submit", exact=True).click()
        if _closed_after_submit(page, dialog, failed_before, shots / f"resume-{run_id[:8]}-refused.png"):
            return shown
        # Prefect on SQLite sometimes answers "database is locked" under concurrent writes: the resume is one
        # transaction, rolled back, the run stays paused, and the approver submits the same form again.
        warnings.warn(f"Prefect UI: Resume of {run_id} failed on the server (attempt {attempt}), submitted again",
                      stacklevel=2)
    shot = shots / f"resume-{run_id[:8]}-failed.png"
    page.screenshot(path=str(shot), full_page=True)
    raise AssertionError(f"the server failed the Resume {SUBMITS} times (see {shot})")


def _closed_after_submit(page: Page, dialog: Locator, failed_before: int, shot: Path) -> bool:
    """True once the form closed (resumed); False if the UI reported a server error. Fails if it refused the input."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if dialog.is_hidden():
            return True
        if page.get_by_text(SERVER_ERROR).count() > failed_before:
            return False
        page.wait_for_timeout(200)
    page.screenshot(path=str(shot), full_page=True)
    raise AssertionError(f"the Resume form did not close after Submit (see {shot}):\n{dialog.inner_text()[-1500:]}")


def _field(dialog: Locator, label: str) -> Locator:
    """One property of the generated form, by its label ("Comment" also matches "Comment (Optional)")."""
    title = dialog.page.locator(".schema-form-property__label", has_text=re.compile(rf"^{label}( \(Optional\))?$"))
    return dialog.locator(".schema-form-property").filter(has=title)  # strict: two matches fail the action


def _choose(page: Page, field: Locator, option: str) -> None:
    """Pick an option of the UI's select: it opens from the keyboard (a plain click left it shut in headless Chromium)."""
    field.locator("button.p-select-button__control").focus()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()
    # The select shows the choice once the UI has re-rendered: on a busy machine (CI's two lanes) not at once, and
    # read at once it showed '' once. Waited for (10 s), never clicked again.
    expect(field.locator(".p-select-button__value")).to_have_text(option, timeout=10_000)
