"""The meshwork wire protocol (docs/PROTOCOL.md), client side: two ZeroMQ
frames per message, an envelope and a body, each one msgpack array whose
fields are positional. Only client requests and their replies live here."""

import msgpack

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 << 20

# Message kinds (PROTOCOL.md section 5).
ERROR_REPLY = 1
SUBMIT, SUBMIT_REPLY = 10, 11
GET, GET_REPLY = 12, 13
WAIT, WAIT_REPLY = 14, 15
CANCEL, CANCEL_REPLY = 16, 17
LIST, LIST_REPLY = 18, 19
STATS, STATS_REPLY = 20, 21
MEMBERS, MEMBERS_REPLY = 22, 23

TASK_STATES = ("PENDING", "LEASED", "COMPLETED", "FAILED", "CANCELLED", "BLOCKED")
TERMINAL_STATES = frozenset(("COMPLETED", "FAILED", "CANCELLED"))
ATTEMPT_OUTCOMES = ("running", "succeeded", "failed", "timed_out", "lost", "cancelled")
MEMBER_STATES = ("alive", "suspect", "dead", "left")

# ErrorCode numbers (PROTOCOL.md section 7); codes are only ever appended.
ERROR_NAMES = (
    "ok", "malformed", "unsupported_version", "unknown_message_type", "too_large", "unknown_handler",
    "invalid_argument", "overloaded", "not_found", "conflict", "shutting_down", "storage_error",
    "stale_attempt", "already_terminal", "unavailable", "not_leader", "busy",
    "handler_not_allowed", "storage_full", "forbidden", "aborted",
)


def error_name(code):
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else f"error_{code}"


class MeshError(Exception):
    """A request refused by the mesh (an ErrorReply, or a per-task outcome)."""

    def __init__(self, code, message):
        super().__init__(f"{error_name(code)}: {message}" if message else error_name(code))
        self.code = code
        self.name = error_name(code)
        self.message = message


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


def unpack(frame):
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def envelope(kind, request_id, sender):
    return pack([PROTOCOL_VERSION, kind, request_id, sender])


def task_spec(spec):
    """A TaskSpec from a dict with the names of section 6: 10 fields, 13 when
    it names parents ("after": ids, or {"id", "key"} dicts) or a "shard"
    ([index, count]), 14 with "no_backup": True (never a backup attempt)."""
    payload = spec.get("payload", b"")
    if isinstance(payload, str):
        payload = payload.encode()
    fields = [
        spec.get("id", ""), spec["handler"], payload, spec.get("priority", 0), spec.get("max_attempts", 3),
        spec.get("backoff_base_ms", 100), spec.get("backoff_max_ms", 30000), spec.get("timeout_ms", 60000),
        spec.get("key", ""), spec.get("stealable", True),
    ]
    after = spec.get("after", [])
    shard = spec.get("shard", [0, 0])
    no_backup = bool(spec.get("no_backup", False))
    if after or shard[1] or no_backup:
        parents = [[p, "", False] if isinstance(p, str) else [p["id"], p.get("key", ""), False] for p in after]
        fields += [parents, shard[0], shard[1]]
    if no_backup:
        fields.append(True)
    return fields


def _text(value):
    return value.decode(errors="replace") if isinstance(value, (bytes, bytearray)) else value


def _bytes(value):
    return value.encode() if isinstance(value, str) else bytes(value)


def task_record(fields):
    """A TaskRecord as a dict; fields appended by newer nodes are ignored."""
    spec = fields[0]
    return {
        "id": _text(spec[0]),
        "handler": _text(spec[1]),
        "key": _text(spec[8]),
        "partition": fields[1],
        "state": TASK_STATES[fields[2]],
        "attempt": fields[3],
        "failures": fields[4],
        "result": _bytes(fields[11]),
        "error": _text(fields[12]),
        "no_backup": len(spec) > 13 and bool(spec[13]),
        "attempts": [
            {"attempt": a[0], "runner": _text(a[1]), "outcome": ATTEMPT_OUTCOMES[a[4]], "error": _text(a[5]),
             "backup": len(a) > 6 and bool(a[6])}
            for a in fields[13]
        ],
    }


def decode_reply(kind, body):
    """The reply body as Python values; an ErrorReply raises MeshError."""
    if kind == ERROR_REPLY:
        raise MeshError(body[0], _text(body[1]))
    if kind == SUBMIT_REPLY:
        return [{"id": _text(o[0]), "code": o[1], "message": _text(o[2]), "duplicate": o[3],
                 "state": TASK_STATES[o[4]]} for o in body[0]]
    if kind in (GET_REPLY, WAIT_REPLY):
        records_at = 0 if kind == GET_REPLY else 1
        reply = {"records": [task_record(r) for r in body[records_at]],
                 "missing": [_text(m) for m in body[records_at + 1]]}
        if kind == WAIT_REPLY:
            reply.update(timed_out=body[0], unfinished=body[3])
        return reply
    if kind == CANCEL_REPLY:
        return [{"id": _text(o[0]), "code": o[1], "state": TASK_STATES[o[2]]} for o in body[0]]
    if kind == LIST_REPLY:
        return {"records": [task_record(r) for r in body[0]], "more": body[1]}
    if kind == STATS_REPLY:
        return {"node_id": _text(body[0]), "counters": body[1], "gauges": body[2]}
    if kind == MEMBERS_REPLY:
        return {"node_id": _text(body[0]),
                "members": [{"id": _text(m[0]), "address": _text(m[1]), "incarnation": m[2],
                             "state": MEMBER_STATES[m[3]]} for m in body[1]]}
    raise MeshError(1, f"unexpected reply kind {kind}")
