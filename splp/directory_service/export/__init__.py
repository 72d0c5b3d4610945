"""Export the directory as API documents: OpenAPI 3.1 per service, AsyncAPI 3.0 per theme.

The OpenAPI document (:mod:`.openapi`) describes the HTTP gateway shape of a service
version, for national SPLP interoperability (Musi Banyuasin Pasal 25). The AsyncAPI
document (:mod:`.asyncapi`) describes the bus contract of one theme. Both embed the
operations' JSON Schema 2020-12 as components (:mod:`.components`).
"""

from __future__ import annotations

from splp.directory_service.export.asyncapi import asyncapi_for
from splp.directory_service.export.components import problem_schema
from splp.directory_service.export.openapi import openapi_for

__all__ = ["asyncapi_for", "openapi_for", "problem_schema"]
