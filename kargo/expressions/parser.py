"""Lexer and Pratt parser for the expr-lang (github.com/expr-lang/expr v1.17) syntax.

Produces the small AST of `kargo.expressions.ast_nodes`; `kargo.expressions.lang` compiles it
to closures. Operator precedence and associativity follow expr's operator table exactly:

    |  (pipe)      0        ==  !=  <  >  <=  >=  in  matches  contains     20 (chained)
    or  ||        10        startsWith  endsWith                            20
    and  &&       15        ..                                              25
    +  -          30        *  /  %                                         60
    unary not !   50        unary -  +                                      90
    **  ^        100 right  ??                                             500
    ?: (ternary) lowest, `let x = v; body`, `if c { a } else { b }`
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kargo.expressions import ast_nodes as n
from kargo.expressions.errors import SyntaxFailure

MAX_DEPTH = 120  # nesting bound: keeps Python's recursion far from its limit

UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
BINARY: dict[str, tuple[int, bool]] = {  # op -> (precedence, right associative)
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    ">=": (20, False),
    "<=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
NEGATABLE = {"contains", "matches", "startsWith", "endsWith", "in"}
WORD_OPERATORS = {
    "not",
    "in",
    "or",
    "and",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
}
# builtins whose arguments after the first are closures (predicates); True = predicate slot
PREDICATES: dict[str, tuple[tuple[bool, bool], ...]] = {
    # per argument: (is_predicate, optional)
    "all": ((False, False), (True, False)),
    "none": ((False, False), (True, False)),
    "any": ((False, False), (True, False)),
    "one": ((False, False), (True, False)),
    "filter": ((False, False), (True, False)),
    "map": ((False, False), (True, False)),
    "count": ((False, False), (True, True)),
    "sum": ((False, False), (True, True)),
    "find": ((False, False), (True, False)),
    "findIndex": ((False, False), (True, False)),
    "findLast": ((False, False), (True, False)),
    "findLastIndex": ((False, False), (True, False)),
    "groupBy": ((False, False), (True, False)),
    "sortBy": ((False, False), (True, False), (False, True)),
    "reduce": ((False, False), (True, False), (False, True)),
}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*(?:.|\n)*?\*/)
  | (?P<number>0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+
      |(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<raw>`[^`]*`)
  | (?P<pointer>\#[A-Za-z_0-9]*)
  | (?P<name>[A-Za-z_$][A-Za-z_$0-9]*)
  | (?P<op>\?\?|\?\.|\.\.|\*\*|==|!=|<=|>=|&&|\|\||::|[-+*/%^!<>=?:.,;|])
  | (?P<bracket>[()\[\]{}])
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: kind is name|number|string|op|bracket|pointer|eof."""

    kind: str
    value: str
    pos: int  # 0-based offset in the source


def _unescape(body: str, pos: int) -> str:
    """Decode Go-style escapes (\\n, \\t, \\xHH, \\uHHHH, \\UHHHHHHHH, octal \\NNN)."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(nxt)
        try:
            if width is not None:
                digits = body[i + 2 : i + 2 + width]
                if len(digits) != width:
                    raise ValueError
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            if nxt in "01234567":
                digits = body[i + 1 : i + 4]
                if len(digits) != 3:
                    raise ValueError
                out.append(chr(int(digits, 8)))
                i += 4
                continue
        except ValueError:
            pass
        raise SyntaxFailure("invalid escape sequence in string", pos + i + 1)
    return "".join(out)


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with an eof token."""
    tokens: list[Token] = []
    pos = 0
    length = len(source)
    while pos < length:
        if source.startswith("/*", pos) and source.find("*/", pos + 2) < 0:
            raise SyntaxFailure("unclosed comment", pos)
        m = _TOKEN_RE.match(source, pos)
        if m is None:
            raise SyntaxFailure(f"unrecognized character: {source[pos]!r}", pos)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "string":
            tokens.append(Token("string", _unescape(text[1:-1], pos), pos))
        elif kind == "raw":
            tokens.append(Token("string", text[1:-1], pos))
        elif kind == "number":
            end = m.end()
            if end < length and (source[end].isalnum() or source[end] == "_"):
                raise SyntaxFailure(f"bad number syntax: {text + source[end]!r}", pos)
            tokens.append(Token("number", text, pos))
        elif kind == "name":
            tokens.append(Token("op" if text in WORD_OPERATORS else "name", text, pos))
        elif kind in ("op", "bracket", "pointer"):
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("eof", "", length))
    return tokens


