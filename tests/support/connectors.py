"""What the connector tests of one system share beyond their fixtures: credentials, payload samples, configs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from enrolsync.connectors.bamboohr.config import BambooHRConfig, BambooHRFieldNames
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.hibob.config import HiBobConfig, HiBobFieldPaths
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.fake import PersonioFake
from enrolsync.connectors.personio.fake.company import COST_CENTRE_ATTRIBUTE, USERNAME_ATTRIBUTE
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.successfactors.fake.saml import signing_key
from enrolsync.connectors.workday.config import WorkdayConfig
from enrolsync.connectors.workday.fake.server import REPORT_NAME, REPORT_OWNER, UPDATED_FROM, WorkdayFake

T = TypeVar("T")

TESTS = Path(__file__).resolve().parents[1]


async def collect(iterator: AsyncIterable[T]) -> list[T]:
    """Everything an async iterator yields, in order."""
    return [item async for item in iterator]


# --- Moodle ----------------------------------------------------------------------------------------------------

MOODLE_TOKEN = "moodle-test-token-5f2c9a"
MIRROR_FIELD = "enrolsyncroles"  # the profile field the connector records the roles it assigned in

# --- BambooHR --------------------------------------------------------------------------------------------------

PAYLOADS = TESTS / "connectors" / "bamboohr" / "payloads"  # sanitised samples from BambooHR's documentation
COMPANY_SIZE = 57
PAGE_SIZE = 10
FIELDS = BambooHRFieldNames(username="customUsername", custom={"cost_centre": "customCostCenter"})


def payload(name: str) -> Any:
    """A BambooHR payload sample, parsed."""
    return json.loads((PAYLOADS / name).read_text())


def make_config(fake: BambooHRFake, **overrides: Any) -> BambooHRConfig:
    """The config that reaches `fake` with its key, in pages of `PAGE_SIZE`, with `FIELDS`; `overrides` win."""
    options: dict[str, Any] = {
        "company_domain": fake.company_domain,
        "api_key": SecretStr(fake.api_key),
        "webhook_private_key": SecretStr(fake.webhook_key),
        "page_size": PAGE_SIZE,
        "fields": FIELDS,
        **overrides,
    }
    return BambooHRConfig(**options)


def dataset_requests(fake: BambooHRFake) -> list[httpx.Request]:
    """The requests `fake` received for the employee dataset (the paged full read)."""
    return [r for r in fake.requests if r.url.path.endswith("/datasets/employee/data")]


# --- HiBob -----------------------------------------------------------------------------------------------------

HIBOB_FIELDS = HiBobFieldPaths(custom={"cost_centre": "work.custom.field_1711886937296"})


def hibob_config(fake: HiBobFake, **overrides: Any) -> HiBobConfig:
    """The config that reaches `fake` with its service user and webhook secret, in pages of `PAGE_SIZE`."""
    options: dict[str, Any] = {
        "service_user_id": fake.service_user_id,
        "service_user_token": SecretStr(fake.token),
        "webhook_secret": SecretStr(fake.webhook_secret),
        "page_size": PAGE_SIZE,
        "fields": HIBOB_FIELDS,
        **overrides,
    }
    return HiBobConfig(**options)


# --- Personio --------------------------------------------------------------------------------------------------


def personio_config(fake: PersonioFake, **overrides: Any) -> PersonioConfig:
    """The config that reaches `fake` with its credentials and webhook token, in pages of `PAGE_SIZE`."""
    options: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "webhook_token": SecretStr(fake.webhook_token),
        "page_size": PAGE_SIZE,
        "username_attribute": USERNAME_ATTRIBUTE,
        "custom": {"cost_centre": COST_CENTRE_ATTRIBUTE},
        **overrides,
    }
    return PersonioConfig(**options)


# -- LearnUpon ---------------------------------------------------------------------------------------------------
LU_KEY, LU_SECRET = "lu-test-api-user", "lu-s3cret-api-password"  # the fake portal's API key pair in connector tests
# --- SuccessFactors --------------------------------------------------------------------------------------------


def successfactors_config(fake: SuccessFactorsFake, **overrides: Any) -> SuccessFactorsConfig:
    """The config that reaches the SuccessFactors `fake` with a SAML-signing OAuth client, in pages of `PAGE_SIZE`
    (`auth="basic"` in `overrides` switches to `api_user@company_id` and the password)."""
    options: dict[str, Any] = {
        "base_url": "https://api4.successfactors.test/odata/v2/",
        "company_id": fake.company_id,
        "api_user": fake.api_user,
        "client_id": fake.client_id,
        "private_key": SecretStr(signing_key().private_key_pem),
        "certificate": signing_key().certificate_pem,
        "page_size": PAGE_SIZE,
        "custom": {"cost_centre": "costCenter"},
        **overrides,
    }
    if options.get("auth") == "basic":
        options.setdefault("password", SecretStr(fake.password))
    return SuccessFactorsConfig(**options)


# --- Workday ---------------------------------------------------------------------------------------------------


def workday_config(fake: WorkdayFake, **overrides: Any) -> WorkdayConfig:
    """The config that reaches the Workday `fake` (SOAP with the ISU by default; `api="raas"` reads the fake's
    report, with its `Updated_From` prompt), in pages of `PAGE_SIZE`; `overrides` win."""
    options: dict[str, Any] = {
        "base_url": "https://wd2-impl-services1.workday.test",
        "tenant": fake.tenant,
        "username": fake.username,
        "password": SecretStr(fake.password),
        "page_size": PAGE_SIZE,
        "rows_per_page": PAGE_SIZE,
        "report_owner": REPORT_OWNER,
        "report_name": REPORT_NAME,
        "updated_from_prompt": UPDATED_FROM,
        "custom": {"cost_centre": "Cost_Center"},
        **overrides,
    }
    return WorkdayConfig(**options)
