"""AST nodes of the expression language, produced by `parser` and compiled by `lang`.

Every node carries `pos`, the 0-based offset of its token in the source, for error carets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Node:
    """Base node."""

    pos: int


@dataclass(slots=True)
class Const(Node):
    """A literal: nil, bool, int, float or string."""

    value: Any


@dataclass(slots=True)
class Ident(Node):
    """A name: a `let` variable or an env key (nil when absent, as expr does for map envs)."""

    name: str


@dataclass(slots=True)
class Pointer(Node):
    """`#` (current element), `#index`, `#acc` inside a predicate."""

    name: str


@dataclass(slots=True)
class Unary(Node):
    """`not x`, `!x`, `-x`, `+x`."""

    op: str
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    """`a op b`."""

    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Member(Node):
    """`a.b`, `a[b]`, `a?.b`, `a?.[b]`."""

    obj: Node
    prop: Node
    optional: bool


@dataclass(slots=True)
class MethodCall(Node):
    """`a.M(args)`: a whitelisted method of an allowed object, or a function stored in a map."""

    obj: Node
    name: str
    args: list[Node]
    optional: bool


@dataclass(slots=True)
class Chain(Node):
    """Wraps a member chain that contains `?.`: nil anywhere optional makes the chain nil."""

    node: Node


@dataclass(slots=True)
class Slice(Node):
    """`a[i:j]`."""

    obj: Node
    lower: Node | None
    upper: Node | None


@dataclass(slots=True)
class Call(Node):
    """`f(args)`: a builtin (predicates are parsed specially) or a function from the env."""

    name: str
    args: list[Node]
    builtin: bool = False


@dataclass(slots=True)
class Predicate(Node):
    """A closure argument of a predicate builtin (`filter(xs, # > 1)`)."""

    body: Node


@dataclass(slots=True)
class Conditional(Node):
    """`c ? a : b`, `c ?: b`, `if c { a } else { b }`."""

    cond: Node
    then: Node
    other: Node


@dataclass(slots=True)
class Array(Node):
    """`[a, b]`."""

    items: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class MapLit(Node):
    """`{k: v}`."""

    pairs: list[tuple[Node, Node]] = field(default_factory=list)


@dataclass(slots=True)
class Let(Node):
    """`let name = value; body`."""

    name: str
    value: Node
    body: Node
