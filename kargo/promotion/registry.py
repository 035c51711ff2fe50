"""The step registry: step name -> StepSpec (typed config model, defaults, capabilities, runner).

Registration is explicit and injectable: a registry is an instance, built by
`kargo.promotion.steps.load_builtin_steps(registry)` (or by a test with only the steps it needs)
and passed to the engine. Duplicate names raise at registration time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

from kargo.promotion.context import StepContext, StepResult


class Capability(StrEnum):
    """What a step may reach beyond its work directory; the engine passes only these."""

    ACCESS_CREDENTIALS = "access-credentials"
    ACCESS_ARGOCD = "access-argocd"
    ACCESS_CONTROL_PLANE = "access-control-plane"
    ACCESS_GIT_USER = "access-git-user"
    TASK_OUTPUT_PROPAGATION = "task-output-propagation"


ConfigT = TypeVar("ConfigT", bound=BaseModel)
StepRunner = Callable[[StepContext, Any], Awaitable[StepResult]]
#: The work-directory paths a step reads or writes, from its config; None: it cannot say.
PathsOf = Callable[[Any], Sequence[str] | None]


def no_paths(_cfg: Any) -> list[str]:
    """`paths` of a step that touches no file of the work directory."""
    return []


@dataclass(frozen=True)
class StepSpec:
    """Everything the engine needs to know about one step kind."""

    name: str
    config_model: type[BaseModel]
    run: StepRunner
    default_timeout: timedelta | None = None
    default_error_threshold: int = 1
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    description: str = ""
    # What the step touches in the work directory, so lazy git checkouts (kargo.git.lazy) can
    # check those paths out first. None (the default): the step may touch anything.
    paths: PathsOf | None = None


class StepRegistry:
    """A set of step kinds, looked up by name."""

    def __init__(self) -> None:
        self._steps: dict[str, StepSpec] = {}

    def register(self, spec: StepSpec) -> None:
        """Add a step kind; a second step with the same name is an error."""
        if spec.name in self._steps:
            raise ValueError(f"step {spec.name!r} is already registered")
        self._steps[spec.name] = spec

    def step(
        self,
        name: str,
        config_model: type[ConfigT],
        *,
        default_timeout: timedelta | None = None,
        default_error_threshold: int = 1,
        capabilities: frozenset[Capability] | set[Capability] = frozenset(),
        paths: Callable[[ConfigT], Sequence[str] | None] | None = None,
    ) -> Callable[
        [Callable[[StepContext, ConfigT], Awaitable[StepResult]]],
        Callable[[StepContext, ConfigT], Awaitable[StepResult]],
    ]:
        """Decorator form of `register`, typed end to end on the config model."""

        def decorate(
            fn: Callable[[StepContext, ConfigT], Awaitable[StepResult]],
        ) -> Callable[[StepContext, ConfigT], Awaitable[StepResult]]:
            self.register(
                StepSpec(
                    name=name,
                    config_model=config_model,
                    run=fn,
                    default_timeout=default_timeout,
                    default_error_threshold=default_error_threshold,
                    capabilities=frozenset(capabilities),
                    description=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
                    paths=paths,
                )
            )
            return fn

        return decorate

    def get(self, name: str) -> StepSpec | None:
        """The spec for `name`, or None."""
        return self._steps.get(name)

    def names(self) -> list[str]:
        """All registered step names, sorted."""
        return sorted(self._steps)

    def __iter__(self) -> Iterator[StepSpec]:
        return iter(self._steps[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._steps
