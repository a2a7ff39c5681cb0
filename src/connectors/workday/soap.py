"""Get_Workers envelopes, built and read with lxml: the request enrolsync sends and the parts of the answer it uses.

Workday's Human_Resources web service is SOAP 1.1, document/literal (namespace `urn:com.workday/bsvc`). A request
is `Get_Workers_Request` with `Request_References` (named workers) or `Request_Criteria` (the transaction log
window), a `Response_Filter` (`As_Of_Effective_Date`, `As_Of_Entry_DateTime`, `Page`, `Count`) and a
`Response_Group` (which data groups come back). The answer's `Response_Results` carries `Total_Results`,
`Total_Pages`, `Page_Results` and `Page`. Errors are SOAP faults with HTTP 500.
Reference: https://community.workday.com/sites/default/files/file-hosting/productionapi/Human_Resources/v30.0/Get_Workers.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from lxml import etree

from enrolsync.connectors.kit.instants import parse_instant
from enrolsync.connectors.workday.models import WorkerRecord

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WD = "urn:com.workday/bsvc"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"  # noqa: S105
NS = {"wd": WD, "env": ENV}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(content: bytes) -> etree._Element:
    """Parse XML without entities, DTDs or network access (no XXE from a remote answer)."""
    return etree.fromstring(content, parser=_PARSER)


@dataclass(frozen=True)
class Window:
    """A transaction-log window: `updated` catches what was entered in it, `effective` what took effect in it."""

    start: datetime
    end: datetime
    by: str  # "updated" | "effective"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{WD}}}{tag}", {f"{{{WD}}}{k}": v for k, v in attrs.items()})
    if text is not None:
        node.text = text
    return node


def get_workers(
    *, version: str, page: int, count: int, as_of: date | None = None, entry: datetime | None = None,
    ids: list[str] | None = None,
    window: Window | None = None, username: str | None = None, password: str | None = None,
) -> bytes:  # fmt: skip
    """A Get_Workers envelope. With `username`/`password`, a WS-Security UsernameToken header (PasswordText, as
    Workday takes it over TLS). Without `as_of`/`entry`, Workday reads as of its today and now, and echoes both in
    the answer's `Response_Filter`: the first page of a read learns them there and pins them for the rest."""
    envelope = etree.Element(f"{{{ENV}}}Envelope", nsmap={"env": ENV, "wd": WD})
    if username is not None and password is not None:
        header = etree.SubElement(envelope, f"{{{ENV}}}Header")
        security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = username
        etree.SubElement(token, f"{{{WSSE}}}Password", Type=PASSWORD_TEXT).text = password
    body = etree.SubElement(envelope, f"{{{ENV}}}Body")
    request = _sub(body, "Get_Workers_Request", version=version)
    if ids is not None:
        references = _sub(request, "Request_References", Skip_Non_Existing_Instances="true")
        for employee_id in ids:
            _sub(_sub(references, "Worker_Reference"), "ID", employee_id, type="Employee_ID")
    elif window is not None:
        span = _sub(_sub(_sub(request, "Request_Criteria"), "Transaction_Log_Criteria_Data"),
                    "Transaction_Date_Range_Data")  # fmt: skip
        first, last = ("Updated_From", "Updated_Through") if window.by == "updated" else (
            "Effective_From", "Effective_Through")  # fmt: skip
        _sub(span, first, window.start.isoformat())
        _sub(span, last, window.end.isoformat())
    response_filter = _sub(request, "Response_Filter")
    if as_of is not None:
        _sub(response_filter, "As_Of_Effective_Date", as_of.isoformat())
    # Workday: "If you set the page parameter, you must also specify the As_Of_Entry_Date to ensure that the
    # result set remains the same between your requests" (Response_FilterType documentation in the WSDL).
    if entry is not None:
        _sub(response_filter, "As_Of_Entry_DateTime", entry.isoformat())
    _sub(response_filter, "Page", str(page))
    _sub(response_filter, "Count", str(count))
    group = _sub(request, "Response_Group")
    # Position_Organizations_Data (department, cost centre) comes with the job only when organizations are asked.
    for toggle in (
        "Include_Reference", "Include_Personal_Information", "Include_Employment_Information", "Include_Organizations",
    ):  # fmt: skip
        _sub(group, toggle, "true")
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class WorkersPage:
    total: int
    pages: int
    page: int
    workers: list[WorkerRecord]
    as_of: date | None  # the effective date and entry moment Workday read at (echoed `Response_Filter`)
    entry: datetime | None


