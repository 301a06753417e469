"""The API fuzzed from its own OpenAPI schema (Schemathesis, in-process over ASGI: no port).

Every operation, a fixed seed, a bounded number of examples. Every check Schemathesis has runs but
`positive_data_acceptance`, which expects every schema-valid request to succeed: this API refuses
some on purpose, with 400 (an acrostic head the model has never seen, --min-len above --max-len, a
poem from a model that cannot write one) or 422 (a JSON number 60.0 where it wants the integer 60:
its models are strict). The other checks hold: no 5xx, every status, content type, header and body
as documented (errors included), and schema-invalid requests refused.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from charrnn.serve import Limits, create_app
from serve_fixtures import runs_folder  # noqa: F401 (fixture)

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = 100  # per operation and kind of data (schema-valid, schema-invalid)


def test_every_operation_holds_to_its_schema(runs_folder, capsys):
    from schemathesis.checks import positive_data_acceptance
    from schemathesis.generation import GenerationMode

    app = create_app(runs_folder, device="cpu", limits=Limits(max_concurrency=8, timeout=30))
    calls: dict[str, int] = {}
    with TestClient(app):  # runs the lifespan: the models are loaded
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        failures = []
        for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:
            @given(case=operation.as_strategy(mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case):
                calls[mode.value] = calls.get(mode.value, 0) + 1
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                fuzz()
            except Unsatisfiable:  # nothing of this operation can be schema-invalid (no body, no parameter)
                assert mode is GenerationMode.NEGATIVE
            except Exception as e:  # noqa: BLE001 (collected, so every operation is tried)
                failures.append(f"{operation.label} ({mode.value}): {' '.join(str(e).split())[:800]}")
    assert len(operations) >= 10
    assert not failures, "\n".join(failures)
    with capsys.disabled():
        print(f"\nfuzzed {len(operations)} operations: {calls.get('positive', 0)} schema-valid and "
              f"{calls.get('negative', 0)} schema-invalid requests")
