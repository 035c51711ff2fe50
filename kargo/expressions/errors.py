"""Located expression failures and how they become `kargo.errors.ExpressionError`.

Parsing and evaluation raise the internal `SyntaxFailure` / `EvalFailure` with an offset; the
public entry points turn them into an `ExpressionError` whose message is expr-lang's shape:

    cannot fetch "x" from nil (1:5)
     | a.b.x
     | ....^
"""

from __future__ import annotations

from kargo import errors


class ExprFailure(Exception):
    """Internal: a failure at offset `pos` of the expression source."""

    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class SyntaxFailure(ExprFailure):
    """The source does not parse."""


class EvalFailure(ExprFailure):
    """Evaluation failed."""


class LocatedExpressionError(errors.ExpressionError):
    """An ExpressionError that knows the source and the 1-based line/column it points at."""

    def __init__(self, message: str, source: str, line: int, column: int, reason: str) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.detail = reason


def locate(failure: ExprFailure, source: str) -> errors.ExpressionError:
    """Format `failure` with (line:column), the source line and a caret."""
    pos = failure.pos
    if pos is None:
        return errors.ExpressionError(f"{failure.message}\n | {source}")
    pos = max(0, min(pos, len(source)))
    line_no = source.count("\n", 0, pos) + 1
    line_start = source.rfind("\n", 0, pos) + 1
    line_end = source.find("\n", pos)
    text = source[line_start : line_end if line_end >= 0 else len(source)]
    column = pos - line_start + 1
    message = f"{failure.message} ({line_no}:{column})\n | {text}\n | {'.' * (column - 1)}^"
    return LocatedExpressionError(message, source, line_no, column, failure.message)
