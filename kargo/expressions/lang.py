"""The expression language: `compile(source) -> Program`, `Program.run(env) -> value`.

The syntax and semantics are expr-lang's (github.com/expr-lang/expr v1.17), which Kargo uses
for `${{ }}`. The AST from `parser` is compiled once into Python closures (cached by source),
so running a program is a walk of plain function calls. There is no Python `eval` and no
reflection: member access on a dict reads a key, on a list/string an index, and on an
`objects.ExprObject` only its documented fields and methods. Every loop spends from a step
budget, and ranges, strings and collections are capped, so any input ends quickly with either
a value or a `kargo.errors.ExpressionError` that says what failed and where (line:column).
"""

# ruff: noqa: ARG005 - binary operator table entries share one (scope, a, b) signature
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from kargo import clock as clock_mod, errors
from kargo.expressions import ast_nodes as n, builtins, gotime, parser, predicates, runtime, values
from kargo.expressions.errors import EvalFailure, ExprFailure, locate
from kargo.expressions.objects import ExprObject
from kargo.expressions.values import ValueFailure, type_name

DEFAULT_MAX_STEPS = 1_000_000
DEFAULT_MAX_ITEMS = 1_000_000
DEFAULT_MAX_STRING = 4 * 1024 * 1024
DEFAULT_TIME_BUDGET = 2.0  # seconds of CPU per run; a backstop behind the step budget

Fn = Callable[["Scope"], Any]
_SYSTEM_CLOCK = clock_mod.SystemClock()


_NOT_SET = object()


class Scope:
    """Mutable evaluation state of one `Program.run`."""

    __slots__ = (
        "acc",
        "clock",
        "deadline",
        "env",
        "index",
        "it",
        "lets",
        "max_items",
        "max_string",
        "next_check",
        "steps",
        "time_budget",
    )

    def __init__(
        self,
        env: Mapping[str, Any],
        clock: clock_mod.Clock,
        max_steps: int,
        max_items: int,
        max_string: int,
        time_budget: float,
    ) -> None:
        self.env = env
        self.clock = clock
        self.steps = max_steps
        self.next_check = max_steps - 1024
        self.max_items = max_items
        self.max_string = max_string
        self.time_budget = time_budget
        self.deadline = 0.0  # set at the first budget check, so cheap runs never read the clock
        self.lets: dict[str, Any] = {}
        self.it: Any = None
        self.index: Any = None
        self.acc: Any = None

    def spend(self, steps: int) -> None:
        """Charge the budget; fail when it is exhausted."""
        self.steps -= steps
        if self.steps < 0:
            raise ValueFailure("expression exceeded its evaluation budget")
        if self.steps < self.next_check:  # read the clock about every 1024 steps
            self.next_check = self.steps - 1024
            now = time.monotonic()
            if self.deadline == 0.0:
                self.deadline = now + self.time_budget
            elif now > self.deadline:
                raise ValueFailure("expression exceeded its time budget")

    def now(self) -> gotime.TimeValue:
        """The injected clock's current time."""
        return gotime.TimeValue(self.clock.now())


class Program:
    """A compiled expression; immutable and safe to share between threads."""

    __slots__ = ("_fn", "source")

    def __init__(self, source: str, fn: Fn) -> None:
        self.source = source
        self._fn = fn

    def run(
        self,
        env: Mapping[str, Any],
        *,
        clock: clock_mod.Clock | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_string: int = DEFAULT_MAX_STRING,
        time_budget: float = DEFAULT_TIME_BUDGET,
    ) -> Any:
        """Evaluate against `env` (names -> JSON-like values or functions)."""
        scope = Scope(
            env,
            clock or _SYSTEM_CLOCK,
            max_steps,
            max_items,
            max_string,
            time_budget,
        )
        try:
            return self._fn(scope)
        except errors.ExpressionError:
            raise
        except ExprFailure as failure:
            raise locate(failure, self.source) from None
        except runtime.ChainNil:
            return None
        except RecursionError:
            raise errors.ExpressionError(
                f"expression nested too deeply to evaluate\n | {self.source}"
            ) from None
        except Exception as err:  # a safety net: the contract is ExpressionError only
            raise errors.ExpressionError(
                f"internal error evaluating expression ({type(err).__name__}: {err})\n"
                f" | {self.source}"
            ) from err


