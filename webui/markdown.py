"""Notes in Markdown, rendered safely: CommonMark with raw HTML off (it is shown as text),
and links only to http(s), mailto and relative URLs (markdown-it's link validation drops
``javascript:``, ``vbscript:``, ``file:`` and ``data:`` other than images)."""
from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup

MAX_NOTES = 20_000  # characters


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render(text: str | None) -> Markup:
    """HTML for notes (empty for none); raw HTML in the text is escaped, never run."""
    if not text:
        return Markup("")
    return Markup(_parser().render(text))
