"""Strategy definitions: proto ↔ record conversion, validation with field-level errors, and the
JSON import/export document.

Validation is the library's (each type's parameter spec, the rule builder); this module only
routes a definition to it, names fields the way clients see them (`params.fast`,
`rules.groups[0]…`), and adds what only the service knows: who may run custom code.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format, struct_pb2

from mandi.core.errors import InvalidInput, MandiError, PermissionDenied
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import strategy_pb2
from services.strategy import library
from services.strategy.sandbox import SandboxLimits, check_code
from services.strategy.store import StrategyRecord

EXPORT_FORMAT = "mandi.strategy/v1"
CUSTOM = "custom"
MAX_NAME = 200


def _ints(value: Any) -> Any:
    """Struct numbers are doubles; JSON (and the rule builder's integer fields) are not."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    return _ints(json_format.MessageToDict(s))


def _dict_to_struct(d: dict[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    if d:
        s.update(d)
    return s


def from_proto(msg: strategy_pb2.StrategyDef) -> StrategyRecord:
    return StrategyRecord(
        id=msg.id, owner=msg.owner, name=msg.name.strip(), type=msg.type.strip(),
        params=_struct_to_dict(msg.params),
        rules=_struct_to_dict(msg.rules) if msg.HasField("rules") else None, code=msg.code)


def to_proto(rec: StrategyRecord) -> strategy_pb2.StrategyDef:
    msg = strategy_pb2.StrategyDef(
        id=rec.id, name=rec.name, type=rec.type, params=_dict_to_struct(rec.params),
        code=rec.code, owner=rec.owner, version=rec.version)
    if rec.rules is not None:
        msg.rules.CopyFrom(_dict_to_struct(rec.rules))
    if rec.created_at is not None:
        msg.created_at.CopyFrom(to_timestamp(rec.created_at))
    if rec.updated_at is not None:
        msg.updated_at.CopyFrom(to_timestamp(rec.updated_at))
    return msg


def _prefixed(exc: MandiError, prefix: str) -> tuple[str, str]:
    field = exc.field or ""
    if field and not field.startswith(prefix):
        field = f"{prefix}.{field}"
    return (field or prefix, exc.message)


async def field_errors(rec: StrategyRecord, *, admin: bool, require_name: bool = False,
                       sandbox_limits: SandboxLimits | None = None) -> list[tuple[str, str]]:
    """Every problem found, as (field, message); empty when the definition is runnable.

    Normalises `rec.params` in place to the coerced values (ints stay ints after a trip
    through protobuf's Struct, whose numbers are doubles)."""
    errors: list[tuple[str, str]] = []
    if require_name and not rec.name:
        errors.append(("name", "a name is required"))
    if len(rec.name) > MAX_NAME:
        errors.append(("name", f"name is longer than {MAX_NAME} characters"))
    if not rec.type:
        return [*errors, ("type", f"a strategy type is required; known: {library.type_names()}")]
    if rec.type == CUSTOM:
        if not admin:
            errors.append(("code", "custom Python strategies may only be run by admin users"))
            return errors
        if rec.params and not isinstance(rec.params, dict):
            errors.append(("params", "params must be an object"))
        reason = await check_code(rec.code, rec.params, sandbox_limits)
        if reason is not None:
            errors.append(("code", reason))
        return errors
    if rec.code:
        errors.append(("code", "code is only accepted for type 'custom'"))
    try:
        rec.params, rec.rules = library.validate(rec.type, rec.params, rec.rules)
    except InvalidInput as exc:
        field = exc.field or ""
        if field == "type" or field.startswith("rules"):
            errors.append((field, exc.message))
        else:
            errors.append(_prefixed(exc, "params"))
    return errors


async def check(rec: StrategyRecord, *, admin: bool, require_name: bool = False,
                sandbox_limits: SandboxLimits | None = None) -> None:
    """Raise the first problem: PermissionDenied for custom code from a non-admin, else
    InvalidInput naming the field."""
    if rec.type == CUSTOM and not admin:
        raise PermissionDenied("custom Python strategies may only be run by admin users",
                               field="type")
    errors = await field_errors(rec, admin=admin, require_name=require_name,
                                sandbox_limits=sandbox_limits)
    if errors:
        field, message = errors[0]
        raise InvalidInput(message, field=field)


def export_json(rec: StrategyRecord) -> str:
    doc: dict[str, Any] = {"format": EXPORT_FORMAT, "name": rec.name, "type": rec.type,
                           "params": rec.params}
    if rec.rules is not None:
        doc["rules"] = rec.rules
    if rec.code:
        doc["code"] = rec.code
    return json.dumps(doc, indent=2, sort_keys=True)


def import_json(text: str, owner: str) -> StrategyRecord:
    """Parse an export document; structural problems are InvalidInput naming the field."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidInput(f"malformed JSON: {exc}", field="json") from None
    if not isinstance(doc, dict):
        raise InvalidInput("the document must be a JSON object", field="json")
    fmt = doc.get("format", EXPORT_FORMAT)
    if fmt != EXPORT_FORMAT:
        raise InvalidInput(f"unsupported format {fmt!r}; expected {EXPORT_FORMAT}",
                           field="format")
    unknown = set(doc) - {"format", "name", "type", "params", "rules", "code"}
    if unknown:
        raise InvalidInput(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
    for key, kind in (("name", str), ("type", str), ("code", str), ("params", dict),
                      ("rules", dict)):
        if key in doc and doc[key] is not None and not isinstance(doc[key], kind):
            raise InvalidInput(f"{key} must be a JSON {'string' if kind is str else 'object'}",
                               field=key)
    return StrategyRecord(id="", owner=owner, name=(doc.get("name") or "").strip(),
                          type=(doc.get("type") or "").strip(), params=doc.get("params") or {},
                          rules=doc.get("rules"), code=doc.get("code") or "")
