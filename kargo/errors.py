"""The documented exception tree every layer raises, and how each maps to HTTP and the CLI.

    KargoError                      base of everything this package raises on purpose
    ├── ValidationError             the user's input is wrong (400); carries a list of Problems
    ├── NotFoundError               the object does not exist (404)
    ├── AlreadyExistsError          create of an existing object (409)
    ├── ConflictError               stale resourceVersion or a forbidden state change (409)
    ├── UnauthenticatedError        no or bad credentials (401)
    ├── PermissionDeniedError       authenticated but not allowed (403)
    ├── StepError                   a promotion step failed; retried up to its error threshold
    │   └── TerminalStepError       a step failure that must never be retried
    ├── ExpressionError             a `${{ }}` expression failed to parse or evaluate (400)
    ├── DiscoveryError              a Warehouse could not discover artifacts (502)
    └── UnavailableError            a dependency (database, registry, git) is unreachable (503)

Messages read left to right from general to specific, in lowercase fragments joined by ": ",
and never contain a secret (the credentials layer redacts before a message is built).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with user input: where it is, what is wrong and how to fix it."""

    message: str
    path: str = ""  # field path, e.g. spec.subscriptions[0].image.repoURL
    file: str = ""
    line: int | None = None
    column: int | None = None
    hint: str = ""

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """Serialise for the API's error shape."""
        out: dict[str, object] = {"message": self.message}
        for key in ("path", "file", "line", "column", "hint"):
            value = getattr(self, key)
            if value not in ("", None):
                out[key] = value
        return out


class KargoError(Exception):
    """Base of every error this package raises on purpose."""

    http_status: int = 500
    exit_code: int = 1
    reason: str = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(KargoError):
    """User input is invalid. All problems are reported at once."""

    http_status = 400
    exit_code = 2
    reason = "Invalid"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems: list[Problem] = list(problems or [])
        if self.problems and message == "":
            message = "; ".join(str(p) for p in self.problems)
        super().__init__(message)


class NotFoundError(KargoError):
    """The object does not exist."""

    http_status = 404
    exit_code = 3
    reason = "NotFound"


class AlreadyExistsError(KargoError):
    """An object with this name already exists."""

    http_status = 409
    exit_code = 4
    reason = "AlreadyExists"


class ConflictError(KargoError):
    """An update was made from a stale resourceVersion, or the change is not allowed now."""

    http_status = 409
    exit_code = 4
    reason = "Conflict"


class UnauthenticatedError(KargoError):
    """No credentials, or credentials that are not valid."""

    http_status = 401
    exit_code = 5
    reason = "Unauthenticated"


class PermissionDeniedError(KargoError):
    """The caller is known but may not do this."""

    http_status = 403
    exit_code = 6
    reason = "Forbidden"


class StepError(KargoError):
    """A promotion step failed; the engine retries it up to its error threshold."""

    http_status = 500
    exit_code = 7
    reason = "StepFailed"


class TerminalStepError(StepError):
    """A promotion step failure that retrying cannot fix (bad config, explicit failure)."""

    reason = "StepFailedTerminally"


class ExpressionError(KargoError):
    """A `${{ }}` expression failed to parse or evaluate."""

    http_status = 400
    exit_code = 2
    reason = "ExpressionError"


class DiscoveryError(KargoError):
    """Artifact discovery failed (registry, git or chart repository)."""

    http_status = 502
    exit_code = 8
    reason = "DiscoveryFailed"


class UnavailableError(KargoError):
    """A dependency is unreachable; retry later."""

    http_status = 503
    exit_code = 9
    reason = "Unavailable"


@dataclass
class ErrorBody:
    """The one JSON error shape of the API: {"error": {"status", "reason", "message", "problems"}}."""

    status: int
    reason: str
    message: str
    problems: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Serialise as the API returns it."""
        body: dict[str, object] = {
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }
        if self.problems:
            body["problems"] = self.problems
        return {"error": body}

    @classmethod
    def from_error(cls, err: KargoError) -> ErrorBody:
        """Build the body for a KargoError."""
        problems = [p.to_dict() for p in err.problems] if isinstance(err, ValidationError) else []
        return cls(
            status=err.http_status, reason=err.reason, message=err.message, problems=problems
        )
