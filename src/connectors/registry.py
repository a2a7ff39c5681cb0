"""Connector discovery through the `enrolsync.connectors` entry-point group.

Built-in and third-party connectors register the same way; a plugin that fails to load is recorded in `errors`
(and shown by `GET /connectors`) instead of taking the service down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from enrolsync.connectors.base import ConnectorInfo

GROUP = "enrolsync.connectors"


class UnknownConnector(KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class DuplicateConnector(RuntimeError):
    pass


@dataclass
class Registry:
    classes: dict[str, type[Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_classes(cls, *classes: type[Any]) -> Registry:
        registry = cls()
        for connector_cls in classes:
            registry.add(connector_cls)
        return registry

    @classmethod
    def from_entry_points(cls) -> Registry:
        registry = cls()
        for ep in entry_points(group=GROUP):
            try:
                connector_cls = ep.load()
                info: ConnectorInfo = connector_cls.info
                if info.key != ep.name:
                    raise ValueError(f"entry point {ep.name!r} names a connector whose key is {info.key!r}")
                info.config_model.model_json_schema()
            except Exception as exc:  # a broken plugin must not stop the service
                registry.errors[ep.name] = f"{type(exc).__name__}: {exc}"
                continue
            registry.add(connector_cls)
        return registry

    def add(self, connector_cls: type[Any]) -> None:
        info: ConnectorInfo = connector_cls.info
        if info.key in self.classes:
            raise DuplicateConnector(f"two connectors share the key {info.key!r}")
        self.classes[info.key] = connector_cls

    def get(self, key: str) -> type[Any]:
        try:
            return self.classes[key]
        except KeyError:
            raise UnknownConnector(key) from None

    def info(self, key: str) -> ConnectorInfo:
        info: ConnectorInfo = self.get(key).info
        return info

    def __iter__(self) -> Iterator[ConnectorInfo]:
        return (cls.info for _, cls in sorted(self.classes.items()))
