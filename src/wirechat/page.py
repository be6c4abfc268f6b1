"""The chat page: the front end built from ``web/`` (``web/dist``), served at ``/``.

Vite names every asset after a hash of its content, so ``/assets/*`` may be cached
for a year; ``index.html`` names the current assets and is revalidated on every load.
The page learns the WebSocket port from a meta tag filled in here, since WS_PORT need
not be 3001 (the page falls back to 3001 when the tag is empty, as under ``vite``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ChatPage"]

_WS_PORT_TAG = re.compile(rb'(<meta name="wirechat-ws-port" content=")[^"]*(")')
_IMMUTABLE = "public, max-age=31536000, immutable"


class _HashedAssets(StaticFiles):
    """Static files whose names change with their content: cacheable for good."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code == 200:
            response.headers["cache-control"] = _IMMUTABLE
        return response


class ChatPage:
    """Routes for a built page in ``directory``; :attr:`missing` says why there is none.

    ``ws_port`` is asked on each load of ``/`` (the WebSocket server binds after the
    HTTP app is built); ``None`` leaves the page's own default.
    """

    def __init__(self, directory: Path, *, ws_port: Callable[[], int | None]) -> None:
        self.directory = directory
        self.ws_port = ws_port
        index = directory / "index.html"
        self.missing: str | None = (
            None
            if index.is_file()
            else f"{index} not found: build the page with `make web` (needs Node.js 20)"
        )

    def routes(self) -> list[BaseRoute]:
        if self.missing is not None:
            return [Route("/", self._not_built, methods=["GET", "HEAD"])]
        routes: list[BaseRoute] = [Route("/", self._index, methods=["GET", "HEAD"])]
        if (self.directory / "assets").is_dir():
            routes.append(Mount("/assets", _HashedAssets(directory=self.directory / "assets")))
        return routes

    async def _index(self, request: Request) -> Response:
        # Read on each load: a rebuild while the server runs is picked up, and the
        # file is a few hundred bytes.
        try:
            html = (self.directory / "index.html").read_bytes()
        except OSError:
            return await self._not_built(request)
        port = self.ws_port()
        if port is not None:
            html = _WS_PORT_TAG.sub(rb"\g<1>%d\g<2>" % port, html, count=1)
        return HTMLResponse(html, headers={"cache-control": "no-cache"})

    async def _not_built(self, request: Request) -> Response:
        return PlainTextResponse(
            "wirechat is running: the tRPC API is at /trpc, but the chat page is not built.\n"
            "Run `make run` on a machine with Node.js 20, or `make web`.\n",
            status_code=404,
            headers={"cache-control": "no-cache"},
        )
