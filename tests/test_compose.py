"""docker-compose.yml and the Dockerfile: valid against the Compose Specification's JSON
Schema (vendored in tests/data/compose-spec/, see ORIGIN.md there), and every command they
run exists. No Docker engine runs here, so nothing is started."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from tests.doc_commands import cli_problem

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
SCHEMA_SHA256 = "56bab44c85c0ce8affb74474950293f37d510673283a243bcd7eeadb900fa35c"


def validator_of(schema: dict[str, Any]) -> jsonschema.Draft201909Validator:
    # The file names draft 2019-09 by a URI jsonschema does not know
    # ("http://json-schema.org/draft/2019-09/schema#"): say the draft explicitly.
    assert "2019-09" in schema["$schema"]
    return jsonschema.Draft201909Validator(schema)


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in compose()["services"].items():
        command = service.get("command")
        if command is not None:
            found.append((name, command if isinstance(command, list) else shlex.split(command)))
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for match in re.finditer(r"^(?:CMD|ENTRYPOINT)\s+(\[.*\])\s*$", dockerfile, re.M):
        found.append(("Dockerfile", json.loads(match[1])))
    return found


def test_the_vendored_schema_is_the_recorded_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = validator_of(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_catches_a_mistake() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["directory"]["depends_on"] = {"rabbitmq": {"condition": "when-ready"}}
    broken["services"]["audit-sink"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError):
        validator_of(schema).validate(broken)


def test_the_services_an_operator_expects_are_there() -> None:
    services = compose()["services"]
    assert (
        services["rabbitmq"]["image"].startswith("rabbitmq:3")
        and "management" in (services["rabbitmq"]["image"])
    )
    plugins = (ROOT / "docker" / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    assert "rabbitmq_management" in plugins and "rabbitmq_event_exchange" in plugins
    assert any(
        v.startswith("./docker/rabbitmq/enabled_plugins:") for v in services["rabbitmq"]["volumes"]
    )
    assert services["postgres"]["image"].startswith("postgres")
    runs = {name: " ".join(args) for name, args in commands()}
    assert runs["directory"].startswith("splp directory serve")
    assert runs["audit-sink"].startswith("splp audit sink")
    assert runs["demo-adapter"].startswith("splp adapter run splp/demo/adapter.yaml")
    assert "postgresql+asyncpg://" in services["directory"]["environment"]["SPLP_DATABASE_URL"]


@pytest.mark.parametrize("where,args", commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_exists(where: str, args: list[str]) -> None:
    if args[0] == "splp":
        problem = cli_problem(args[1:])
        assert problem is None, f"{where}: {problem}"
    elif args[:4] == ["python", "-m", "uvicorn", "--factory"]:
        module, _, attribute = args[4].partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), f"{where}: {args[4]}"
    else:
        pytest.fail(f"{where}: unexpected command {args}")


def test_the_demo_adapter_reaches_the_demo_agency() -> None:
    """The adapter shares the agency's network namespace; its config calls the agency's port."""
    services = compose()["services"]
    assert services["demo-adapter"]["network_mode"] == "service:demo-agency"
    agency = services["demo-agency"]["command"]
    config = yaml.safe_load((ROOT / "splp" / "demo" / "adapter.yaml").read_text(encoding="utf-8"))
    base = urlsplit(config["base_url"])
    assert base.hostname == agency[agency.index("--host") + 1]
    assert str(base.port) == agency[agency.index("--port") + 1]
