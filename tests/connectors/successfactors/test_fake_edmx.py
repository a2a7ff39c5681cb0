"""The fake and the connector speak SAP's published OData v2 model (the EDMX documents in `edmx/`).

Every property the fake serves exists in the EDMX with the same EDM type and key; every navigation leads where the
EDMX says, to one or many. Then the connector is driven through everything it does (check, full, incremental and
by-id reads) and every request it sent is checked: each `$select`ed, `$expand`ed and `$filter`ed name exists on its
entity, filtered ones are `sap:filterable`, and each filter literal has its property's type; every answer's values
have the wire form of their EDM type (`/Date(ms)/`, `/Date(ms+0000)/`, 64-bit integers as strings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.successfactors import SuccessFactorsSource
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.successfactors.fake.company import KEYS, NAVIGATION, SCHEMA
from enrolsync.connectors.successfactors.fake.odata import names_in_filter
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

EDMX = Path(__file__).parent / "edmx"
EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
SAP = "{http://www.sap.com/Protocols/SAPData}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
_LITERAL = re.compile(r"(?P<prop>\w+) (?P<op>eq|ne|gt|ge|lt|le) (?P<kind>datetimeoffset|datetime)?'")
_WIRE = {
    "Edm.DateTime": re.compile(r"^/Date\(-?\d+\)/$"),
    "Edm.DateTimeOffset": re.compile(r"^/Date\(-?\d+[+-]\d{4}\)/$"),
    "Edm.Int64": re.compile(r"^-?\d+$"),
}


@dataclass(frozen=True)
class Prop:
    type: str
    filterable: bool


@dataclass(frozen=True)
class EntityType:
    properties: dict[str, Prop]
    keys: tuple[str, ...]
    navigation: dict[str, tuple[str, bool]]  # name -> (target entity, to-many)


def _local(name: str | None) -> str:
    """`SFOData.EmpJob` -> `EmpJob`."""
    return str(name).rsplit(".", 1)[-1]


def _model() -> dict[str, EntityType]:
    model: dict[str, EntityType] = {}
    for path in sorted(EDMX.glob("*.edmx")):
        root = etree.parse(str(path), _PARSER).getroot()
        ends = {
            (association.get("Name"), end.get("Role")): (_local(end.get("Type")), end.get("Multiplicity"))
            for association in root.iter(f"{EDM}Association")
            for end in association.iter(f"{EDM}End")
        }
        for entity in root.iter(f"{EDM}EntityType"):
            properties = {
                str(p.get("Name")): Prop(str(p.get("Type")), p.get(f"{SAP}filterable", "true") == "true")
                for p in entity.findall(f"{EDM}Property")
            }
            navigation = {}
            for nav in entity.findall(f"{EDM}NavigationProperty"):
                target, many = ends[(_local(nav.get("Relationship")), nav.get("ToRole"))]
                navigation[str(nav.get("Name"))] = (target, many == "*")
            keys = tuple(str(k.get("Name")) for k in entity.iter(f"{EDM}PropertyRef"))
            model[str(entity.get("Name"))] = EntityType(properties, keys, navigation)
    return model


MODEL = _model()


@pytest.mark.parametrize("entity", sorted(SCHEMA))
def test_every_served_property_is_in_the_edmx_with_its_type(entity: str) -> None:
    published = MODEL[entity]
    for name, edm_type in SCHEMA[entity].items():
        assert name in published.properties, f"{entity}.{name} is not in SAP's EDMX"
        assert published.properties[name].type == edm_type, f"{entity}.{name}"
    assert set(KEYS[entity]) == set(published.keys)


@pytest.mark.parametrize("entity", sorted(NAVIGATION))
def test_every_navigation_leads_where_the_edmx_says(entity: str) -> None:
    for name, target in NAVIGATION[entity].items():
        assert MODEL[entity].navigation.get(name) == target, f"{entity}/{name}"


def _check_select(entity: str, params: httpx.QueryParams) -> None:
    expanded = {name for name in params.get("$expand", "").split(",") if name}
    for name in expanded:
        assert name in MODEL[entity].navigation, f"$expand {entity}/{name}"
    for item in filter(None, params.get("$select", "").split(",")):
        head, _, tail = item.partition("/")
        if tail:
            assert head in expanded, f"$select {item} without $expand"
            target = MODEL[entity].navigation[head][0]
            assert tail in MODEL[target].properties, f"$select {entity}/{item}"
        else:
            assert head in MODEL[entity].properties or head in MODEL[entity].navigation, f"$select {entity}.{head}"


def _check_filter(entity: str, text: str) -> None:
    for name in names_in_filter(text):
        assert name in MODEL[entity].properties, f"$filter names {entity}.{name}"
        assert MODEL[entity].properties[name].filterable, f"{entity}.{name} is not sap:filterable"
    for match in _LITERAL.finditer(text):
        edm_type = MODEL[entity].properties[match["prop"]].type
        wanted = {"Edm.DateTimeOffset": "datetimeoffset", "Edm.DateTime": "datetime"}.get(edm_type)
        assert match["kind"] == wanted, f"{entity}.{match['prop']} ({edm_type}) compared with a {match['kind']} literal"


def check_request(request: httpx.Request) -> str:
    entity = request.url.path.removeprefix("/odata/v2/")
    assert entity in MODEL, f"unknown entity set {entity}"
    params = request.url.params
    assert params.get("$format") == "json"
    _check_select(entity, params)
    _check_filter(entity, params.get("$filter", ""))
    return entity


def check_record(entity: str, record: dict[str, Any]) -> None:
    for name, value in record.items():
        if name == "__metadata":
            assert value["type"] == f"SFOData.{entity}"
            continue
        if name in MODEL[entity].navigation:
            target, many = MODEL[entity].navigation[name]
            nested = value.get("results") if many else [value]
            for item in nested or []:
                check_record(target, item)
            continue
        assert name in MODEL[entity].properties, f"{entity}.{name} served but not published"
        edm_type = MODEL[entity].properties[name].type
        if value is not None and edm_type in _WIRE:
            assert isinstance(value, str) and _WIRE[edm_type].match(value), f"{entity}.{name}={value!r}"
        if value is not None and edm_type == "Edm.Boolean":
            assert isinstance(value, bool)


async def test_what_the_connector_asks_and_the_fake_answers_is_in_the_edmx(config: SuccessFactorsConfig) -> None:
    fake = SuccessFactorsFake.seeded(30, seed=5)
    answered: list[tuple[httpx.Request, httpx.Response]] = []

    def recording(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        answered.append((request, response))
        return response

    async with build_client(config, transport=httpx.MockTransport(recording)) as http:
        source = SuccessFactorsSource(config, http, retry=ReadRetry(clock=FakeClock()))
        assert (await source.check()).ok
        checkpoint = [page.checkpoint async for page in source.read_persons(None)][-1]
        fake.tick(60)
        fake.move("110", department="Legal", manager="101")
        fake.terminate("111", on=fake.today + timedelta(days=2))
        fake.tick(3 * 86_400)
        changed = [p async for page in source.read_persons(Cursor(checkpoint or "")) for p in page.items]
        named = await collect(source.read_people(["112", "no-such-person"]))

    assert {p.hr_id for p in changed} >= {"110", "111"} and named[0].removed == ("no-such-person",)
    entities: set[str] = set()
    for request, response in answered:
        if request.url.path == "/oauth/token" or response.status_code == 401:
            continue  # the token that lapsed over the three days, refreshed and the request replayed
        entity = check_request(request)
        entities.add(entity)
        assert response.status_code == 200, response.text
        for record in response.json()["d"]["results"]:
            check_record(entity, record)
    assert entities == set(SCHEMA), "every entity the fake serves is one the connector reads"