@functools.lru_cache(maxsize=4096)
def compile(source: str) -> Program:
    """Parse and compile `source` (cached by source text)."""
    try:
        tree = parser.parse(source)
        fn = _Compiler().compile(tree)
    except ExprFailure as failure:
        raise locate(failure, source) from None
    except RecursionError:
        raise errors.ExpressionError(f"expression nested too deeply\n | {source}") from None
    return Program(source, fn)


def evaluate(source: str, env: Mapping[str, Any], **kwargs: Any) -> Any:
    """Shorthand: `compile(source).run(env, **kwargs)`."""
    return compile(source).run(env, **kwargs)


# -- the compiler ---------------------------------------------------------------------------------
class _Compiler:
    """Turns AST nodes into closures `f(scope) -> value`."""

    def __init__(self) -> None:
        self.lets: list[str] = []

    def compile(self, node: n.Node) -> Fn:
        method = getattr(self, "c_" + type(node).__name__)
        fn: Fn = method(node)
        return fn

    def c_Const(self, node: n.Const) -> Fn:
        value = node.value
        return lambda s: value

    def c_Ident(self, node: n.Ident) -> Fn:
        name = node.name
        if name in self.lets:
            return lambda s: s.lets[name]
        if name == "$env":  # expr's map of every variable: $env["name with spaces"]
            return lambda s: s.env if isinstance(s.env, dict) else dict(s.env)
        return lambda s: s.env.get(name)

    def c_Pointer(self, node: n.Pointer) -> Fn:
        name, pos = node.name, node.pos
        if name == "":
            return lambda s: s.it
        if name == "index":
            return lambda s: s.index
        if name == "acc":
            return lambda s: s.acc
        raise EvalFailure(f"unknown pointer #{name}", pos)

    def c_Unary(self, node: n.Unary) -> Fn:
        operand, op, pos = self.compile(node.operand), node.op, node.pos
        if op in ("not", "!"):

            def not_(s: Scope) -> Any:
                v = operand(s)
                if not isinstance(v, bool):
                    raise EvalFailure(
                        f"invalid operation: {op} (mismatched type {type_name(v)})", pos
                    )
                return not v

            return not_
        if op == "-":

            def neg(s: Scope) -> Any:
                try:
                    return values.negate(operand(s))
                except ValueFailure as err:
                    raise EvalFailure(str(err), pos) from None

            return neg

        def plus(s: Scope) -> Any:
            v = operand(s)
            if not (values.is_number(v) or isinstance(v, gotime.DurationValue)):
                raise EvalFailure(f"invalid operation: + (mismatched type {type_name(v)})", pos)
            return v

        return plus

    def c_Binary(self, node: n.Binary) -> Fn:
        left, right, op, pos = self.compile(node.left), self.compile(node.right), node.op, node.pos
        if op in ("and", "&&", "or", "||"):
            is_and = op in ("and", "&&")

            def logic(s: Scope) -> Any:
                a = left(s)
                if not isinstance(a, bool):
                    raise EvalFailure(
                        f"invalid operation: {op} (mismatched types {type_name(a)} and bool)", pos
                    )
                if a is not is_and:
                    return a
                b = right(s)
                if not isinstance(b, bool):
                    raise EvalFailure(
                        f"invalid operation: {op} (mismatched types bool and {type_name(b)})", pos
                    )
                return b

            return logic
        if op == "??":

            def coalesce(s: Scope) -> Any:
                try:
                    a = left(s)
                except runtime.ChainNil:
                    a = None
                return right(s) if a is None else a

            return coalesce
        impl = self._binary_impl(op, pos)

        def binary(s: Scope) -> Any:
            a = left(s)
            b = right(s)
            try:
                return impl(s, a, b)
            except (ValueFailure, gotime.TimeError) as err:
                raise EvalFailure(str(err), pos) from None

        return binary

    def _binary_impl(self, op: str, pos: int) -> Callable[[Scope, Any, Any], Any]:
        simple: dict[str, Callable[[Scope, Any, Any], Any]] = {
            "+": lambda s, a, b: values.add(a, b, s.max_string),
            "-": lambda s, a, b: values.sub(a, b),
            "*": lambda s, a, b: values.mul(a, b),
            "/": lambda s, a, b: values.div(a, b),
            "%": lambda s, a, b: values.mod(a, b),
            "**": lambda s, a, b: values.power(a, b),
            "^": lambda s, a, b: values.power(a, b),
            "==": lambda s, a, b: values.equal(a, b),
            "!=": lambda s, a, b: not values.equal(a, b),
            "<": lambda s, a, b: values.compare("<", a, b),
            ">": lambda s, a, b: values.compare(">", a, b),
            "<=": lambda s, a, b: values.compare("<=", a, b),
            ">=": lambda s, a, b: values.compare(">=", a, b),
            "in": lambda s, a, b: runtime.contains_item(a, b),
            "contains": lambda s, a, b: runtime.contains_text(a, b),
            "startsWith": lambda s, a, b: str.startswith(*runtime.string_pair("startsWith", a, b)),
            "endsWith": lambda s, a, b: str.endswith(*runtime.string_pair("endsWith", a, b)),
            "matches": lambda s, a, b: runtime.matches(a, b),
            "..": runtime.make_range,
        }
        if op not in simple:
            raise EvalFailure(f"unknown operator {op}", pos)
        return simple[op]

    def c_Member(self, node: n.Member) -> Fn:
        obj, prop, pos, optional = self.compile(node.obj), node.prop, node.pos, node.optional
        if isinstance(prop, n.Const):
            key = prop.value
            return lambda s: runtime.fetch(obj(s), key, pos, optional)
        key_fn = self.compile(prop)

        def member(s: Scope) -> Any:
            target = obj(s)
            if target is None and optional:
                raise runtime.ChainNil
            return runtime.fetch(target, key_fn(s), pos, optional)

        return member

    def c_MethodCall(self, node: n.MethodCall) -> Fn:
        obj, name, pos, optional = self.compile(node.obj), node.name, node.pos, node.optional
        args = [self.compile(a) for a in node.args]

        def method(s: Scope) -> Any:
            target = obj(s)
            argv = [a(s) for a in args]
            s.spend(1)
            if target is None:
                if optional:
                    raise runtime.ChainNil
                raise EvalFailure(f"cannot call method {name} on nil", pos)
            if isinstance(target, ExprObject):
                if name not in target.methods:
                    raise EvalFailure(f"type {target.expr_type()} has no method {name}", pos)
                try:
                    return target.call_method(name, argv)
                except (ValueFailure, gotime.TimeError) as err:
                    raise EvalFailure(f"{name}(): {err}", pos) from None
                except TypeError:
                    raise EvalFailure(f"{name}(): invalid arguments", pos) from None
            if isinstance(target, dict):
                return runtime.call_function(target.get(name), name, argv, pos)
            raise EvalFailure(f"type {type_name(target)} has no method {name}", pos)

        return method

    def c_Chain(self, node: n.Chain) -> Fn:
        inner = self.compile(node.node)

        def chain(s: Scope) -> Any:
            try:
                return inner(s)
            except runtime.ChainNil:
                return None

        return chain

    def c_Slice(self, node: n.Slice) -> Fn:
        obj, pos = self.compile(node.obj), node.pos
        lo = self.compile(node.lower) if node.lower is not None else None
        hi = self.compile(node.upper) if node.upper is not None else None
        return lambda s: runtime.slice(obj(s), lo(s) if lo else None, hi(s) if hi else None, pos)

    def c_Conditional(self, node: n.Conditional) -> Fn:
        cond, then, other, pos = (
            self.compile(node.cond),
            self.compile(node.then),
            self.compile(node.other),
            node.pos,
        )

        def conditional(s: Scope) -> Any:
            c = cond(s)
            if not isinstance(c, bool):
                raise EvalFailure(
                    f"non-bool expression (type {type_name(c)}) used as condition", pos
                )
            return then(s) if c else other(s)

        return conditional

    def c_Array(self, node: n.Array) -> Fn:
        items = [self.compile(i) for i in node.items]
        return lambda s: [i(s) for i in items]

    def c_MapLit(self, node: n.MapLit) -> Fn:
        pairs = [(self.compile(k), self.compile(v), k.pos) for k, v in node.pairs]

        def map_lit(s: Scope) -> Any:
            out: dict[Any, Any] = {}
            for k, v, pos in pairs:
                key = k(s)
                if not (key is None or isinstance(key, str | int | float | bool)):
                    raise EvalFailure(f"invalid map key (type {type_name(key)})", pos)
                out[key] = v(s)
            return out

        return map_lit

    def c_Let(self, node: n.Let) -> Fn:
        value = self.compile(node.value)
        name = node.name
        self.lets.append(name)
        try:
            body = self.compile(node.body)
        finally:
            self.lets.pop()

        def let(s: Scope) -> Any:
            old = s.lets.get(name, _NOT_SET)
            s.lets[name] = value(s)
            try:
                return body(s)
            finally:
                if old is _NOT_SET:
                    del s.lets[name]
                else:
                    s.lets[name] = old

        return let

    def c_Predicate(self, node: n.Predicate) -> Fn:
        return self.compile(node.body)

    def c_Call(self, node: n.Call) -> Fn:
        name, pos = node.name, node.pos
        if node.builtin:
            return self._predicate_call(node)
        args = [self.compile(a) for a in node.args]
        plain = builtins.BUILTINS.get(name)
        if plain is not None and name not in self.lets:
            impl = plain

            def builtin(s: Scope) -> Any:
                argv = [a(s) for a in args]
                s.spend(1)
                try:
                    return impl(s, argv)
                except (ValueFailure, gotime.TimeError) as err:
                    raise EvalFailure(str(err), pos) from None

            return builtin
        is_let = name in self.lets

        def call(s: Scope) -> Any:
            fn = s.lets[name] if is_let else s.env.get(name)
            argv = [a(s) for a in args]
            s.spend(1)
            return runtime.call_function(fn, name, argv, pos)

        return call

    def _predicate_call(self, node: n.Call) -> Fn:
        name, pos = node.name, node.pos
        impl = predicates.PREDICATE_BUILTINS[name]
        coll = self.compile(node.args[0])
        preds: list[Fn] = []
        extra: list[Fn] = []
        for arg in node.args[1:]:
            if isinstance(arg, n.Predicate):
                preds.append(self.compile(arg))
            else:
                extra.append(self.compile(arg))

        def predicate_call(s: Scope) -> Any:
            collection = coll(s)
            closures = [_closure(s, body) for body in preds]
            argv = [e(s) for e in extra]
            try:
                return impl(s, collection, closures, argv)
            except (ValueFailure, gotime.TimeError) as err:
                raise EvalFailure(str(err), pos) from None

        return predicate_call


def _closure(s: Scope, body: Fn) -> Callable[..., Any]:
    def run(item: Any, index: int, acc: Any = _NOT_SET) -> Any:
        s.spend(1)
        saved = (s.it, s.index, s.acc)
        s.it, s.index = item, index
        if acc is not _NOT_SET:
            s.acc = acc
        try:
            return body(s)
        finally:
            s.it, s.index, s.acc = saved

    return run
