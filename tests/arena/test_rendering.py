from arena.rendering import render_markdown
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
