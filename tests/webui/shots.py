"""Screenshots the browser tests leave for people to look at (not what they assert).

Headless Chromium now and then refuses a capture ("Protocol error
(Page.captureScreenshot): Unable to capture screenshot", seen once in a loaded test run
after every chart on the page had been checked drawn). A picture missing is no failure of
the page: :func:`screenshot` tries again once, then warns and goes on.
"""
from __future__ import annotations

import warnings


def screenshot(page, path) -> None:
    """A full-page screenshot of ``page`` at ``path``, best effort."""
    from playwright.sync_api import Error

    for attempt in (1, 2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Error as exc:
            if attempt == 2:
                warnings.warn(f"no screenshot {path}: {exc}", stacklevel=2)
                return
            page.wait_for_timeout(500)
