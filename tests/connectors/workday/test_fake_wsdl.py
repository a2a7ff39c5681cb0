"""The Workday fake and the connector speak Get_Workers as Workday's WSDL says: every request the connector sends and
every answer the fake gives (pages, by-id reads, transaction-log windows, faults) is validated against the XML
schema embedded in `workday-human-resources-v30.0.wsdl` (lxml `XMLSchema` on the extracted `xsd:schema`), and the
connector posts to the binding's address path."""

from __future__ import annotations

import lzma
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import httpx
import pytest
from lxml import etree

from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.workday import WorkdaySource, soap
from enrolsync.connectors.workday.fake import WorkdayFake
from tests.support.connectors import workday_config

WSDL = Path(__file__).parent / "wsdl" / "workday-human-resources-v30.0.wsdl.xz"
XS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BIND = "http://schemas.xmlsoap.org/wsdl/soap/"


@cache
def wsdl() -> etree._Element:
    return etree.fromstring(lzma.decompress(WSDL.read_bytes()), parser=etree.XMLParser(huge_tree=True))


@cache
def schema() -> etree.XMLSchema:
    """The WSDL's embedded schema, extracted as a document of its own (it imports nothing)."""
    embedded = wsdl().find(f"{{{WSDL_NS}}}types/{{{XS}}}schema")
    assert embedded is not None
    return etree.XMLSchema(etree.fromstring(etree.tostring(embedded)))


def body_of(content: bytes) -> etree._Element:
    root = soap.parse_xml(content)
    assert root.tag == f"{{{soap.ENV}}}Envelope"
    body = root.find(f"{{{soap.ENV}}}Body")
    assert body is not None and len(body) == 1, "one document in the Body (document/literal)"
    return body[0]


def assert_valid(element: etree._Element) -> None:
    # Validate the body's document on its own, as the binding's `soapbind:body use="literal"` defines it.
    document = etree.fromstring(etree.tostring(element))
    xsd = schema()
    assert xsd.validate(document), "\n".join(str(e) for e in xsd.error_log)


class Recorder:
    """A transport that hands every exchange to the fake and keeps the SOAP ones."""

    def __init__(self, fake: WorkdayFake) -> None:
        self.fake = fake
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        response = self.fake.handler(request)
        if "/Human_Resources/" in request.url.path:
            self.exchanges.append((request, response))
        return response


async def drive(fake: WorkdayFake, action: Callable[[WorkdaySource], object]) -> Recorder:
    recorder = Recorder(fake)
    config = workday_config(fake)
    async with build_client(config, transport=httpx.MockTransport(recorder.handler)) as http:
        await action(WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock())))  # type: ignore[misc]
    assert recorder.exchanges
    return recorder


async def read_everything(source: WorkdaySource) -> None:
    fake_cursor = None
    async for page in source.read_persons(None):
        fake_cursor = page.checkpoint
    assert fake_cursor is not None
    async for _ in source.read_persons(fake_cursor):  # incremental: both transaction-log windows
        pass
    async for _ in source.read_people(["101", "104", "no-such-worker"]):
        pass
    assert (await source.check()).ok


def test_the_schema_is_workdays() -> None:
    names = {e.get("name") for e in wsdl().find(f"{{{WSDL_NS}}}types/{{{XS}}}schema")}  # type: ignore[union-attr]
    assert {"Get_Workers_Request", "Get_Workers_Response", "Validation_Fault"} <= names


async def test_requests_and_responses_follow_the_wsdl_schema() -> None:
    fake = WorkdayFake.seeded(35, seed=2)
    fake.tick(60)
    fake.move("110", department="Legal")
    fake.terminate("112", on=fake.today)
    recorder = await drive(fake, read_everything)
    kinds = set()
    for request, response in recorder.exchanges:
        sent, answered = body_of(request.content), body_of(response.content)
        assert response.status_code == 200
        assert_valid(sent)
        assert_valid(answered)
        kinds.add(etree.QName(answered).localname)
        found = sent.find("wd:Request_Criteria/wd:Transaction_Log_Criteria_Data", soap.NS)
        kinds.add("window" if found is not None else "references" if len(sent) and etree.QName(sent[0]).localname
                  == "Request_References" else "all")  # fmt: skip
    assert kinds == {"Get_Workers_Response", "window", "references", "all"}
    workers = [w for _, r in recorder.exchanges for w in body_of(r.content).iterfind(".//wd:Worker", soap.NS)]
    assert len(workers) > 35, "pages of workers were validated, not empty answers"


async def test_a_validation_fault_follows_the_schema() -> None:
    fake = WorkdayFake.seeded(5)
    body = soap.get_workers(
        version="v30.0", page=0, count=10, username=f"{fake.username}@{fake.tenant}", password=fake.password
    )
    response = fake.handler(httpx.Request("POST", f"https://h/ccx/service/{fake.tenant}/Human_Resources/v30.0",
                                          content=body))  # fmt: skip
    assert response.status_code == 500
    fault = body_of(response.content)
    assert fault.findtext("faultcode") == "SOAP-ENV:Client.validationError"
    detail = fault.find("detail/wd:Validation_Fault", soap.NS)
    assert detail is not None
    assert_valid(detail)


def test_the_schema_check_can_fail() -> None:
    """Out of order (Response_Filter before Request_References) is refused: the check is not a rubber stamp."""
    body = body_of(soap.get_workers(version="v30.0", page=1, count=5, ids=["101"], as_of=date(2025, 6, 2),
                                    entry=datetime(2025, 6, 2, tzinfo=UTC)))  # fmt: skip
    body.append(body.find("wd:Request_References", soap.NS))  # moved to the end
    with pytest.raises(AssertionError):
        assert_valid(body)


def test_the_connector_posts_to_the_bindings_address() -> None:
    """The port's address is `.../ccx/service/{tenant}/Human_Resources/v30.0`; the operation is document/literal."""
    port = wsdl().find(f"{{{WSDL_NS}}}service/{{{WSDL_NS}}}port/{{{SOAP_BIND}}}address")
    assert port is not None
    path = httpx.URL(port.get("location", "")).path
    tenant = path.split("/")[3]
    fake = WorkdayFake.seeded(1, tenant=tenant)
    config = workday_config(fake)
    from enrolsync.connectors.workday.client import WorkdayClient

    client = WorkdayClient(httpx.AsyncClient(base_url=str(config.base_url)), config, ReadRetry())
    assert client.soap_path == path
    operation = wsdl().find(
        f"{{{WSDL_NS}}}binding/{{{WSDL_NS}}}operation[@name='Get_Workers']/{{{SOAP_BIND}}}operation"
    )
    assert operation is not None and operation.get("style") == "document"


async def test_workday_refuses_page_zero_as_its_schema_documents() -> None:
    fake = WorkdayFake.seeded(3)
    config = workday_config(fake)
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        with pytest.raises(Invalid, match="Page Number cannot be zero"):
            await source._client.get_workers(page=0)
