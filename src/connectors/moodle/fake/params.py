"""How Moodle reads a web-service request: PHP bracket arrays, then `external_api::validate_parameters`.

Parameter cleaning follows `clean_param` (lib/moodlelib.php) and validation rejects any value cleaning would change
(`validate_param`), which is why `Bad User` fails as a username instead of becoming `baduser`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class MoodleError(Exception):
    """A Moodle exception as the REST server reports it: `{exception, errorcode, message[, debuginfo]}`."""

    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo


def invalid_parameter(debuginfo: str) -> MoodleError:
    return MoodleError("invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected", debuginfo)


def coding_error(detail: str) -> MoodleError:
    message = f"Coding error detected, it must be fixed by a programmer: {detail}"
    return MoodleError("coding_exception", "codingerror", message, detail)


def missing_record(table: str) -> MoodleError:
    message = f"Can't find data record in database table {table}."
    return MoodleError("dml_missing_record_exception", "invalidrecord", message)


def no_permission(capability: str, action: str) -> MoodleError:
    """require_capability() failing: `required_capability_exception` / `nopermissions`."""
    message = f"Sorry, but you do not currently have permissions to do that ({action})."
    return MoodleError("required_capability_exception", "nopermissions", message, capability)


def moodle_exception(errorcode: str, message: str, debuginfo: str | None = None) -> MoodleError:
    return MoodleError("moodle_exception", errorcode, message, debuginfo)


# -- PHP form parsing ------------------------------------------------------------------------------------------------
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_php_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`users[0][customfields][0][type]=x` -> `{"users": [{"customfields": [{"type": "x"}]}]}`, as PHP builds
    `$_REQUEST` (arrays whose keys are all numbers become lists, in the order sent)."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            continue
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    parsed: dict[str, Any] = _listify(root)
    return parsed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return list(items.values())
    return items


# -- parameter descriptions and cleaning -----------------------------------------------------------------------------
_MISSING = object()


def clean_username(value: str) -> str:
    return re.sub(r"[^-.@_a-z0-9]", "", value.strip().lower().replace(" ", ""))


Cleaner = Callable[[str], str]
CLEANERS: dict[str, Cleaner] = {
    "int": lambda v: v if re.fullmatch(r"-?\d+", v) else re.sub(r"[^0-9-]", "", v),
    "raw": lambda v: v,
    "raw_trimmed": lambda v: v.strip(),
    "username": clean_username,
    "notags": lambda v: re.sub(r"<[^>]*>", "", v),
    "alpha": lambda v: re.sub(r"[^a-zA-Z]", "", v),
    "alphanumext": lambda v: re.sub(r"[^a-zA-Z0-9_-]", "", v),
    "plugin": lambda v: v if re.fullmatch(r"[a-z][a-z0-9_]*", v) else "",
    "safedir": lambda v: re.sub(r"[^a-zA-Z0-9_-]", "", v),
    "bool": lambda v: v if v in ("0", "1") else "",
}


@dataclass(frozen=True)
class Value:
    kind: str
    optional: bool = False
    default: Any = _MISSING


@dataclass(frozen=True)
class Single:
    keys: dict[str, Value | Single | Multiple]
    optional: bool = False
    default: Any = _MISSING


@dataclass(frozen=True)
class Multiple:
    content: Value | Single | Multiple
    optional: bool = False
    default: Any = field(default=_MISSING)


def validate(
    spec: Value | Single | Multiple, value: Any, path: str = "", cleaners: Mapping[str, Cleaner] = CLEANERS
) -> Any:
    """The cleaned parameters, or `invalid_parameter_exception` naming the path like Moodle's debuginfo does.

    `cleaners` adds the site-dependent kinds: `auth` (PARAM_AUTH: an installed auth plugin, exists_auth_plugin())
    and `lang` (PARAM_LANG: an installed language pack). A value they refuse fails the whole call.
    """
    if isinstance(spec, Value):
        if not isinstance(value, str):
            raise invalid_parameter(f"{path}: Scalar type expected, array or object received.")
        cleaned = cleaners[spec.kind](value)
        if cleaned != value:
            raise invalid_parameter(
                f'{path}: Invalid external api parameter: the value is "{value}", '
                f'the server was expecting "{spec.kind}" type'
            )
        if spec.kind == "int":
            return int(cleaned)
        return cleaned == "1" if spec.kind == "bool" else cleaned
    if isinstance(spec, Multiple):
        if value == "" or value is None:
            value = []
        if not isinstance(value, list):
            raise invalid_parameter(f"{path}: Only arrays accepted.")
        return [validate(spec.content, item, f"{path}[{i}]", cleaners) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}: Only arrays accepted.")
    unexpected = set(value) - set(spec.keys)
    if unexpected:
        raise invalid_parameter(
            f"{path}: Unexpected keys ({', '.join(sorted(unexpected))}) detected in parameter array."
        )
    result: dict[str, Any] = {}
    for key, sub in spec.keys.items():
        if key in value:
            result[key] = validate(sub, value[key], f"{path} => {key}" if path else key, cleaners)
        elif sub.default is not _MISSING:
            result[key] = sub.default
        elif not sub.optional:
            raise invalid_parameter(f"{path}: Missing required key in single structure: {key}")
    return result
