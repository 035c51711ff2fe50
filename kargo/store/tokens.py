"""Continue tokens of paged lists and resourceVersion parsing, with user-facing errors.

A continue token is opaque to clients: base64url of the kind, the last (namespace, name) of the
page and the first page's resourceVersion. `kargo.store.sql` makes and reads them.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from kargo import errors


def bad_continue(token: str) -> errors.ValidationError:
    return errors.ValidationError(
        "",
        [
            errors.Problem(
                f"invalid continue token {token[:40]!r}",
                path="continue",
                hint="list again from the first page (without a continue token)",
            )
        ],
    )


def encode_continue(kind: str, namespace: str, name: str, rv: str) -> str:
    raw = orjson.dumps({"k": kind, "ns": namespace, "n": name, "rv": rv})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, kind: str) -> tuple[str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        ns, name, rv = data["ns"], data["n"], data["rv"]
        if data["k"] != kind or not all(isinstance(v, str) for v in (ns, name, rv)):
            raise bad_continue(token)
    except (
        binascii.Error,
        ValueError,
        KeyError,
        TypeError,
    ) as err:  # orjson's error is a ValueError
        raise bad_continue(token) from err
    return ns, name, rv


def parse_resource_version(value: str) -> int:
    if not value.isdecimal():
        raise errors.ValidationError(
            "",
            [
                errors.Problem(
                    f"invalid resourceVersion {value[:40]!r}: expected a decimal number",
                    path="resourceVersion",
                    hint="use the resourceVersion of a list or of an object",
                )
            ],
        )
    return int(value)
