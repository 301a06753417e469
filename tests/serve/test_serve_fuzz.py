"""The API fuzzed from its own OpenAPI schema (Schemathesis, in-process over ASGI: no port).

Every operation, a fixed seed, a bounded number of examples, every check Schemathesis has: no 5xx,
every status, content type, header and body as documented (errors included), schema-invalid
requests refused, and schema-valid requests accepted (`positive_data_acceptance`), but for the
refusals the API documents, which the schema cannot say: each a 400 whose one-line error is one of
DOCUMENTED_400 (a model that cannot write a poem, an acrostic head it has never seen, --min-len
above --max-len, ...).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from charrnn.serve import Limits, create_app
from serve_fixtures import runs_folder  # noqa: F401 (fixture)

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = 100  # per operation and kind of data (schema-valid, schema-invalid)
DOCUMENTED_400 = [re.compile(pattern) for pattern in (
    r"poem needs a run trained on poems",  # a model whose vocabulary has no ， and 。
    r"--acrostic: .* not in this run's vocabulary",
    r"--acrostic .*: no head characters",
    r"--acrostic gives \d+ heads but the poem has \d+ lines",
    r"--form \w+ has \d+ for --(chars-per-line|lines)",
    r"--keywords",  # words the vocabulary or the form cannot hold
    r"--rhyme",  # no rhyme group big enough, or a single line
    r"--meter is for regulated verse",
    r"--pattern chooses a tonal pattern",
    r"names needs a lines-mode run",
    r"--min-len \d+ is more than --max-len \d+",
    r"--starts-with",  # characters the model has never seen, longer than --max-len, or a newline
    r"--new-only: this run has no",
    r"unit .*: ",  # a unit the model does not have
    r"has no validation split|cannot be read again",  # /api/neurons without a text, on a run without one
    r"no allowed next id",  # a form whose constraints leave nothing to write
    r"no poem in the text",  # /api/poem/check: nothing that reads as a poem
    r"give a text or a dataset to train on",  # /api/train with both or neither
    r"this server trains for at most",  # /api/train: max_time over --max-train-time
    r"(is|are) not supported by this server",  # /v1/completions: logprobs, best_of above 1
)]


def documented_refusal(response) -> bool:
    if response.status_code != 400:
        return False
    body = response.json()
    message = body["error"]["message"] if isinstance(body["error"], dict) else body["error"]
    return any(pattern.search(message) for pattern in DOCUMENTED_400)


def fuzz(app, calls: dict[str, int], refused: dict[str, int], tags: set[str] | None = None) -> list[str]:
    """Every operation of `app` (those of `tags` only, when given), schema-valid and schema-invalid
    requests; the failures found, one line each."""
    from schemathesis.checks import positive_data_acceptance
    from schemathesis.generation import GenerationMode

    failures = []
    with TestClient(app):  # runs the lifespan: the models are loaded
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        if tags is not None:
            operations = [op for op in operations if tags & set(op.tags or ())]
        for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:
            @given(case=operation.as_strategy(mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def one(case):
                calls[mode.value] = calls.get(mode.value, 0) + 1
                response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
                if documented_refusal(response):
                    refused[operation.label] = refused.get(operation.label, 0) + 1
                else:
                    case.validate_response(response, checks=[positive_data_acceptance])

            try:
                one()
            except Unsatisfiable:  # nothing of this operation can be schema-invalid (no body, no parameter)
                assert mode is GenerationMode.NEGATIVE
            except Exception as e:  # noqa: BLE001 (collected, so every operation is tried)
                failures.append(f"{operation.label} ({mode.value}): {' '.join(str(e).split())[:800]}")
    calls["operations"] = calls.get("operations", 0) + len(operations)
    return failures


def test_every_operation_holds_to_its_schema(runs_folder, tmp_path, capsys):  # noqa: F811
    """Every operation with the studio off (its routes answer 403), then the studio's own with it on,
    in a folder of its own: a trainer or two run, cut short by --max-train-time, the rest queue (429)."""
    calls: dict[str, int] = {}
    refused: dict[str, int] = {}
    writing = create_app(runs_folder, device="cpu", limits=Limits(max_concurrency=8, timeout=30), training=False)
    failures = fuzz(writing, calls, refused)
    studio = create_app(tmp_path / "runs", device="cpu", limits=Limits(timeout=30, max_train_time=2, train_queue=1))
    failures += fuzz(studio, calls, refused, tags={"Training"})
    assert calls["operations"] >= 20
    assert not failures, "\n".join(failures)
    with capsys.disabled():
        print(f"\nfuzzed {calls['operations']} operations: {calls.get('positive', 0)} schema-valid and "
              f"{calls.get('negative', 0)} schema-invalid requests; documented 400s: {refused}")
