"""How a flow's workflow names its handlers: ``@on_action``, ``@refusal``, ``@on_expiry``.

Each decorator marks a method with the declared names it serves; ``OrderWorkflow`` collects
the marks when the flow's class is made and checks them against the flow's declaration
(``flows/<flow>/declaration.py``), so a declared action or deadline without its handler, or
a handler of something undeclared, fails at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    pass


Method = TypeVar("Method", bound=Callable[..., Any])


# The attributes the decorators below set on a flow's methods.
_ACTIONS, _REFUSALS, _EXPIRIES = "__order_actions__", "__order_refusals__", "__order_expiries__"


def _marking(attribute: str, names: tuple[str, ...]) -> Callable[[Method], Method]:
    def mark(method: Method) -> Method:
        setattr(method, attribute, names)
        return method

    return mark


def on_action(*names: str) -> Callable[[Method], Method]:
    """The handler of these declared actions: ``(self, actor, payload)``, sync or async.

    It runs under the order's lock once every check passed; what it raises is a refusal
    (``reject``) or, if unexpected, an ``ActionFailed`` answer (never a failed task).
    """
    return _marking(_ACTIONS, names)


def refusal(*names: str) -> Callable[[Method], Method]:
    """Why these actions are refused now: ``(self, actor, payload) -> str | None``.

    Called after the declaration's role and state check and the flow's ``rules``; the
    payload is None when the engine lists the actions allowed now. No side effects.
    """
    return _marking(_REFUSALS, names)


def on_expiry(*names: str) -> Callable[[Method], Method]:
    """What happens when these declared deadlines expire: ``async (self) -> None``."""
    return _marking(_EXPIRIES, names)


def _marked(cls: type, attribute: str) -> dict[str, str]:
    """Name -> method name, for the methods of ``cls`` (and its bases) marked so."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for method_name, member in vars(klass).items():
            for name in getattr(member, attribute, ()):
                found[name] = method_name
    return found
