"""The contract is a type: mypy refuses a connector whose signatures drift from it.

Each built-in connector module ends with `_contract: SourceClass = <Class>` (or `TargetClass`), so
`mypy --strict -p enrolsync` checks the class there. This test proves such a line catches drift: it type-checks a
tiny connector declared the same way, once as written and once per kind of drift, in one mypy run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

SOURCE = """
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

import httpx

from enrolsync.connectors.base import (
    Capability, ConnectorConfig, ConnectorInfo, Cursor, ReadRetryPolicy, SourceClass,
)
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest


class TinyConfig(ConnectorConfig):
    token: str


class TinySource:
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="tiny", kind="hris", title="Tiny", config_model=TinyConfig,
        capabilities=frozenset({Capability.PERSONS_FULL}),
    )

    def __init__(self, config: TinyConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, detail="reachable")

    async def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        yield Page[Person](items=(), checkpoint=since)

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        yield Page[Person](items=(), removed=tuple(hr_ids))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        return []


_contract: SourceClass = TinySource
"""

TARGET = """
from collections.abc import AsyncIterator, Collection, Sequence
from typing import ClassVar

import httpx

from enrolsync.connectors.base import ConnectorConfig as Config, ConnectorInfo, ReadRetryPolicy, TargetClass
from enrolsync.connectors.model import (
    Account, CheckResult, Enrolment, GroupMembership, RoleAssignment, SsoIdentity,
)
from enrolsync.connectors.ops import Op, OpResult


class TinyTarget:
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="tiny", kind="lms", title="Tiny", config_model=Config, capabilities=frozenset(),
    )

    def __init__(self, config: Config, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, detail="reachable")

    def list_accounts(self) -> AsyncIterator[Account]:
        raise NotImplementedError

    def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        raise NotImplementedError

    def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        raise NotImplementedError

    def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        raise NotImplementedError

    def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        raise NotImplementedError

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        return []

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        return [OpResult.failed("not supported") for _ in ops]


_contract: TargetClass = TinyTarget
"""


def _drift(text: str, old: str, new: str) -> str:
    assert old in text, old  # the drift must really be made, or the test proves nothing
    return text.replace(old, new)


CASES: dict[str, str] = {
    "source_as_written": SOURCE,
    "target_as_written": TARGET,
    # A read whose cursor became required: the engine's full read passes None.
    "source_read_persons_parameter": _drift(SOURCE, "since: Cursor | None) ->", "since: Cursor) ->"),
    # A method renamed: the engine would call one that is not there.
    "source_method_missing": _drift(SOURCE, "def parse_event(", "def parse_events("),
    # A constructor without `retry=`: the engine always passes its read-retry policy.
    "source_constructor": _drift(SOURCE, ", *, retry: ReadRetryPolicy | None = None) -> None:", ") -> None:"),
    # Results of the wrong type.
    "target_apply_returns": _drift(
        TARGET,
        "async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:\n        return [OpResult.failed",
        "async def apply(self, ops: Sequence[Op]) -> Sequence[str]:\n        return [str",
    ),
    # A batch taken as one op.
    "target_apply_parameter": _drift(TARGET, "def apply(self, ops: Sequence[Op])", "def apply(self, ops: Op)"),
    # A keyword the engine passes (`course_ids=`) no longer accepted.
    "target_list_enrolments_keyword": _drift(
        TARGET, "self, *, course_ids: Collection[str] | None = None", "self, *, courses: Collection[str] | None = None"
    ),
}


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's errors per case, from one `--strict` run over every case (a cold run takes some seconds)."""
    folder = tmp_path_factory.mktemp("contract_types")
    for name, text in CASES.items():
        (folder / f"{name}.py").write_text(text)
    stdout, stderr, _ = api.run(
        [
            # The options and the pydantic plugin the package itself is checked with.
            "--config-file", str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir", str(folder / ".mypy_cache"),
            "--no-error-summary",
            *(str(folder / f"{name}.py") for name in CASES),
        ]
    )  # fmt: skip
    assert not stderr, stderr
    errors: dict[str, list[str]] = {name: [] for name in CASES}
    for line in stdout.splitlines():
        found = re.match(r"(?:.*[/\\])?(\w+)\.py:(\d+): error: (.*)", line)
        if found and found[1] in errors:
            errors[found[1]].append(f"{found[2]}: {found[3]}")
        else:
            # An error outside the cases (in enrolsync itself) would make the cases' results meaningless.
            assert not re.search(r": error: ", line), line
    return errors


@pytest.mark.parametrize("case", ["source_as_written", "target_as_written"])
def test_a_connector_true_to_the_contract_type_checks(mypy_errors: dict[str, list[str]], case: str) -> None:
    assert mypy_errors[case] == []


@pytest.mark.parametrize("case", sorted(name for name in CASES if not name.endswith("_as_written")))
def test_a_connector_drifting_from_the_contract_fails_mypy_on_its_contract_line(
    mypy_errors: dict[str, list[str]], case: str
) -> None:
    lines = CASES[case].splitlines()
    contract_line = next(number for number, line in enumerate(lines, 1) if line.startswith("_contract:"))
    # Reported where the class meets the contract, and only there: the drifted class is fine on its own terms.
    assert mypy_errors[case], "mypy accepted a connector that drifted from the contract"
    assert {error.split(":")[0] for error in mypy_errors[case]} == {str(contract_line)}, mypy_errors[case]
    assert "Incompatible types in assignment" in mypy_errors[case][0]
