"""A sample agency API: the population register of Dukcapil, with a few fictional residents.

``GET /residents/{nik}`` answers the resident, or 404 with a problem body. It stands for
the agency's own local REST API that the HTTP adapter calls.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

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


def create_app() -> FastAPI:
    app = FastAPI(title="Dukcapil population register (sample)", version="1.0.0")

    @app.get("/residents/{nik}")
    async def get_resident(nik: str) -> Any:
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

    return app
