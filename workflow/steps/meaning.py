"""What a step declares beside its items: the spec sections it sends, the dependencies it takes
and the typed outputs other steps read.

* :class:`Section`: a part of the spec a step sends to Sent (``profile``, ``brand``,
  ``campaigns``, ``channels``). The flow definition answers from these which step and state own
  a section: what an amend already sent, where a rewind must go to send it again, and which
  creates an amend of it would change.
* :class:`Need`: a typed name of a dependency, looked up in the open set the worker is given
  (:meth:`~workflow.steps.base.StepContext.dependency`). :data:`SENT_API` is Sent's client.
* :class:`Result`: one item's output as a pydantic model (stored as the JSON object it dumps
  to, as every output is), read by its step or a later one without naming it by string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from workflow.ports import OwnershipReads, SentApi

__all__ = ["OWNERSHIP_READS", "SENT_API", "Need", "Result", "Section", "StepOutput", "stored"]

T = TypeVar("T")
M = TypeVar("M", bound="StepOutput")


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the spec a step sends.

    Attributes:
        name: the spec's top-level field (``campaigns``).
        items: the prefix of the step's items that send it (``campaign-``); ``None``: any item.
        creates: the prefix of the create items whose body is made of it (``campaign-2``
            sends ``campaigns[2]``); ``None``: the step creates nothing from it.
    """

    name: str
    items: str | None = None
    creates: str | None = None


class Need(Generic[T]):
    """The name of a dependency of type ``T`` a step takes from its context.

    A step lists what it needs (``needs=(SENT_API, ...)``); the worker is given a mapping
    ``{need: value}`` and refuses to start when a step of a flow it runs needs one it lacks.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Need({self.name!r})"


#: Sent's API client (the one the worker calls through).
SENT_API: Need[SentApi] = Need("sent_api")
#: The store's reads of attempts and resources (what proves a resource an onboarding's own).
OWNERSHIP_READS: Need[OwnershipReads] = Need("ownership_reads")


class StepOutput(BaseModel):
    """Base of an item's output model: extra fields are kept (older records stay readable)."""

    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass(frozen=True, slots=True)
class Result(Generic[M]):
    """Where one item's typed output lives: ``(step, item)`` and its model."""

    step: str
    item: str
    model: type[M]

    def parse(self, output: Mapping[str, Any] | None) -> M | None:
        """The stored output as the model (``None`` when the item is not done)."""
        return None if output is None else self.model.model_validate(dict(output))


def stored(output: Mapping[str, Any] | BaseModel) -> Mapping[str, Any]:
    """An item's output as it is stored: a model's JSON object (the fields it was given),
    or the mapping itself."""
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json", exclude_unset=True)
    return output