def parse_number(text: str, pos: int) -> n.Node:
    """An integer or float literal node, with expr's literal rules (underscores, 0x, 0o, 0b)."""
    value = text.replace("_", "")
    lower = value.lower()
    try:
        if lower.startswith(("0x", "0o", "0b")):
            number = int(value, 0)
        elif "." in lower or "e" in lower:
            f = float(value)
            if f == float("inf"):
                raise SyntaxFailure("float literal is too large", pos)
            return n.Const(pos, f)
        else:
            number = int(value, 10)
    except ValueError:
        raise SyntaxFailure(f"invalid number literal: {text}", pos) from None
    if number > 2**63 - 1:
        raise SyntaxFailure("integer literal is too large", pos)
    return n.Const(pos, number)


class Parser:
    """Recursive-descent/Pratt parser over the token list."""

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.cur = self.tokens[0]
        self.depth = 0  # predicate nesting (where `#` is allowed)
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------------
    def advance(self) -> Token:
        tok = self.cur
        if self.i < len(self.tokens) - 1:
            self.i += 1
            self.cur = self.tokens[self.i]
        return tok

    def is_(self, kind: str, value: str | None = None) -> bool:
        return self.cur.kind == kind and (value is None or self.cur.value == value)

    def expect(self, kind: str, value: str | None = None) -> Token:
        if not self.is_(kind, value):
            self.unexpected()
        return self.advance()

    def unexpected(self) -> None:
        if self.cur.kind == "eof":
            raise SyntaxFailure("unexpected end of expression", self.cur.pos)
        raise SyntaxFailure(f"unexpected token {self.cur.value!r}", self.cur.pos)

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> n.Node:
        if self.is_("eof"):
            raise SyntaxFailure("empty expression", 0)
        node = self.expression(0)
        if not self.is_("eof"):
            self.unexpected()
        return node

    def expression(self, precedence: int) -> n.Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise SyntaxFailure(f"expression nested too deeply (limit {MAX_DEPTH})", self.cur.pos)
        try:
            return self._expression(precedence)
        finally:
            self.nesting -= 1

    def _expression(self, precedence: int) -> n.Node:
        if precedence == 0 and self.is_("op", "let"):
            return self.let()
        left = self.primary()
        prev_op = ""
        while self.cur.kind == "op":
            tok = self.cur
            op = tok.value
            negate = False
            if op == "not":
                nxt = self.tokens[self.i + 1]
                if nxt.kind != "op" or nxt.value not in NEGATABLE:
                    raise SyntaxFailure(f"unexpected token {nxt.value or 'end'!r}", nxt.pos)
                if BINARY[nxt.value][0] < precedence:
                    break
                self.advance()
                tok = self.cur
                op = tok.value
                negate = True
            info = BINARY.get(op)
            if info is None or info[0] < precedence:
                break
            prec, right_assoc = info
            self.advance()
            if op == "|":
                name = self.expect("name")
                left = self.call(name, [left])
                prev_op = op
                continue
            if prev_op == "??" and op != "??":
                raise SyntaxFailure(
                    f"operator ({op}) and coalesce expressions (??) cannot be mixed; "
                    "wrap either in parentheses",
                    tok.pos,
                )
            if prec == 20:
                left = self.comparison(left, tok, negate)
            else:
                right = self.expression(prec if right_assoc else prec + 1)
                left = n.Binary(tok.pos, op, left, right)
                if negate:
                    left = n.Unary(tok.pos, "not", left)
            prev_op = op
        if precedence == 0:
            left = self.conditional(left)
        return left

    def comparison(self, left: n.Node, tok: Token, negate: bool) -> n.Node:
        root: n.Node | None = None
        while True:
            right = self.expression(21)
            cmp: n.Node = n.Binary(tok.pos, tok.value, left, right)
            if negate:
                cmp = n.Unary(tok.pos, "not", cmp)
            root = cmp if root is None else n.Binary(tok.pos, "&&", root, cmp)
            left = right
            if not (self.cur.kind == "op" and BINARY.get(self.cur.value, (0,))[0] == 20):
                return root
            tok = self.advance()
            negate = False

    def conditional(self, node: n.Node) -> n.Node:
        while self.is_("op", "?"):
            pos = self.advance().pos
            if self.is_("op", ":"):
                self.advance()
                node = n.Conditional(pos, node, node, self.expression(0))
            else:
                then = self.expression(0)
                self.expect("op", ":")
                node = n.Conditional(pos, node, then, self.expression(0))
        return node

    def let(self) -> n.Node:
        self.expect("op", "let")
        name = self.expect("name")
        self.expect("op", "=")
        value = self.expression(0)
        self.expect("op", ";")
        body = self.expression(0)
        return n.Let(name.pos, name.value, value, body)

    def if_expression(self) -> n.Node:
        pos = self.expect("op", "if").pos
        cond = self.expression(0)
        self.expect("bracket", "{")
        then = self.expression(0)
        self.expect("bracket", "}")
        self.expect("op", "else")
        if self.is_("op", "if"):
            other = self.if_expression()
        else:
            self.expect("bracket", "{")
            other = self.expression(0)
            self.expect("bracket", "}")
        return n.Conditional(pos, cond, then, other)

    def primary(self) -> n.Node:
        tok = self.cur
        if tok.kind == "op" and tok.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[tok.value])
            return self.postfix(n.Unary(tok.pos, tok.value, operand))
        if tok.kind == "op" and tok.value == "if":
            return self.if_expression()
        if tok.kind == "bracket" and tok.value == "(":
            self.advance()
            inner = self.expression(0)
            self.expect("bracket", ")")
            return self.postfix(inner)
        if tok.kind == "pointer" or (tok.kind == "op" and tok.value == "."):
            if self.depth == 0:
                raise SyntaxFailure("cannot use pointer accessor outside predicate", tok.pos)
            if tok.kind == "pointer":
                self.advance()
                return self.postfix(n.Pointer(tok.pos, tok.value[1:]))
            # `.field` is shorthand for `#.field`: leave the dot for postfix()
            return self.postfix(n.Pointer(tok.pos, ""))
        return self.secondary()

    def secondary(self) -> n.Node:
        tok = self.cur
        node: n.Node
        if tok.kind == "name":
            self.advance()
            if tok.value == "true":
                return n.Const(tok.pos, True)
            if tok.value == "false":
                return n.Const(tok.pos, False)
            if tok.value == "nil":
                return n.Const(tok.pos, None)
            is_call = self.is_("bracket", "(")
            node = self.call(tok, []) if is_call else n.Ident(tok.pos, tok.value)
        elif tok.kind == "number":
            self.advance()
            node = parse_number(tok.value, tok.pos)
        elif tok.kind == "string":
            self.advance()
            node = n.Const(tok.pos, tok.value)
        elif tok.kind == "bracket" and tok.value == "[":
            node = self.array()
        elif tok.kind == "bracket" and tok.value == "{":
            node = self.map_literal()
        else:
            self.unexpected()
            raise AssertionError  # unreachable
        return self.postfix(node)

    def call(self, name: Token, args: list[n.Node]) -> n.Node:
        spec = PREDICATES.get(name.value)
        if spec is None:
            return n.Call(name.pos, name.value, self.arguments(args))
        self.expect("bracket", "(")
        for index, (is_pred, optional) in enumerate(spec[len(args) :]):
            if self.is_("bracket", ")"):
                if optional:
                    break
                raise SyntaxFailure(
                    f"{name.value}: expected at least {len(spec)} arguments", self.cur.pos
                )
            if index > 0:
                self.expect("op", ",")
            args.append(self.predicate() if is_pred else self.expression(0))
        if self.is_("op", ","):
            self.advance()
        self.expect("bracket", ")")
        return n.Call(name.pos, name.value, args, builtin=True)

    def arguments(self, args: list[n.Node]) -> list[n.Node]:
        offset = len(args)
        self.expect("bracket", "(")
        while not self.is_("bracket", ")"):
            if len(args) > offset:
                self.expect("op", ",")
                if self.is_("bracket", ")"):
                    break
            args.append(self.expression(0))
        self.expect("bracket", ")")
        return args

    def predicate(self) -> n.Node:
        pos = self.cur.pos
        braced = self.is_("bracket", "{")
        if braced:
            self.advance()
        self.depth += 1
        body = self.expression(0)
        self.depth -= 1
        if braced:
            self.expect("bracket", "}")
        return n.Predicate(pos, body)

    def array(self) -> n.Node:
        pos = self.expect("bracket", "[").pos
        items: list[n.Node] = []
        while not self.is_("bracket", "]"):
            if items:
                self.expect("op", ",")
                if self.is_("bracket", "]"):
                    break
            items.append(self.expression(0))
        self.expect("bracket", "]")
        return n.Array(pos, items)

    def map_literal(self) -> n.Node:
        pos = self.expect("bracket", "{").pos
        pairs: list[tuple[n.Node, n.Node]] = []
        while not self.is_("bracket", "}"):
            if pairs:
                self.expect("op", ",")
                if self.is_("bracket", "}"):
                    break
            key: n.Node
            if self.cur.kind in ("number", "string", "name"):
                key = n.Const(self.cur.pos, self.cur.value)
                self.advance()
            elif self.is_("bracket", "("):
                key = self.expression(0)
            else:
                raise SyntaxFailure(
                    "a map key must be a quoted string, a number, an identifier, "
                    "or an expression in parentheses",
                    self.cur.pos,
                )
            self.expect("op", ":")
            pairs.append((key, self.expression(0)))
        self.expect("bracket", "}")
        return n.MapLit(pos, pairs)

    def postfix(self, node: n.Node) -> n.Node:
        chain = False
        while True:
            tok = self.cur
            if tok.kind == "op" and tok.value in (".", "?."):
                optional = tok.value == "?."
                self.advance()
                if optional and self.is_("bracket", "["):
                    node, chain = self._index(node, optional=True), True
                    continue
                prop = self.cur
                if prop.kind not in ("name", "op") or not prop.value.isidentifier():
                    raise SyntaxFailure("expected name", prop.pos)
                self.advance()
                chain = chain or optional
                if self.is_("bracket", "("):
                    args = self.arguments([])
                    node = n.MethodCall(prop.pos, node, prop.value, args, optional)
                else:
                    node = n.Member(prop.pos, node, n.Const(prop.pos, prop.value), optional)
            elif tok.kind == "bracket" and tok.value == "[":
                node = self._index(node, optional=False)
            else:
                break
        return n.Chain(node.pos, node) if chain else node

    def _index(self, node: n.Node, optional: bool) -> n.Node:
        pos = self.expect("bracket", "[").pos
        if self.is_("op", ":"):
            self.advance()
            upper = None if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return n.Slice(pos, node, None, upper)
        first = self.expression(0)
        if self.is_("op", ":"):
            self.advance()
            upper = None if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return n.Slice(pos, node, first, upper)
        self.expect("bracket", "]")
        return n.Member(pos, node, first, optional)


def parse(source: str) -> n.Node:
    """Parse one expression (no `${{ }}` delimiters) into an AST."""
    return Parser(source).parse()
