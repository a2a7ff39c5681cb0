"""HR exports as files: the header and rows the csv source tests and the CSV end-to-end test write to the SFTP
server, and the column mapping that reads them."""

from __future__ import annotations

PASSWORD = "sftp-pass-5b1e"
COLUMNS = {
    "hr_id": "Employee ID",
    "given_name": "First name",
    "family_name": "Last name",
    "work_email": "Email",
    "status": "Status",
    "department": "Department",
    "manager_hr_id": "Manager ID",
    "hire_date": "Hire date",
    "termination_date": "Termination date",
}
HEADER = "Employee ID,First name,Last name,Email,Status,Department,Manager ID,Hire date,Termination date,Cost center"


def row(hr_id: str, *, manager: str = "", status: str = "Active", email: str | None = None, **extra: str) -> str:
    email = f"p{hr_id}@example.com" if email is None else email
    given, family = extra.get("given", f"Given{hr_id}"), extra.get("family", f"Family{hr_id}")
    end = extra.get("end", "")
    return f"{hr_id},{given},{family},{email},{status},Sales,{manager},2020-01-15,{end},CC-{hr_id}"


def export(ids: list[str], *, header: str = HEADER) -> str:
    lines = [header, row(ids[0])] + [row(i, manager=ids[0]) for i in ids[1:]]
    return "\r\n".join(lines) + "\r\n"
