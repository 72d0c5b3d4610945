"""The access procedure of Bungo regulation Pasal 7 as a state machine.

::

    submitted --approve--> approved --grant----> granted --suspend--> suspended
        |                     |                    |  ^                  |  |
        +------reject--> rejected   +--decline--> declined   +---resume---+  |
                                                   +--revoke--> revoked <----+

* ``approve`` and ``reject`` are the administrator's (Pasal 7b);
* ``grant`` and ``decline`` belong to the publisher that owns the service (Pasal 7c);
* ``revoke``, ``suspend`` and ``resume`` to the administrator or the owning publisher
  (supervision, Pasal 8(5)).

>>> import textwrap
>>> check_step("approved", "grant")
'granted'
>>> try:
...     check_step("submitted", "grant")
... except IllegalStep as exc:
...     print(textwrap.fill(str(exc), 100))
cannot grant a request that is submitted: grant needs approved; the administrator approves or
rejects it first
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from splp.vocabulary import AccessState

Step = Literal["approve", "reject", "grant", "decline", "revoke", "suspend", "resume"]
Actor = Literal["administrator", "owner"]

STEPS: tuple[Step, ...] = get_args(Step)
TERMINAL: frozenset[AccessState] = frozenset({"rejected", "declined", "revoked"})
NEGATIVE_STEPS: frozenset[Step] = frozenset({"reject", "decline", "revoke", "suspend"})


@dataclass(frozen=True, slots=True)
class Transition:
    step: Step
    source: frozenset[AccessState]
    target: AccessState
    actors: frozenset[Actor]


TRANSITIONS: dict[Step, Transition] = {
    t.step: t
    for t in (
        Transition("approve", frozenset({"submitted"}), "approved", frozenset({"administrator"})),
        Transition("reject", frozenset({"submitted"}), "rejected", frozenset({"administrator"})),
        Transition("grant", frozenset({"approved"}), "granted", frozenset({"owner"})),
        Transition("decline", frozenset({"approved"}), "declined", frozenset({"owner"})),
        Transition(
            "revoke",
            frozenset({"granted", "suspended"}),
            "revoked",
            frozenset({"administrator", "owner"}),
        ),
        Transition(
            "suspend", frozenset({"granted"}), "suspended", frozenset({"administrator", "owner"})
        ),
        Transition(
            "resume", frozenset({"suspended"}), "granted", frozenset({"administrator", "owner"})
        ),
    )
}

_NEXT_STEPS_HINT: dict[str, str] = {
    "submitted": "the administrator approves or rejects it first",
    "approved": "the owning publisher grants or declines it next",
    "granted": "it can only be suspended or revoked now",
    "suspended": "it can only be resumed or revoked now",
}


class IllegalStep(ValueError):
    """The step does not apply to the request's current state."""


def check_step(state: str, step: Step) -> str:
    """The state after ``step`` from ``state``; raise :class:`IllegalStep` with the reason."""
    transition = TRANSITIONS[step]
    if state in transition.source:
        return transition.target
    needed = " or ".join(sorted(transition.source))
    if state in TERMINAL:
        why = f"{state} is final"
    else:
        why = _NEXT_STEPS_HINT.get(state, f"it is {state}")
    raise IllegalStep(f"cannot {step} a request that is {state}: {step} needs {needed}; {why}")


def may_step(step: Step, *, is_administrator: bool, is_owner: bool) -> bool:
    """Whether a caller with these relations to the request may take ``step`` at all."""
    actors = TRANSITIONS[step].actors
    return (is_administrator and "administrator" in actors) or (is_owner and "owner" in actors)


def who_may(step: Step) -> str:
    """A phrase naming who may take ``step``, for error messages."""
    actors = TRANSITIONS[step].actors
    if actors == {"administrator"}:
        return "only an administrator"
    if actors == {"owner"}:
        return "only the publisher that owns the service"
    return "only an administrator or the publisher that owns the service"
