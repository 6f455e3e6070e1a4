"""Untrusted text made storable (models_serving/text.py)."""
from __future__ import annotations

from models_serving.text import storable


def test_ordinary_text_is_returned_as_it_is():
    text = "Kaixo! Zer moduz?\n\tEuskal Herriko mendirik altuena: Hiru Errege Mahaia (2.442 m) 🏔️ — «ondo»\r\n"
    assert storable(text) is text


def test_control_characters_are_dropped_but_tab_newline_and_return_kept():
    assert storable("a\x00b\x01c\x08d\x0be\x0cf\x0eg\x1fh\x7fi\tj\nk\rl") == "abcdefghi\tj\nk\rl"
    assert storable("\x00\x00\x00") == ""


def test_a_lone_surrogate_becomes_the_replacement_character():
    assert storable("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert storable("a\ud800b").encode("utf-8") == "a\ufffdb".encode("utf-8")  # encodable now
