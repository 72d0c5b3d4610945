"""Reading the YAML or JSON documents operators write (descriptors, adapter configs), and
writing the ones that hold secrets (backups) readable by their owner only.

Errors come back as one :class:`~splp.errors.ConfigurationError` line naming the file and
the failing field, never as a traceback.
"""

from __future__ import annotations

import os
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


def write_private(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with mode 0600, whatever the umask.

    For files that hold token or password hashes (backups): the file is created 0600, and
    one that exists already is made 0600 before anything is written into it.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as file:
            file.write(text)
    finally:
        os.close(fd)
