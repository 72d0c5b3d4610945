"""The portal's way to the directory: its JSON API, called in-process with the signed-in
person's session cookie (and, for a change, the CSRF token the form carried)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from splp.portal.i18n import DEFAULT, gettext_for
from splp.portal.problems import message
from splp.portal.render import language_of
from splp.web.csrf import CSRF_HEADER

COOKIE = "splp_session"


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers
    language: str = DEFAULT

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def detail(self) -> str:
        """The API's own words (English)."""
        return str(self.body.get("detail", "")) if isinstance(self.body, dict) else ""

    @property
    def message(self) -> str:
        """The problem as the portal tells it, in the person's language (a known problem,
        see :mod:`splp.portal.problems`), else the API's ``detail``."""
        msgid, variables = message(self.body if isinstance(self.body, dict) else {})
        return gettext_for(self.language)(msgid, **variables) if msgid else self.detail

    def field_errors(self) -> dict[str, str]:
        """A validation problem's messages by field (``body/reason`` -> ``reason``;
        ``query/status`` -> ``status``)."""
        errors = self.body.get("errors", []) if isinstance(self.body, dict) else []
        found: dict[str, str] = {}
        for error in errors:
            pointer = str(error.get("pointer", ""))
            name = pointer.split("/")[1] if pointer.startswith(("body/", "query/")) else pointer
            found.setdefault(name, str(error.get("message", "")))
        return found


class DirectoryApi:
    """The directory API of the running app, as the person of ``request``."""

    def __init__(self, request: Request, csrf: str | None = None) -> None:
        self._app = request.app
        self._cookie = request.cookies.get(COOKIE, "")
        self._csrf = csrf
        self._language = language_of(request)

    def _client(self) -> httpx.AsyncClient:
        headers = {CSRF_HEADER: self._csrf} if self._csrf else {}
        if self._cookie:
            headers["Cookie"] = f"{COOKIE}={self._cookie}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(self._app), base_url="https://directory", headers=headers
        )

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Answer:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        async with self._client() as client:
            response = await client.request(method, path, json=body, params=query)
        return self._answer(response)

    async def post_file(self, path: str, data: bytes, content_type: str, **params: Any) -> Answer:
        """POST ``data`` as the body (a document), with its own content type."""
        async with self._client() as client:
            response = await client.post(
                path, content=data, params=params, headers={"Content-Type": content_type}
            )
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> Answer:
        """The response as an :class:`Answer`: its JSON, else its text."""
        content: Any = None
        if response.content:
            try:
                content = response.json()
            except ValueError:
                content = response.text
        return Answer(response.status_code, content, response.headers, self._language)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, **params)

    async def post(self, path: str, body: Any = None) -> Answer:
        return await self.call("POST", path, body if body is not None else {})

    async def delete(self, path: str) -> Answer:
        return await self.call("DELETE", path)
