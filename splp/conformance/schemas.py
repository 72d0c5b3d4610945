"""The JSON Schemas of ``schemas/`` (``splp/_schemas`` in the wheel), as validators."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs


@cache
def _validator(name: str) -> Any:
    here = Path(__file__).resolve().parent.parent
    for folder in (here / "_schemas", here.parent / "schemas"):
        path = folder / f"{name}.schema.json"
        if path.exists():
            return jsonschema_rs.validator_for(json.loads(path.read_text(encoding="utf-8")))
    raise RuntimeError(f"{name}.schema.json is not installed")


def violations(name: str, instance: Any) -> list[str]:
    """Where ``instance`` breaks ``schemas/<name>.schema.json`` (empty when it follows it)."""
    return [
        f"{'/'.join(map(str, error.instance_path)) or '(top)'}: {error.message}"
        for error in _validator(name).iter_errors(instance)
    ][:5]
