"""Model output is untrusted: Markdown is rendered, then sanitised to a small safe subset of HTML.

Rendering uses markdown-it-py (CommonMark, linear in the input: an answer of 20,000 ``[`` renders in
a fraction of a second, where Python-Markdown took a minute) with tables and strikethrough, and nh3
sanitises its output. Links keep only http(s) and mailto targets, each with ``rel="noopener
noreferrer nofollow"``; a scheme-relative link (``//host/path``) is an external link like any other and
is written ``https://host/path``; a link to a path of this site (``/account/delete/``) loses its target.

The consumer calls :func:`render_answer`, which renders in a small pool of worker threads, never on the
event loop, and gives up after ``settings.ARENA["RENDER_TIMEOUT"]`` seconds: the answer is then shown
as escaped plain text.
"""
from __future__ import annotations

import asyncio
import html
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import nh3
from django.conf import settings
from markdown_it import MarkdownIt

logger = logging.getLogger(__name__)

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "del", "s", "sup", "sub",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}}
ALLOWED_STYLE_PROPERTIES = {"text-align"}  # table column alignment, as markdown-it writes it
LINK_REL = "noopener noreferrer nofollow"

# CommonMark (raw HTML is parsed, then removed or kept by nh3) plus GitHub-style tables and ~~strike~~.
_markdown = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Every link target is left to nh3's one scheme rule, so [x](javascript:…) becomes a link without a
# target, as a raw <a href="javascript:…"> does, rather than Markdown source shown as text.
_markdown.validateLink = lambda url: True
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_SCHEME_RELATIVE = re.compile(r"[/\\]{2}")
_URL_EDGES = "".join(chr(code) for code in range(0x21))  # what browsers strip around a URL: C0 controls, space

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="arena-render")


def _link_target(element: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: keep absolute links (nh3 already allowed only the safe schemes), make a
    scheme-relative one an ordinary https link, and drop a link into this site."""
    if element != "a" or attribute != "href":
        return value
    target = value.strip(_URL_EDGES)
    if _HAS_SCHEME.match(target):
        return value
    if _SCHEME_RELATIVE.match(target):  # "//host/x", "\\host", "/\host": browsers read all as another host
        return "https://" + target.lstrip("/\\")
    return None


def render_markdown(text: str) -> str:
    """Markdown to sanitised HTML, synchronously (the consumer uses :func:`render_answer`)."""
    # nh3 drops <script>, event handlers (onerror=…), iframes, styles other than text-align and
    # javascript: URLs.
    return nh3.clean(
        _markdown.render(text), tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"}, link_rel=LINK_REL, attribute_filter=_link_target,
        filter_style_properties=ALLOWED_STYLE_PROPERTIES,
    )


def plain_text(text: str) -> str:
    """The answer as escaped text, line breaks kept: what is shown when Markdown cannot be rendered in time."""
    return "<p>" + html.escape(text).replace("\n", "<br>\n") + "</p>"


async def render_answer(text: str) -> str:
    """Render off the event loop, within ``RENDER_TIMEOUT`` seconds (waiting for a free worker included)."""
    future = asyncio.get_running_loop().run_in_executor(_pool, render_markdown, text)
    try:
        return await asyncio.wait_for(future, settings.ARENA["RENDER_TIMEOUT"])
    except TimeoutError:
        logger.warning("an answer of %d characters took over %s s to render: shown as plain text",
                       len(text), settings.ARENA["RENDER_TIMEOUT"])
    except Exception:
        logger.exception("an answer of %d characters could not be rendered: shown as plain text", len(text))
    return plain_text(text)
