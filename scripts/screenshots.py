"""Screenshots of the main pages for the README, and each page's weight (HTML + CSS + JS bytes).

    ~/.cache/basque-arena/venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--language eu]

Self-contained: a fresh SQLite database in a temporary folder, the real ASGI app on uvicorn, and two
canned "models" (a tiny OpenAI-compatible server answering in Basque), so the pictures are the same
on any machine and need no GPU. Uses Debian's Chromium through Playwright, as the browser tests do.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Module level: FastAPI resolves the string annotations (from __future__) against these globals.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ANSWERS = {  # canned answers: what a screenshot shows, not a model's quality
    "erakusgarri-a": "Bertsolaritza **bat-bateko** kantu-inprobisazioa da: bertsolariek doinu ezagun batean, "
                     "neurri eta errimarekin, gai bati buruzko bertsoak asmatzen dituzte.\n\n"
                     "- Gaia gai-jartzaileak ematen du.\n- Txapelketetan epaimahaiak puntuatzen ditu.",
    "erakusgarri-b": "Bertsolaritza euskal kulturako ohitura bat da, non pertsona batzuek kantuan "
                     "inprobisatzen duten. Txapelketa nagusia lau urtean behin egiten da.",
}
PAGES = [  # (name, path, viewport, logged in, kept as a picture); every one is weighed
    ("home", "/", "desktop", False, True),
    ("signup", "/account/signup/", "phone", False, True),
    ("leaderboard", "/leaderboard/", "desktop", False, True),
    ("about", "/about/", "phone", False, False),
    ("login", "/login/", "phone", False, False),
    ("my data", "/account/data/", "phone", True, False),
    ("contributions", "/contributions/", "phone", True, False),
]
# The battle, in the order a volunteer sees it: which viewport each step is kept for.
BATTLE_PICTURES = {"start": "desktop", "vote": "phone", "reveal": "desktop"}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def canned_model_server():
    """An OpenAI-compatible streaming endpoint that answers each model name with its canned text."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return JSONResponse({"data": [{"id": name} for name in ANSWERS]})

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        model = (await request.json())["model"]

        async def stream():
            for word in ANSWERS.get(model, "Kaixo!").split(" "):
                await asyncio.sleep(0.01)
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


def setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'screenshots.sqlite3'}"
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls from the thread Playwright's loop runs in
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


WEIGHTS_JS = """() => {
  const sizes = {html: performance.getEntriesByType("navigation")[0].decodedBodySize, css: 0, js: 0};
  for (const entry of performance.getEntriesByType("resource")) {
    if (entry.initiatorType === "link" && entry.name.endsWith(".css")) sizes.css += entry.decodedBodySize;
    if (entry.initiatorType === "script") sizes.js += entry.decodedBodySize;
  }
  return sizes;
}"""


def weigh(page, url: str) -> dict:
    """Bytes of the document, its stylesheets and its scripts (uncompressed), from the browser's
    Resource Timing entries: what the page really loaded, counted after the load settles."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate(WEIGHTS_JS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--language", default="eu", choices=["eu", "es", "en"])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="arena-screens-"))
    setup_django(workdir)

    from django.test import Client
    from playwright.sync_api import sync_playwright

    from arena import selectors
    from models_serving.models import ServedModel
    from models_serving.vllm_process import free_port
    from tests.arena.conftest import consent_text, make_participant
    from tests.support.live_asgi import LiveASGIServer
    from tests.support.threaded_uvicorn import ThreadedUvicorn

    models = ThreadedUvicorn(canned_model_server(), free_port(), log_level="error").start()
    server = LiveASGIServer(free_port()).start()
    base = f"http://127.0.0.1:{models.port}/v1"
    for name, served in (("Erakusgarri A", "erakusgarri-a"), ("Erakusgarri B", "erakusgarri-b")):
        ServedModel.objects.create(public_name=name, served_name=served, endpoint_url=base,
                                   kind=ServedModel.Kind.EXTERNAL, description="Pantaila-argazkietarako eredua")
    consent_text()
    assert selectors.active_consent() is not None
    client = Client()
    client.force_login(make_participant("argazkilaria").user)
    session = client.cookies["sessionid"].value
    args.out.mkdir(parents=True, exist_ok=True)
    weights: dict[str, dict] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 args=["--no-sandbox", "--headless", "--disable-gpu"])

            def context(viewport: str, logged_in: bool):
                ctx = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1)
                cookies = [{"name": "arena_language", "value": args.language, "url": server.url}]
                if logged_in:
                    cookies.append({"name": "sessionid", "value": session, "url": server.url})
                ctx.add_cookies(cookies)
                return ctx

            for name, path, viewport, logged_in, keep in PAGES:
                ctx = context(viewport, logged_in)
                page = ctx.new_page()
                weights[name] = weigh(page, server.url + path)
                if keep:
                    page.screenshot(path=str(args.out / f"{name.replace(' ', '-')}.png"), full_page=True)
                ctx.close()
            def shoot(page, step: str, viewport: str):
                if BATTLE_PICTURES[step] == viewport:
                    page.screenshot(path=str(args.out / f"battle-{step}-{viewport}.png"), full_page=True)

            for viewport in ("desktop", "phone"):  # a battle: answers streamed, the vote, the reveal
                ctx = context(viewport, True)
                page = ctx.new_page()
                weights[f"battle ({viewport})"] = weigh(page, server.url + "/battle/")
                page.wait_for_function("() => !document.getElementById('send').disabled")
                shoot(page, "start", viewport)
                page.fill("#prompt", "Azaldu labur zer den bertsolaritza.")
                page.click("#send")
                page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
                for question, choice in (("content", "A"), ("language", "A")):
                    page.check(f'input[name="{question}"][value="{choice}"]')
                shoot(page, "vote", viewport)
                page.click("#use-suggestion")
                page.click("#submit-vote")
                page.wait_for_selector("#reveal:not([hidden])")
                time.sleep(0.2)
                shoot(page, "reveal", viewport)
                ctx.close()
            browser.close()
    finally:
        server.stop()
        models.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("| page | HTML | CSS | JS | total |\n|---|---:|---:|---:|---:|")
    for name, sizes in weights.items():
        total = sum(sizes.values())
        print(f"| {name} | {sizes['html']:,} | {sizes['css']:,} | {sizes['js']:,} | {total:,} |")
    print(f"\nscreenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
