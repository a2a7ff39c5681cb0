"""The SOAP side of the Workday fake: reading a `Get_Workers_Request` envelope and writing its response or a fault.

Elements are written in the order the WSDL's schema sequences them (`tests/connectors/workday/test_fake_wsdl.py`
validates every request and response body against the schema embedded in `workday-human-resources-v30.0.wsdl`).
Attributes are namespace-qualified (`wd:type`, `wd:version`): the schema says `attributeFormDefault="qualified"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from enrolsync.connectors.workday.fake.company import wid
from enrolsync.connectors.workday.soap import ENV, WD, WSSE, parse_xml

GROUPS = ("Include_Personal_Information", "Include_Employment_Information", "Include_Organizations")
_wd = ElementMaker(namespace=WD, nsmap={"wd": WD})
_env = ElementMaker(namespace=ENV, nsmap={"env": ENV})


class SoapFault(Exception):
    """A SOAP 1.1 fault as Workday answers it: HTTP 500, `faultcode` e.g. `SOAP-ENV:Client.validationError`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> bytes:
        fault = etree.Element(f"{{{ENV}}}Fault", nsmap={"SOAP-ENV": ENV})
        etree.SubElement(fault, "faultcode").text = f"SOAP-ENV:{self.code}"
        etree.SubElement(fault, "faultstring").text = self.message
        if self.code == "Client.validationError":
            detail = etree.SubElement(fault, "detail")
            error = etree.SubElement(etree.SubElement(detail, f"{{{WD}}}Validation_Fault"), f"{{{WD}}}Validation_Error")
            etree.SubElement(error, f"{{{WD}}}Message").text = self.message
        envelope = etree.Element(f"{{{ENV}}}Envelope", nsmap={"SOAP-ENV": ENV, "wd": WD})
        etree.SubElement(envelope, f"{{{ENV}}}Body").append(fault)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


@dataclass
class WorkersQuery:
    """What a `Get_Workers_Request` asks, as the fake understands it."""

    version: str
    username: str | None
    password: str | None
    ids: list[tuple[str, str]] | None  # (type, value) of Request_References, or None for every worker
    skip_missing: bool
    updated: tuple[datetime, datetime] | None
    effective: tuple[date, date] | None
    exclude_inactive: bool
    as_of: date | None
    entry: datetime | None
    page: int
    count: int
    groups: frozenset[str]  # the Response_Group toggles set true (all of them when no group is sent)
    body: etree._Element  # the Get_Workers_Request element, for schema checks


