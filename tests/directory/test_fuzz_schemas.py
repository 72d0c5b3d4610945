"""Publishing services with odd but valid JSON Schemas: never a 5xx, exports always work.

Schemathesis cannot reach this path (a publisher may only publish its own services, and a
generated descriptor names a random publisher), so Hypothesis builds the schemas here: a
first version, then a second version in the same major, through the real API, with the
compatibility check, the OpenAPI and the AsyncAPI export run on whatever was stored.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.directory.conftest import Target

TYPES = ["string", "integer", "number", "boolean", "object", "array", "null"]
NAMES = st.sampled_from(["nik", "name", "village", "a", "b"])
_ids = itertools.count(1)
MAX_EXAMPLES = 100


def schemas() -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(TYPES)}),
        st.fixed_dictionaries(
            {"type": st.just("string")},
            optional={
                "minLength": st.integers(0, 5),
                "maxLength": st.integers(5, 20),
                "pattern": st.sampled_from(["^[0-9]+$", "^a", "[a-z]"]),
                "format": st.sampled_from(["date", "email", "uuid"]),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["integer", "number"])},
            optional={"minimum": st.integers(-5, 5), "maximum": st.integers(5, 50)},
        ),
        st.fixed_dictionaries(
            {
                "enum": st.lists(
                    st.integers(0, 3) | st.text(max_size=3), min_size=1, max_size=3, unique=True
                )
            }
        ),
        st.just({}),
        st.just(True),
        st.just({"$ref": "#"}),
        st.just({"$ref": "#/$defs/thing"}),
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.just("object"),
                    "properties": st.dictionaries(NAMES, children, max_size=3),
                },
                optional={
                    "required": st.lists(NAMES, max_size=2, unique=True),
                    "additionalProperties": st.booleans() | children,
                },
            ),
            st.fixed_dictionaries({"type": st.just("array"), "items": children}),
            st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=3)}),
            st.fixed_dictionaries({"oneOf": st.lists(children, min_size=1, max_size=2)}),
            st.fixed_dictionaries({"not": children}),
            st.fixed_dictionaries(
                {"type": st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)}
            ),
        )

    def with_defs(schema: Any) -> Any:
        if isinstance(schema, dict):
            return {**schema, "$defs": {"thing": {"type": "string"}}}
        return {"allOf": [schema], "$defs": {"thing": {"type": "string"}}}

    return st.recursive(leaves, extend, max_leaves=8).map(with_defs)


@pytest.mark.slow
def test_odd_schemas_never_make_a_server_error(target: Target, penduduk: dict[str, Any]) -> None:
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {target.token}"}
    base = copy.deepcopy(penduduk) | {"publisher": "fuzzer"}

    # a loaded machine may take long over a deep schema: a timeout here would be no server error
    with httpx.Client(base_url=target.url, headers=headers, timeout=120) as client:

        @given(first=schemas(), second_request=schemas(), second_response=schemas())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def publish_twice(first: Any, second_request: Any, second_response: Any) -> None:
            name = f"odd-{next(_ids)}"
            one = base | {
                "service": name,
                "operations": {"op": {"request": first, "response": first}},
            }
            response = client.post("/services", json=one)
            assert response.status_code in (201, 422), response.text
            if response.status_code != 201:
                return
            two = one | {
                "version": "1.1.0",
                "operations": {"op": {"request": second_request, "response": second_response}},
            }
            response = client.post("/services", json=two)
            assert response.status_code in (201, 409, 422), response.text
            statuses.append(response.status_code)
            if response.status_code == 409:
                assert response.json()["breaking_changes"]
            exported = client.get(f"/services/fuzzer.{name}.v1/openapi")
            assert exported.status_code == 200, exported.text

        publish_twice()
        asyncapi = client.get("/themes/kependudukan/asyncapi")
        assert asyncapi.status_code == 200, asyncapi.text
    assert 201 in statuses and 409 in statuses, statuses
