"""Structured logging for every process (API, worker, cli): structlog in front of the standard library.

Both structlog's and the standard library's records (uvicorn, alembic, httpx) go through one chain that stamps
the time and level and, as a last line of defence, replaces the value of any secret-looking key
(`authorization`, `token`, `password`, `secret`, `api_key`, `key`, ...) with `[redacted]`, at any depth. Code
still must not log secrets or personal data: events carry ids and counts, never names or emails.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

# Matched against each word of a key (`api_key` -> api, key): `key` catches api_key and private_key without
# catching `monkey`; whole words keep `hr_id` or `connector` readable.
_SECRET_WORDS = frozenset(
    {
        "authorization",
        "auth",
        "token",
        "tokens",
        "password",
        "passwd",
        "secret",
        "secrets",
        "key",
        "keys",
        "apikey",
        "cookie",
        "credential",
        "credentials",
        "wstoken",
    }
)
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(name: str) -> bool:
    """True when a log key looks like it holds a secret (`token`, `api_key`, `Authorization`, `clientSecret`)."""
    words = _WORD.findall(_CAMEL.sub("_", name).lower())
    return any(word in _SECRET_WORDS for word in words)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: blank the values of secret-looking keys, in nested mappings and lists too."""
    for key in list(event_dict):
        if key != "event" and is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def configure_logging(level: str = "INFO", json: bool = False, *, stream: TextIO | None = None) -> None:
    """Send every log record, structlog's and the standard library's, through one redacting chain.

    Args:
        level: the lowest level written (`DEBUG`, `INFO`, ...).
        json: one JSON object per line (for log collectors) instead of the readable console format.
        stream: where to write; default standard error.
    """
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer: Processor = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # Alembic reports every migration step at INFO; only its warnings matter outside debugging.
    logging.getLogger("alembic").setLevel(logging.WARNING if root.level > logging.DEBUG else logging.DEBUG)
    # httpx logs every request with its full URL at INFO; query strings can carry tokens, and our own client
    # hooks already log method, host, path and status. DBOS is chatty at INFO about its own start and stop.
    for name in ("httpx", "httpcore", "dbos"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The database drivers log every statement with its parameters at DEBUG (names, emails, encrypted secrets):
    # never wanted, even when debugging the service.
    for name in ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "psycopg"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn installs its own handlers unless told not to; route its records through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())


class DropQueryStrings(logging.Filter):
    """Cut the query string off the path in uvicorn's access log records: a client may send a token as
    `?access_token=...`, and a query string is not needed to read the log. The path is the record's third
    argument (uvicorn's format: client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _keep(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # The console renderer formats exceptions itself (readably); JSON needs them as a string first.
    return event_dict
