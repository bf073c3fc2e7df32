"""The baseline of benchmarks.tracking_load: a Starlette endpoint that does nothing but answer 204."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def nothing(request: Request) -> Response:
    return Response(status_code=204)


app = Starlette(routes=[Route("/t", nothing, methods=["GET", "POST"])])
