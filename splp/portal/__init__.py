"""Aplikasi SPLP: the web portal for the people who run and use the bus (Bungo reg.
28/2024 Pasal 7a: a requester applies "melalui aplikasi SPLP").

Server-rendered pages (Jinja2, with htmx served from the portal itself), in Bahasa
Indonesia by default and English on request. The portal holds no logic of its own: every
page reads and writes through the directory's JSON API in-process, with the signed-in
person's session, so authorization, validation and audit events are the API's.

>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> mount_portal(app)
>>> "/aset" in [getattr(route, "path", None) for route in app.routes]  # its own assets
True
"""

from __future__ import annotations

from splp.portal.pages import mount_portal

__all__ = ["mount_portal"]
