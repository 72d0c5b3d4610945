"""A sample agency API: the population register of Dukcapil, with a few fictional residents.

``POST /residents/search`` with ``{"nik": "..."}`` answers the resident, or 404 with a
problem body; ``GET /resident`` does the same for a client that sends the NIK in the
``X-NIK`` header. It stands for the agency's own local REST API that the HTTP adapter calls.

The NIK never travels in the URL: web servers, proxies and API managers write URLs into
their access logs, where a NIK would be personal data kept outside any retention rule
(UU 27/2022). A body or a header is not logged by default.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

RESIDENTS: dict[str, dict[str, Any]] = {
    "1508010101900001": {
        "nik": "1508010101900001",
        "name": "Siti Aminah",
        "birth_date": "1990-01-01",
        "village": "Sungai Binjai",
        "district": "Bathin III",
    },
    "1508014505850002": {
        "nik": "1508014505850002",
        "name": "Ahmad Fauzi",
        "birth_date": "1985-05-05",
        "village": "Muara Bungo",
        "district": "Pasar Muara Bungo",
    },
}


class Search(BaseModel):
    nik: str


def _resident(nik: str) -> Any:
    resident = RESIDENTS.get(nik)
    if resident is None:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Not found",
                "status": 404,
                "detail": "no resident is registered under that NIK",
            },
            status_code=404,
            media_type="application/problem+json",
        )
    return resident


def create_app() -> FastAPI:
    app = FastAPI(title="Dukcapil population register (sample)", version="1.0.0")

    @app.post("/residents/search")
    async def search_resident(search: Search) -> Any:
        return _resident(search.nik)

    @app.get("/resident")
    async def get_resident(x_nik: Annotated[str, Header()]) -> Any:
        return _resident(x_nik)

    return app
