"""The only non-JSON values expressions may hold, each exposing a documented whitelist.

An `ExprObject` answers member access through `get_field` and calls through `call_method`,
which dispatches only to names listed in `methods` (implemented as `m_<Name>`). Nothing else
of the Python object is reachable from an expression: no attributes, no dunders.
`GoStruct` is a read-only record with Go field names (`imageFrom(x).Tag`) whose JSON form uses
Kargo's JSON keys (`{"repoURL": ..., "tag": ...}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ExprObject:
    """Base of the object types an expression may see."""

    type_name: ClassVar[str] = "object"
    methods: ClassVar[frozenset[str]] = frozenset()

    def expr_type(self) -> str:
        """The type name shown in messages and by `type()`."""
        return self.type_name

    def get_field(self, name: str) -> Any:
        """The value of field `name`; raises KeyError when there is none."""
        raise KeyError(name)

    def call_method(self, name: str, args: list[Any]) -> Any:
        """Call whitelisted method `name`; raises KeyError when it is not a documented method."""
        if name not in self.methods:
            raise KeyError(name)
        method = getattr(self, "m_" + name)
        return method(*args)

    def to_json(self) -> Any:
        """The JSON-compatible form (what Go's json.Marshal would produce)."""
        raise NotImplementedError

    def go_string(self) -> str:
        """What Go's fmt %v prints for this value."""
        return str(self.to_json())


class GoStruct(ExprObject):
    """A read-only struct: Go field names for expressions, JSON keys for output."""

    def __init__(
        self,
        type_name: str,
        fields: Mapping[str, Any],
        json_keys: Mapping[str, str],
        *,
        omitempty: bool = True,
    ) -> None:
        self._type = type_name
        self._fields = dict(fields)
        self._json_keys = dict(json_keys)
        self._omitempty = omitempty

    def expr_type(self) -> str:
        return self._type

    @classmethod
    def from_json(
        cls, type_name: str, data: Mapping[str, Any], mapping: Mapping[str, str]
    ) -> GoStruct:
        """Build from a JSON dict; `mapping` is Go field name -> JSON key (missing -> zero)."""
        fields = {go: data.get(key) for go, key in mapping.items()}
        return cls(type_name, fields, mapping)

    def get_field(self, name: str) -> Any:
        if name not in self._fields:
            raise KeyError(name)
        value = self._fields[name]
        return "" if value is None and name not in _NULLABLE else value

    def to_json(self) -> Any:
        out: dict[str, Any] = {}
        for go, key in self._json_keys.items():
            value = self._fields.get(go)
            if self._omitempty and (value is None or value == "" or value == {}):
                continue  # Kargo's structs tag these fields `omitempty`
            out[key] = value
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoStruct)
            and other._type == self._type
            and other._fields == self._fields
        )

    def __hash__(self) -> int:
        return hash((self._type, tuple(sorted(self._fields))))

    def __repr__(self) -> str:
        return f"{self._type}({self._fields!r})"

    def go_string(self) -> str:
        inner = " ".join(f"{k}:{v}" for k, v in self._fields.items())
        return "{" + inner + "}"


_NULLABLE = frozenset({"Annotations", "Metadata"})
