"""The regency governments' copyright (Musi Banyuasin reg. 48/2024 Pasal 32(3)) and the
licence they chose, as the repository and the wheel's metadata state them."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the Apache License 2.0 as apache.org and many packages ship it, appendix included
APACHE_2_SHA256 = "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"


def test_licence_is_the_full_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256


def test_notice_names_the_regency_governments_and_the_licence() -> None:
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    for holder in ("Pemerintah Kabupaten Bungo", "Pemerintah Kabupaten Musi Banyuasin"):
        assert f"Hak Cipta 2026 {holder}" in notice and f"Copyright 2026 {holder}" in notice
    assert "Apache License, Version 2.0" in notice
    assert "Pasal 32 ayat (3)" in notice


def test_package_metadata_agrees() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE", "NOTICE"]
