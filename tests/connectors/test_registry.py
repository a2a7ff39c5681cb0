"""The registry hands the engine a source or a target by kind, and keeps broken plugins out of the engine."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest

from enrolsync.connectors.base import Capability, ConnectorInfo
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.registry import GROUP, DuplicateConnector, Registry, UnknownConnector, WrongKind


class HalfTarget:
    """A plugin that declares itself a target but implements only part of the contract."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="half-target",
        kind="lms",
        title="Half a target",
        config_model=MemoryConfig,
        capabilities=frozenset({Capability.ACCOUNTS}),
    )

    async def list_accounts(self) -> None: ...

    async def apply(self) -> None: ...


def _entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_the_engine_gets_a_source_and_a_target_by_kind() -> None:
    registry = Registry.from_classes(MemorySource, MemoryTarget)

    assert registry.source("memory-source") is MemorySource
    assert registry.target("memory-target") is MemoryTarget
    assert registry.get("memory-target") is MemoryTarget  # the catalogue and `check` take either kind


def test_a_connector_of_the_other_kind_is_a_clear_error() -> None:
    registry = Registry.from_classes(MemorySource, MemoryTarget)

    with pytest.raises(WrongKind, match=r"'memory-target' is a target \(lms\), where a source \(hris\) is needed"):
        registry.source("memory-target")
    with pytest.raises(WrongKind, match=r"'memory-source' is a source \(hris\), where a target \(lms\) is needed"):
        registry.target("memory-source")
    with pytest.raises(UnknownConnector):
        registry.source("workday")


def test_a_class_lacking_part_of_its_kinds_contract_is_refused() -> None:
    with pytest.raises(TypeError, match="'half-target' lacks check, find_accounts, list_enrolments"):
        Registry.from_classes(MemorySource, HalfTarget)
    with pytest.raises(TypeError, match="not a connector class"):
        Registry.from_classes(MemoryConfig)  # type: ignore[arg-type]


def test_a_plugin_that_breaks_the_contract_is_listed_as_an_error_and_the_others_load() -> None:
    registry = Registry.from_entry_points(
        [
            _entry_point("memory-target", "enrolsync.connectors.memory:MemoryTarget"),
            _entry_point("half-target", f"{__name__}:HalfTarget"),
            _entry_point("gone", "enrolsync_no_such_plugin:Target"),
            _entry_point("renamed", "enrolsync.connectors.memory:MemorySource"),
        ]
    )

    assert list(registry.classes) == ["memory-target"]
    assert registry.errors["half-target"].startswith("TypeError: connector 'half-target' lacks check, find_accounts")
    assert registry.errors["gone"].startswith("ModuleNotFoundError")
    assert registry.errors["renamed"] == (
        "ValueError: entry point 'renamed' names a connector whose key is 'memory-source'"
    )


def test_two_connectors_with_one_key_stop_startup() -> None:
    with pytest.raises(DuplicateConnector):
        Registry.from_entry_points(
            [
                _entry_point("memory-target", "enrolsync.connectors.memory:MemoryTarget"),
                _entry_point("memory-target", "enrolsync.connectors.memory:MemoryTarget"),
            ]
        )
