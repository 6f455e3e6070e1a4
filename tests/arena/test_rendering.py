import asyncio
import time

import pytest
from django.conf import settings
from django.test import override_settings

from arena import rendering
from arena.rendering import render_answer, render_markdown
from tests.support.fake_openai import XSS_ANSWER


def test_markdown_is_rendered():
    html = render_markdown("**Kaixo** mundua\n\n- bat\n- bi\n\n```\nkodea\n```")
    assert "<strong>Kaixo</strong>" in html and "<li>bat</li>" in html and "<pre><code>" in html


def test_script_and_event_handlers_are_removed():
    html = render_markdown(XSS_ANSWER)
    lowered = html.lower()
    assert "<script" not in lowered and "onerror" not in lowered and "javascript:" not in lowered
    assert "<strong>Kaixo!</strong>" in html


def test_links_are_kept_safe():
    html = render_markdown("[euskara](https://eu.wikipedia.org) <a href='javascript:alert(1)'>x</a>")
    assert 'href="https://eu.wikipedia.org"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "javascript" not in html


def test_tables_strikethrough_and_column_alignment():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | ~~bi~~ |")
    assert "<table>" in html and "<th" in html and "<s>bi</s>" in html
    assert 'style="text-align:right"' in html


def test_scheme_relative_links_are_external_links_and_site_paths_lose_their_target():
    html = render_markdown(
        "[a](//evil.example/x) <a href='//evil.example/y'>b</a> <a href='\\\\evil.example/z'>c</a> "
        "[d](/account/delete/) [e](http://eu.example/)"
    )
    assert 'href="//' not in html and "href='//" not in html and "\\\\" not in html
    for target in ("https://evil.example/x", "https://evil.example/y", "https://evil.example/z", "http://eu.example/"):
        assert f'<a href="{target}" rel="noopener noreferrer nofollow">' in html, (target, html)
    assert "/account/delete/" not in html
    assert html.count('rel="noopener noreferrer nofollow"') == 5


HOSTILE = {  # Markdown a model could send that makes backtracking renderers quadratic or worse
    "brackets": "[" * 20000,
    "link_openers": "[](" * 7000,
    "emphasis": "*a" * 10000,
    "mixed_emphasis": "*_" * 10000,
    "images": "![[" * 7000,
    "angle_brackets": "<" * 20000,
    "nested_quotes": ">" * 20000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_markdown_renders_in_linear_time(name):
    started = time.perf_counter()
    render_markdown(HOSTILE[name])
    assert time.perf_counter() - started < 3, name  # Python-Markdown: 54 s for 20,000 "["


async def test_rendering_an_answer_leaves_the_event_loop_free():
    """While a 20,000-"[" answer renders, another coroutine keeps ticking every few milliseconds."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    rendering = True

    async def ticker():
        last = loop.time()
        while rendering:
            await asyncio.sleep(0.005)
            gaps.append(loop.time() - last)
            last = loop.time()

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    for _ in range(3):
        html = await render_answer("[" * 20000)
    rendering = False
    await ticking
    assert html.startswith("<p>[[[[")
    assert len(gaps) > 5 and max(gaps) < 0.5, max(gaps)


@override_settings(ARENA={**settings.ARENA, "RENDER_TIMEOUT": 0.2})
async def test_an_answer_that_renders_too_slowly_is_shown_as_escaped_text(monkeypatch):
    monkeypatch.setattr(rendering, "render_markdown", lambda text: time.sleep(1.5) or "<p>late</p>")
    started = time.perf_counter()
    html = await render_answer("**bai** <script>x()</script>\nbigarren lerroa")
    assert time.perf_counter() - started < 1.2
    assert html == "<p>**bai** &lt;script&gt;x()&lt;/script&gt;<br>\nbigarren lerroa</p>"


async def test_an_answer_the_renderer_cannot_handle_is_shown_as_escaped_text(monkeypatch):
    def broken(text):
        raise RecursionError("too deep")

    monkeypatch.setattr(rendering, "render_markdown", broken)
    assert await render_answer("<b>x</b>") == "<p>&lt;b&gt;x&lt;/b&gt;</p>"
