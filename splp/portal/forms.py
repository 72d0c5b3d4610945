"""Reading a submitted form (``application/x-www-form-urlencoded``), bounded."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200


class Form:
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._fields.get(name, []))

    def __getitem__(self, name: str) -> str:
        return self.get(name)

    def as_dict(self) -> dict[str, str]:
        return {name: values[0] for name, values in self._fields.items() if values}


async def read_form(request: Request, multi: tuple[str, ...] = ()) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return Form({})
    fields = parse_qs(
        body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
    )
    return Form(
        {k.replace("\x00", ""): [v.replace("\x00", "") for v in vs] for k, vs in fields.items()}
    )
