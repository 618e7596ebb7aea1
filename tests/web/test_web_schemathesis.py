"""Schemathesis drives every operation of the OpenAPI schema with generated inputs, as a
platform admin and as nobody: whatever it sends, zhili never answers 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from zhili.access import system_actor
from zhili.identity.tokens import create_token

EXAMPLES = 12


def test_no_operation_answers_5xx(app, world) -> None:
    world.user("root", "BUREAU", "platform_admin")
    with world.db.session() as s:
        token = create_token(s, system_actor(), username="root", name="fuzz").plaintext
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True,
            suppress_health_check=list(HealthCheck), database=None,
        )  # fmt: skip
        def check(case) -> None:
            for headers in ({"Authorization": f"Bearer {token}"}, {}):
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

        check()
    assert operations > 40, operations
    assert not failures, "\n".join(failures[:20])
