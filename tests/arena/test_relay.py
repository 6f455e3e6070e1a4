"""DeltaFrames: a side's first text goes out at once, later text in fewer frames, none lost or reordered."""
from __future__ import annotations

import asyncio
import random

from arena.relay import DeltaFrames


class Browser:
    """Records frames with the loop time they were sent; a send takes ``send_seconds``."""

    def __init__(self, send_seconds: float = 0.0):
        self.frames: list[tuple[float, dict]] = []
        self.send_seconds = send_seconds

    async def send(self, frame: dict) -> None:
        if self.send_seconds:
            await asyncio.sleep(self.send_seconds * random.random())
        self.frames.append((asyncio.get_running_loop().time(), frame))

    def text(self, side: str) -> str:
        return "".join(frame["text"] for _t, frame in self.frames if frame["side"] == side)


async def test_first_delta_is_sent_at_once_and_the_rest_coalesced():
    browser = Browser()
    frames = DeltaFrames(browser.send, interval=0.05)
    started = asyncio.get_running_loop().time()
    frames.add("A", "Kaixo ")
    await asyncio.sleep(0)  # one loop turn: the pump sends it
    await asyncio.sleep(0)
    assert [f["text"] for _t, f in browser.frames] == ["Kaixo "]
    assert browser.frames[0][0] - started < 0.01
    for word in ("lagun ", "zer ", "moduz?"):
        frames.add("A", word)
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.07)
    assert [f["text"] for _t, f in browser.frames] == ["Kaixo ", "lagun zer moduz?"]
    await frames.close()


async def test_flush_empties_one_side_before_its_side_done():
    browser = Browser()
    frames = DeltaFrames(browser.send, interval=10.0)  # the pump would not send again for 10 s
    frames.add("A", "bat ")
    await asyncio.sleep(0.01)
    frames.add("A", "bi ")
    frames.add("B", "hiru ")
    await frames.flush("A")
    assert browser.text("A") == "bat bi " and browser.text("B") == ""
    await frames.close()  # what B had pending is sent, the pump stops
    assert browser.text("B") == "hiru "


async def test_every_character_arrives_in_order_under_random_timing():
    random.seed(7)
    browser = Browser(send_seconds=0.004)  # slow sends: text piles up while a frame is going out
    frames = DeltaFrames(browser.send, interval=0.01)
    sent = {"A": [], "B": []}

    async def side(name: str):
        for index in range(300):
            token = f"{name}{index} "
            sent[name].append(token)
            frames.add(name, token)
            if random.random() < 0.5:
                await asyncio.sleep(random.random() * 0.003)
        await frames.flush(name)

    await asyncio.gather(side("A"), side("B"))
    await frames.close()
    for name in "AB":
        assert browser.text(name) == "".join(sent[name])
    assert len(browser.frames) < 600 / 3  # coalesced: far fewer frames than tokens


async def test_close_stops_the_pump_mid_send_without_losing_text():
    browser = Browser(send_seconds=0.02)
    frames = DeltaFrames(browser.send, interval=0.0)
    for index in range(50):
        frames.add("A", f"{index} ")
        await asyncio.sleep(0.001)
    await frames.close()
    assert browser.text("A") == "".join(f"{index} " for index in range(50))
    count = len(browser.frames)
    await asyncio.sleep(0.05)
    assert len(browser.frames) == count  # nothing runs after close
