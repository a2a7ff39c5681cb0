"""Outbound email (issue 16: the managers' digest) through the configured SMTP server, with aiosmtplib.

`Mailer` is what the digest job needs; tests pass an `SmtpMailer` pointed at an SMTP server on loopback. The
password is never logged; a refused or unreachable server raises `MailError` with the server's reply code only.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr

from enrolsync.settings import Settings


class MailError(Exception):
    """The message was not accepted; the reason carries no credential."""


class Mailer(Protocol):
    @property
    def sender(self) -> str: ...

    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the server. Raises `MailError`."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer | None:
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as error:
            raise MailError(f"the SMTP server refused the message ({error.code})") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailError(f"the SMTP server could not be reached ({type(error).__name__})") from None
