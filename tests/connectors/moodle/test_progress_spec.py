"""The fake's completion answers and the connector's progress calls against Moodle 4.3.4's published web-service
description (`openapi/README.md`): parameters as the request schemas name them, answers as the 200 schema has them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_schema_validator import OAS30Validator

from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.fake.params import parse_php_form
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.connectors import collect

DOC = json.loads((Path(__file__).parent / "openapi" / "moodle-completion-4.3.4-openapi.json").read_text())
CONTROL = {"wstoken", "wsfunction", "moodlewsrestformat"}


def resolved(node: Any) -> Any:
    """The schema with every local `$ref` replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return resolved(DOC["components"]["schemas"][node["$ref"].split("/")[-1]])
        return {key: resolved(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(item) for item in node]
    return node


def schema(name: str) -> OAS30Validator:
    return OAS30Validator(resolved(DOC["components"]["schemas"][name]))


# Where the generated description is wrong about Moodle: core_course_get_courses' `options[ids]` items are
# `external_value(PARAM_INT, 'Course id')` in course/externallib.php, typed `object` by the generator.
GENERATOR_SLIPS = {("options", "ids")}

REQUESTS = {
    "core_completion_get_course_completion_status": "core_completion_get_activities_completion_status_request",
    "core_course_get_courses": "core_course_get_courses_request",
    "core_enrol_get_enrolled_users": "core_enrol_get_enrolled_users_request",
}


def _typed(value: Any) -> Any:
    """Form values are strings; the description types them (ids are integers)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return int(value) if isinstance(value, str) and value.isdigit() else value


@pytest.fixture
async def read(target: MoodleTarget, fake: FakeMoodle) -> FakeMoodle:
    fake.enrol(5, 2, lastaccess=1_717_000_500)
    fake.complete(5, 2, 1_717_200_000)
    await collect(target.list_progress(course_ids=["2", "3"]))
    return fake


async def test_progress_calls_send_what_the_description_names(read: FakeMoodle) -> None:
    seen = set()
    for request in read.requests:
        fields = parse_qsl(request.content.decode())
        function = dict(fields)["wsfunction"]
        params = _typed(parse_php_form([(k, v) for k, v in fields if k not in CONTROL]))
        errors = [e for e in schema(REQUESTS[function]).iter_errors(params) if tuple(e.path)[:2] not in GENERATOR_SLIPS]
        assert [e.message for e in errors] == [], (function, params)
        names = set(resolved(DOC["components"]["schemas"][REQUESTS[function]])["properties"])
        assert set(params) <= names, function
        seen.add(function)
    assert seen == set(REQUESTS)


async def test_the_fakes_completion_answers_match_the_description(read: FakeMoodle) -> None:
    answers = [
        json.loads(read.handle(request).content)
        for request in read.requests
        if dict(parse_qsl(request.content.decode()))["wsfunction"] == "core_completion_get_course_completion_status"
    ]
    validator = schema("core_completion_get_course_completion_status_200_response")

    # A full read asks the participants of course 2 who opened it: users 3 and 5 (not the teacher, who never did).
    refused = [a for a in answers if a.get("errorcode") == "usernotenroled"]
    answers = [a for a in answers if a not in refused]
    assert (len(answers), len(refused)) == (2, 0)
    for answer in answers:
        assert [e.message for e in validator.iter_errors(answer)] == []
    assert {a["completionstatus"]["completed"] for a in answers} == {False, True}
