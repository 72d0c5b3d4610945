"""Reading the YAML or JSON documents operators write (descriptors, adapter configs).

Errors come back as one :class:`~splp.errors.ConfigurationError` line naming the file and
the failing field, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from splp.errors import ConfigurationError, ContractError

Model = TypeVar("Model", bound=BaseModel)


def read_document(path: str | Path) -> Any:
    """The decoded content of a YAML (or JSON) file."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from None


def validate_document(model: type[Model], data: Any, where: str) -> Model:
    """``model`` validated from ``data``; the first error becomes a one-line message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ConfigurationError(f"{where}: {loc}: {first['msg']}") from None
    except ContractError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