def _text(node: etree._Element | None, path: str) -> str | None:
    found = node.find(path, {"wd": WD, "wsse": WSSE}) if node is not None else None
    return found.text.strip() if found is not None and found.text else None


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def read_request(content: bytes) -> WorkersQuery:
    """Parse a Get_Workers envelope. Raises `SoapFault` for anything Workday would refuse."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Client", "Unable to parse the request") from exc
    body = root.find(f"{{{ENV}}}Body")
    request = body[0] if body is not None and len(body) else None
    if root.tag != f"{{{ENV}}}Envelope" or request is None or request.tag != f"{{{WD}}}Get_Workers_Request":
        raise SoapFault("Client", "Unsupported operation: this fake answers Get_Workers only")
    header = root.find(f"{{{ENV}}}Header")
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
    references = request.findall("wd:Request_References/wd:Worker_Reference/wd:ID", {"wd": WD})
    criteria = request.find("wd:Request_Criteria", {"wd": WD})
    updated = effective = None
    for log in criteria.findall("wd:Transaction_Log_Criteria_Data", {"wd": WD}) if criteria is not None else []:
        span = log.find("wd:Transaction_Date_Range_Data", {"wd": WD})
        start, end = _instant(_text(span, "wd:Updated_From")), _instant(_text(span, "wd:Updated_Through"))
        if start:
            updated = (start, end or datetime.max.replace(tzinfo=start.tzinfo))
        begin, until = _instant(_text(span, "wd:Effective_From")), _instant(_text(span, "wd:Effective_Through"))
        if begin and until:
            effective = (begin.date(), until.date())
    page = int(_text(request, "wd:Response_Filter/wd:Page") or "1")
    count = int(_text(request, "wd:Response_Filter/wd:Count") or "100")
    if page == 0:
        raise SoapFault("Client.validationError", "Page Number cannot be zero.")
    if not 1 <= count <= 999:
        raise SoapFault("Client.validationError", "Count must be between 1 and 999.")
    as_of = _text(request, "wd:Response_Filter/wd:As_Of_Effective_Date")
    refs = request.find("wd:Request_References", {"wd": WD})
    group = request.find("wd:Response_Group", {"wd": WD})
    toggles = frozenset(etree.QName(t).localname for t in group if (t.text or "").strip() in ("true", "1")) if (
        group is not None) else frozenset(GROUPS)  # fmt: skip
    return WorkersQuery(
        version=request.get(f"{{{WD}}}version", ""),
        username=_text(token, "wsse:Username"),
        password=_text(token, "wsse:Password"),
        ids=[(ref.get(f"{{{WD}}}type", ""), (ref.text or "").strip()) for ref in references]
        if refs is not None
        else None,
        skip_missing=refs is not None and refs.get(f"{{{WD}}}Skip_Non_Existing_Instances") in ("true", "1"),
        updated=updated,
        effective=effective,
        exclude_inactive=_text(criteria, "wd:Exclude_Inactive_Workers") in ("true", "1"),
        as_of=date.fromisoformat(as_of) if as_of else None,
        entry=_instant(_text(request, "wd:Response_Filter/wd:As_Of_Entry_DateTime")),
        page=page,
        count=count,
        groups=toggles,
        body=request,
    )


def _id(kind: str, value: str) -> Any:
    return _wd.ID(value, **{f"{{{WD}}}type": kind})


def _reference(tag: str, descriptor: str, *ids: tuple[str, str]) -> Any:
    return getattr(_wd, tag)(*(_id(k, v) for k, v in ids), **{f"{{{WD}}}Descriptor": descriptor})


def _organization(name: str, kind: str, ref_id: str) -> Any:
    return _wd.Position_Organization_Data(
        _reference("Organization_Reference", name, ("Organization_Reference_ID", ref_id)),
        _wd.Organization_Data(
            _wd.Organization_Reference_ID(ref_id),
            _wd.Organization_Name(name),
            _reference("Organization_Type_Reference", kind.title(), ("Organization_Type_ID", kind)),
        ),
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _status(data: dict[str, Any]) -> Any:
    status = [
        _wd.Active(_bool(data["active"])),
        _wd.Hire_Date(data["hire_date"].isoformat()),
        _wd.Terminated(_bool(data["terminated"])),
    ]
    if data["termination_date"] is not None:
        status.append(_wd.Termination_Date(data["termination_date"].isoformat()))
    if data["on_leave"]:
        status.append(
            _wd.Leave_Status_Data(_wd.On_Leave("true"), _wd.Leave_Start_Date(data["leave_start"].isoformat()))
        )
    return _wd.Worker_Status_Data(*status)


def _job(data: dict[str, Any], today: date, organizations: bool) -> Any:
    time_type = ("Full time", "Full_time") if data["full_time"] else ("Part time", "Part_time")
    position = [
        _wd.Position_ID(f"P-{data['employee_id']}"),
        _wd.Position_Title(data["job_title"]),
        _wd.Business_Title(data["job_title"]),
        _wd.Start_Date(data["hire_date"].isoformat()),
        _reference("Position_Time_Type_Reference", time_type[0], ("Position_Time_Type_ID", time_type[1])),
        _wd.Business_Site_Summary_Data(
            _reference("Location_Reference", data["location"], ("Location_ID", data["location"].replace(" ", "_"))),
            _wd.Name(data["location"]),
        ),
    ]
    if data["manager_id"]:
        manager = ("WID", wid(data["manager_id"])), ("Employee_ID", data["manager_id"])
        position.append(_reference("Manager_as_of_last_detected_manager_change_Reference", "", *manager))
    job = _wd.Worker_Job_Data(
        _wd.Position_Data(*position, **{f"{{{WD}}}Effective_Date": today.isoformat()}),
        **{f"{{{WD}}}Primary_Job": "true"},
    )
    if organizations:
        job.append(
            _wd.Position_Organizations_Data(
                _organization(data["department"], "SUPERVISORY", f"SUP-{data['department'].replace(' ', '_')}"),
                _organization(data["cost_center"], "COST_CENTER", data["cost_center"]),
            )
        )
    return job


def _personal(data: dict[str, Any]) -> Any:
    first, last = data["first_name"], data["last_name"]
    names = {f"{{{WD}}}Formatted_Name": f"{first} {last}", f"{{{WD}}}Reporting_Name": f"{last}, {first}"}
    country = _reference("Country_Reference", "United States of America", ("ISO_3166-1_Alpha-3_Code", "USA"))
    work = _reference("Type_Reference", "Work", ("Communication_Usage_Type_ID", "WORK"))
    email = _wd.Email_Address_Data(
        _wd.Email_Address(data["email"]),
        _wd.Usage_Data(_wd.Type_Data(work, **{f"{{{WD}}}Primary": "true"}), **{f"{{{WD}}}Public": "true"}),
    )
    legal = _wd.Name_Detail_Data(country, _wd.First_Name(first), _wd.Last_Name(last), **names)
    return _wd.Personal_Data(_wd.Name_Data(_wd.Legal_Name_Data(legal)), _wd.Contact_Data(email))


def render_worker(data: dict[str, Any], today: date, groups: frozenset[str] = frozenset(GROUPS)) -> Any:
    """One `wd:Worker` with the response groups asked for (personal data, employment data and, inside the job,
    its organizations)."""
    name = f"{data['first_name']} {data['last_name']}"
    worker_data = _wd.Worker_Data(_wd.Worker_ID(data["employee_id"]), _wd.User_ID(data["username"]))
    if "Include_Personal_Information" in groups:
        worker_data.append(_personal(data))
    if "Include_Employment_Information" in groups:
        job = _job(data, today, organizations="Include_Organizations" in groups)
        worker_data.append(_wd.Employment_Data(job, _status(data)))
    return _wd.Worker(
        _reference("Worker_Reference", name, ("WID", data["wid"]), ("Employee_ID", data["employee_id"])),
        _wd.Worker_Descriptor(name),
        worker_data,
    )


def render_response(query: WorkersQuery, workers: list[Any], *, total: int, page: int, pages: int) -> bytes:
    """The `Get_Workers_Response` envelope for one page (`Response_Filter` echoed, as Workday does)."""
    response_filter = [
        _wd.As_Of_Effective_Date(query.as_of.isoformat()) if query.as_of else None,
        _wd.As_Of_Entry_DateTime(query.entry.isoformat()) if query.entry else None,
        _wd.Page(str(page)),
        _wd.Count(str(query.count)),
    ]
    response = _wd.Get_Workers_Response(
        _wd.Response_Filter(*(e for e in response_filter if e is not None)),
        _wd.Response_Results(
            _wd.Total_Results(str(total)), _wd.Total_Pages(str(pages)), _wd.Page_Results(str(len(workers))),
            _wd.Page(str(page)),
        ),
        _wd.Response_Data(*workers),
        **{f"{{{WD}}}version": query.version},
    )  # fmt: skip
    envelope = _env.Envelope(_env.Body(response))
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
