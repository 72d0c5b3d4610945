"""One settings class: every ``SPLP_*`` variable is a field of :class:`splp.settings.Settings`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

import splp
from splp.settings import Settings

PACKAGE = Path(splp.__file__).parent

# ``${VAR}`` in an adapter's YAML is interpolation of the operator's file, not a setting
ENVIRONMENT_READERS = {"settings.py", "adapters/http_config.py"}


def test_the_audit_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLP_DATABASE_URL", "sqlite+aiosqlite:///directory.db")
    monkeypatch.setenv("SPLP_AUDIT_DATABASE_URL", "sqlite+aiosqlite:///audit.db")
    monkeypatch.setenv("SPLP_BROKER_EVENTS_VHOST", "events")
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://sink:pw@rabbit:5672/")
    settings = Settings()
    assert settings.audit_store_url == "sqlite+aiosqlite:///audit.db"
    assert settings.database_url == "sqlite+aiosqlite:///directory.db"
    assert settings.broker_events_url == "amqp://sink:pw@rabbit:5672/events"


def test_the_audit_store_is_the_directory_database_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SPLP_AUDIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("SPLP_BROKER_EVENTS_VHOST", raising=False)
    monkeypatch.setenv("SPLP_DATABASE_URL", "sqlite+aiosqlite:///directory.db")
    settings = Settings(vhost="splp")
    assert settings.audit_database_url is None
    assert settings.audit_store_url == "sqlite+aiosqlite:///directory.db"
    assert settings.broker_events_vhost == "/"
    assert settings.broker_events_url is not None
    assert settings.broker_events_url.endswith("/%2F")
    assert settings.broker_url.endswith("/splp")


def test_an_empty_broker_events_vhost_records_no_broker_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPLP_BROKER_EVENTS_VHOST", "")
    assert Settings().broker_events_url is None


def test_the_cache_follows_xdg_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPLP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().cache_dir == tmp_path / "xdg" / "splp"
    monkeypatch.setenv("SPLP_CACHE_DIR", str(tmp_path / "mine"))
    assert Settings().cache_dir == tmp_path / "mine"


def test_no_module_but_the_settings_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text(encoding="utf-8"))
    }
    assert readers <= ENVIRONMENT_READERS, readers - ENVIRONMENT_READERS


def test_the_broker_url_names_the_vhost_as_every_amqp_client_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 20, point 8: the URL handed to a requester works in any AMQP library, and
    the SDK reads the same vhost from it; a second, different vhost is refused."""
    monkeypatch.delenv("SPLP_VHOST", raising=False)
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://dinsos:s3cret@bus:5672/splp-uji")
    assert Settings().vhost == "splp-uji"
    assert Settings().broker_url == "amqp://dinsos:s3cret@bus:5672/splp-uji"
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://dinsos:s3cret@bus:5672/%2F")
    assert Settings().vhost == "/"
    for no_path in ("amqp://dinsos:s3cret@bus:5672/", "amqp://dinsos:s3cret@bus:5672"):
        monkeypatch.setenv("SPLP_AMQP_URL", no_path)
        assert Settings().vhost == "splp"
        monkeypatch.setenv("SPLP_VHOST", "lain")
        assert Settings().broker_url == "amqp://dinsos:s3cret@bus:5672/lain"
        monkeypatch.delenv("SPLP_VHOST")
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://dinsos:s3cret@bus:5672/splp")
    monkeypatch.setenv("SPLP_VHOST", "splp")
    assert Settings().vhost == "splp"
    monkeypatch.setenv("SPLP_VHOST", "lain")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "names vhost 'splp' but SPLP_VHOST is 'lain'" in str(refused.value)
    assert "s3cret" not in str(refused.value)


SECRET_URLS = {
    "amqp_url": "amqp://sink:s3cret-amqp@rabbit:5672/",
    "management_url": "http://admin:s3cret-mgmt@rabbit:15672",
    "database_url": "postgresql+asyncpg://splp:s3cret-db@pg:5432/splp",
    "audit_database_url": "postgresql+asyncpg://audit:s3cret-audit@pg:5432/audit",
}