def _int(node: etree._Element, path: str) -> int | None:
    value = node.findtext(path, namespaces=NS)
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def read_workers(content: bytes) -> WorkersPage:
    """The paging numbers and workers of a Get_Workers answer. Raises `ValueError` for anything else."""
    root = parse_xml(content)
    response = root.find("env:Body/wd:Get_Workers_Response", NS)
    if response is None:
        raise ValueError("not a Get_Workers response")
    results = response.find("wd:Response_Results", NS)
    total = _int(results, "wd:Total_Results") if results is not None else None
    pages = _int(results, "wd:Total_Pages") if results is not None else None
    page = _int(results, "wd:Page") if results is not None else None
    workers = [worker_record(w) for w in response.iterfind("wd:Response_Data/wd:Worker", NS)]
    as_of = response.findtext("wd:Response_Filter/wd:As_Of_Effective_Date", namespaces=NS)
    entry = response.findtext("wd:Response_Filter/wd:As_Of_Entry_DateTime", namespaces=NS)
    return WorkersPage(
        total or 0,
        pages or 0,
        page or 0,
        workers,
        date.fromisoformat(as_of[:10]) if as_of else None,
        parse_instant(entry),
    )


def read_fault(content: bytes) -> tuple[str, str] | None:
    """`(faultcode, faultstring)` of a SOAP fault, or None when the body is no fault."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        return None
    fault = root.find("env:Body/env:Fault", NS)
    if fault is None:
        return None
    message = fault.findtext("detail/wd:Validation_Fault/wd:Validation_Error/wd:Message", namespaces=NS)
    return fault.findtext("faultcode") or "", message or fault.findtext("faultstring") or ""


def _ids(node: etree._Element | None) -> dict[str, str]:
    if node is None:
        return {}
    return {i.get(f"{{{WD}}}type", ""): (i.text or "").strip() for i in node.iterfind("wd:ID", NS)}


_NOTHING = etree.Element("nothing")  # stands in for a missing group: every find in it finds nothing
_NAME = "wd:Personal_Data/wd:Name_Data/{}_Name_Data/wd:Name_Detail_Data/wd:{}_Name"
_STATUS = "wd:Employment_Data/wd:Worker_Status_Data/wd:"


def _organizations(job: etree._Element) -> dict[str, str]:
    """Organization_Type_ID -> Organization_Name of the job's organizations (the first of each type)."""
    found: dict[str, str] = {}
    for org in job.iterfind("wd:Position_Organizations_Data/wd:Position_Organization_Data/wd:Organization_Data", NS):
        kind = _ids(org.find("wd:Organization_Type_Reference", NS)).get("Organization_Type_ID")
        if kind:
            found.setdefault(kind, org.findtext("wd:Organization_Name", namespaces=NS) or "")
    return found


def worker_record(worker: etree._Element) -> WorkerRecord:
    """The fields enrolsync reads from one `wd:Worker` (primary job, work email, supervisory organization)."""
    data = worker.find("wd:Worker_Data", NS)
    data = _NOTHING if data is None else data
    jobs = data.findall("wd:Employment_Data/wd:Worker_Job_Data", NS)
    job = next((j for j in jobs if j.get(f"{{{WD}}}Primary_Job") in ("true", "1")), jobs[0] if jobs else _NOTHING)
    position = job.find("wd:Position_Data", NS)
    position = _NOTHING if position is None else position
    emails = data.findall("wd:Personal_Data/wd:Contact_Data/wd:Email_Address_Data", NS)
    email = next((e for e in emails if _usage(e) == "WORK"), _NOTHING)
    leave = [n.text for n in data.iterfind(_STATUS + "Leave_Status_Data/wd:On_Leave", NS)]
    text = partial(etree._Element.findtext, namespaces=NS)
    return WorkerRecord(
        ids=_ids(worker.find("wd:Worker_Reference", NS)),
        worker_id=text(data, "wd:Worker_ID"),
        user_id=text(data, "wd:User_ID"),
        first_name=text(data, _NAME.format("wd:Legal", "First")),
        last_name=text(data, _NAME.format("wd:Legal", "Last")),
        preferred_first_name=text(data, _NAME.format("wd:Preferred", "First")),
        email=text(email, "wd:Email_Address"),
        active=text(data, _STATUS + "Active"),
        terminated=text(data, _STATUS + "Terminated"),
        hire_date=text(data, _STATUS + "Hire_Date"),
        termination_date=text(data, _STATUS + "Termination_Date"),
        on_leave=any(v in ("true", "1") for v in leave),
        job_title=text(position, "wd:Business_Title") or text(position, "wd:Position_Title"),
        location=text(position, "wd:Business_Site_Summary_Data/wd:Name"),
        manager_ids=_ids(position.find("wd:Manager_as_of_last_detected_manager_change_Reference", NS)),
        organizations=_organizations(job),
    )


def _usage(email: etree._Element) -> str | None:
    ref = email.find("wd:Usage_Data/wd:Type_Data/wd:Type_Reference", NS)
    return _ids(ref).get("Communication_Usage_Type_ID")
