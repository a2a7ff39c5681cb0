"""Connector discovery through the `enrolsync.connectors` entry-point group.

Built-in and third-party connectors register the same way; a plugin that fails to load is recorded in `errors`
(and shown by `GET /connectors`) instead of taking the service down. The engine asks for a side by kind
(`source(key)`, `target(key)`) and gets a typed class, so what it calls is what mypy checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Literal, cast

from typing_extensions import get_protocol_members

from enrolsync.connectors.base import (
    Connector,
    ConnectorClass,
    ConnectorInfo,
    SourceClass,
    SourceConnector,
    TargetClass,
    TargetConnector,
)

GROUP = "enrolsync.connectors"

Kind = Literal["hris", "lms"]
_SIDE: dict[Kind, str] = {"hris": "source (hris)", "lms": "target (lms)"}


class UnknownConnector(KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class WrongKind(TypeError):
    """A connection's connector is of the other kind, e.g. a pipeline names an LMS target as its source."""

    def __init__(self, key: str, *, wanted: Kind, found: Kind) -> None:
        super().__init__(f"connector {key!r} is a {_SIDE[found]}, where a {_SIDE[wanted]} is needed")
        self.key, self.wanted, self.found = key, wanted, found


class DuplicateConnector(RuntimeError):
    pass


def _checked(candidate: object) -> ConnectorClass[Connector]:
    """The class, once it has what the engine relies on: an `info`, and every method of its kind.

    mypy checks our own connectors' signatures; a plugin loaded from an entry point is only known at run time,
    so this is as far as its word can be taken (the contract suite checks the behaviour).
    """
    info = getattr(candidate, "info", None)
    if not callable(candidate) or not isinstance(info, ConnectorInfo):
        raise TypeError(f"{candidate!r} is not a connector class (no ConnectorInfo `info`)")
    # Read off the protocols themselves, so this list and the contract cannot disagree.
    wanted = get_protocol_members(SourceConnector if info.kind == "hris" else TargetConnector) - {"info"}
    missing = sorted(name for name in wanted if not callable(getattr(candidate, name, None)))
    if missing:
        raise TypeError(f"connector {info.key!r} lacks {', '.join(missing)} of the {_SIDE[info.kind]} contract")
    return cast(ConnectorClass[Connector], candidate)


@dataclass
class Registry:
    classes: dict[str, ConnectorClass[Connector]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_classes(cls, *classes: ConnectorClass[Connector]) -> Registry:
        registry = cls()
        for connector_cls in classes:
            registry.add(connector_cls)
        return registry

    @classmethod
    def from_entry_points(cls, found: Iterable[EntryPoint] | None = None) -> Registry:
        """Every installed connector (`found` stands in for the installed entry points in tests)."""
        registry = cls()
        for ep in entry_points(group=GROUP) if found is None else found:
            try:
                connector_cls = _checked(ep.load())
                info = connector_cls.info
                if info.key != ep.name:
                    raise ValueError(f"entry point {ep.name!r} names a connector whose key is {info.key!r}")
                info.config_model.model_json_schema()
            except Exception as exc:  # a broken plugin must not stop the service
                registry.errors[ep.name] = f"{type(exc).__name__}: {exc}"
                continue
            registry.add(connector_cls)
        return registry

    def add(self, connector_cls: ConnectorClass[Connector]) -> None:
        checked = _checked(connector_cls)
        if checked.info.key in self.classes:
            raise DuplicateConnector(f"two connectors share the key {checked.info.key!r}")
        self.classes[checked.info.key] = checked

    def get(self, key: str) -> ConnectorClass[Connector]:
        """Any connector by key (checking a connection, listing): only `info` and `check()` are common."""
        try:
            return self.classes[key]
        except KeyError:
            raise UnknownConnector(key) from None

    def source(self, key: str) -> SourceClass:
        """The source connector named `key`. Raises `UnknownConnector`, or `WrongKind` for a target."""
        return cast(ConnectorClass[SourceConnector], self._of_kind(key, "hris"))

    def target(self, key: str) -> TargetClass:
        """The target connector named `key`. Raises `UnknownConnector`, or `WrongKind` for a source."""
        return cast(ConnectorClass[TargetConnector], self._of_kind(key, "lms"))

    def _of_kind(self, key: str, kind: Kind) -> ConnectorClass[Connector]:
        # The casts above rest on this: `add` checked the class has every method its declared kind needs.
        connector_cls = self.get(key)
        if connector_cls.info.kind != kind:
            raise WrongKind(key, wanted=kind, found=connector_cls.info.kind)
        return connector_cls

    def info(self, key: str) -> ConnectorInfo:
        return self.get(key).info

    def __iter__(self) -> Iterator[ConnectorInfo]:
        return (cls.info for _, cls in sorted(self.classes.items()))
