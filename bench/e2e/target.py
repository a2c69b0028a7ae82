"""The target system: answers every delivery 201 at once and records when it arrived.

    python bench/e2e/target.py --port 9000

``POST /orders`` takes a mapped order; the arrival time (``time.monotonic()``, the
system-wide CLOCK_MONOTONIC, comparable with the load generator's) is recorded under
the sender-side id the body carries in ``bench.id``. The bodies of every
`common.SAMPLE_EVERY`-th message are kept so that `run.py` can check the mapping.
``GET /_state`` gives the counts, ``GET /_arrivals`` everything recorded, and
``POST /_reset`` starts a new phase.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
import uvloop
from aiohttp import web
from common import SAMPLE_EVERY, TARGET_PATH, sequence_of


class Recorder:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.samples: dict[str, Any] = {}
        self.duplicates = 0
        self.invalid = 0

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.monotonic()
        try:
            body = orjson.loads(raw)
            message_id = body["bench"]["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.invalid += 1
            return web.Response(status=400, text="no bench.id")
        if message_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[message_id] = now
        if sequence_of(message_id) % SAMPLE_EVERY == 0:
            self.samples[message_id] = body
        return web.Response(
            status=201,
            body=b'{"id":"' + message_id.encode() + b'"}',
            content_type="application/json",
        )

    def state(self) -> dict[str, int]:
        return {
            "count": len(self.arrivals),
            "duplicates": self.duplicates,
            "invalid": self.invalid,
        }

    async def get_state(self, _request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def get_arrivals(self, _request: web.Request) -> web.Response:
        answer = {**self.state(), "arrivals": self.arrivals, "samples": self.samples}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def post_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(self.state())


async def serve(port: int) -> None:
    recorder = Recorder()
    app = web.Application(client_max_size=4 * 2**20)
    app.router.add_post(TARGET_PATH, recorder.receive)
    app.router.add_get("/_state", recorder.get_state)
    app.router.add_get("/_arrivals", recorder.get_arrivals)
    app.router.add_post("/_reset", recorder.post_reset)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
    await asyncio.Event().wait()  # until SIGTERM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
