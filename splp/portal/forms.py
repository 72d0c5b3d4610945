"""Reading a submitted form (``application/x-www-form-urlencoded``), bounded."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent with a form: its name, declared type and bytes."""

    filename: str
    content_type: str
    data: bytes


async def read_upload_form(request: Request, file_field: str) -> tuple[Form, Upload | None]:
    """A ``multipart/form-data`` form (fields and at most one file, ``file_field``), or an
    urlencoded one; bounded like :func:`read_form` (the body limit of the path bounds the
    file)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await read_form(request), None
    try:
        parsed = await request.form(max_files=1, max_fields=MAX_FIELDS)
    except Exception:  # a malformed body: as an empty form, which the API then refuses
        return Form({}), None
    fields: dict[str, list[str]] = {}
    upload = None
    for name, value in parsed.multi_items():
        if isinstance(value, str):
            fields.setdefault(name.replace("\x00", ""), []).append(value.replace("\x00", ""))
        elif name == file_field and value.filename:
            data = await value.read()
            if data:
                upload = Upload(value.filename, value.content_type or "", data)
    await parsed.close()
    return Form(fields), upload


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