def test_the_repr_of_the_settings_masks_every_password_in_a_url() -> None:
    settings = Settings(**SECRET_URLS)
    shown = f"{settings!r} {settings} {settings.amqp_url!r} {settings.database_url!r}"
    assert "s3cret" not in shown
    assert "sink:***@rabbit:5672" in shown and "pg:5432/splp" in shown
    for name, url in SECRET_URLS.items():  # every call site still gets the URL itself
        value = getattr(settings, name)
        assert value == url and isinstance(value, str) and str(value) == url
    assert settings.broker_url == "amqp://sink:s3cret-amqp@rabbit:5672/splp"
    assert settings.model_copy(update={"vhost": "b"}).broker_url.endswith("@rabbit:5672/b")
    plain = Settings(database_url="sqlite+aiosqlite:///d.db").database_url
    assert repr(plain) == "'sqlite+aiosqlite:///d.db'"  # nothing to mask: shown as it is


def test_a_url_can_be_read_from_a_file_named_by_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Broker and database credentials come from the environment or a file (systemd
    credentials, Docker or Kubernetes secrets), never from the command line."""
    for name in SECRET_URLS:
        monkeypatch.delenv(f"SPLP_{name.upper()}", raising=False)
        (tmp_path / name).write_text(SECRET_URLS[name] + "\n")
        monkeypatch.setenv(f"SPLP_{name.upper()}_FILE", str(tmp_path / name))
    monkeypatch.delenv("SPLP_VHOST", raising=False)
    settings = Settings()
    for name, url in SECRET_URLS.items():
        assert getattr(settings, name) == url
    assert Settings(amqp_url="amqp://given@h/").amqp_url == "amqp://given@h/"  # given wins
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://both@h/")
    with pytest.raises(ValueError, match="SPLP_AMQP_URL and SPLP_AMQP_URL_FILE"):
        Settings()
    monkeypatch.delenv("SPLP_AMQP_URL")
    monkeypatch.setenv("SPLP_AMQP_URL_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="cannot read SPLP_AMQP_URL_FILE"):
        Settings()


def test_a_clusters_nodes_share_the_credentials_and_vhost_of_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17: SPLP_AMQP_URLS lists the nodes, without secrets; several mean quorum queues."""
    monkeypatch.delenv("SPLP_QUEUE_TYPE", raising=False)
    monkeypatch.setenv("SPLP_AMQP_URL", "amqp://dinsos:s3cret@lb:5672/splp")
    assert Settings().broker_urls == ["amqp://dinsos:s3cret@lb:5672/splp"]
    assert Settings().queue_type == "classic"
    monkeypatch.setenv("SPLP_AMQP_URLS", " bus1:5672, bus2 ,amqps://bus3:5671 ")
    assert Settings().broker_urls == [
        "amqp://dinsos:s3cret@bus1:5672/splp",
        "amqp://dinsos:s3cret@bus2/splp",
        "amqps://dinsos:s3cret@bus3:5671/splp",
    ]
    assert Settings().queue_type == "quorum"
    monkeypatch.setenv("SPLP_QUEUE_TYPE", "classic")  # said outright, it stands
    assert Settings().queue_type == "classic"
    monkeypatch.setenv("SPLP_AMQP_URLS", "bus1:5672")  # one node: no cluster
    monkeypatch.delenv("SPLP_QUEUE_TYPE")
    assert Settings().queue_type == "classic"
    for bad in ("admin:s3cret@bus1:5672", "bus1:5672/other", "http://bus1:15672", "bus1:x"):
        monkeypatch.setenv("SPLP_AMQP_URLS", bad)
        with pytest.raises(ValidationError) as refused:
            Settings()
        assert "SPLP_AMQP_URLS" in str(refused.value)
        assert "s3cret" not in str(refused.value)
