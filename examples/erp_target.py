"""A tiny stand-in ERP for the walkthrough: it prints each order it receives and answers
201 with the id it gave the order, or 422 for an order over the credit limit (90).
Run: python examples/erp_target.py [PORT]"""

from __future__ import annotations

import itertools
import sys

from aiohttp import web

numbers = itertools.count(1001)


async def create_order(request: web.Request) -> web.Response:
    order = await request.json()
    if order.get("amount", 0) > 90:
        print(f"ERP refused {order['reference']}: over the credit limit", flush=True)
        return web.json_response({"error": "credit limit exceeded"}, status=422)
    erp_id = f"SO-{next(numbers)}"
    print(
        f"ERP got {request.method} {request.path}  {erp_id}  {order}"
        f"  (Idempotency-Key {request.headers.get('Idempotency-Key')})",
        flush=True,
    )
    return web.json_response({"data": {"id": erp_id}}, status=201)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    app = web.Application()
    app.router.add_post("/orders", create_order)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
