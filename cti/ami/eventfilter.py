"""What Asterisk's ``eventfilter`` lines of an AMI user let through.

The CTI's AMI user (``dialplans/manager.conf``) excludes the events it never reads,
so Asterisk does not write them and the service does not decode them. Recorded
traffic is captured without those filters; this module applies them the way
Asterisk does (the advanced syntax, ``eventfilter(action(...),name(...),
header(...),method(...)) = expression``), so tests can prove the filters drop
nothing the service uses and benchmarks can replay what production receives.

Only exclusions are supported: an include filter would drop every event it does not
name, which is never what the CTI's user wants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_LINE = re.compile(r"^eventfilter\((?P<criteria>[^=]*)\)\s*=\s*(?P<expr>.*)$")
_CRITERION = re.compile(r"(\w+)\(([^)]*)\)")
_METHODS = frozenset({"none", "exact", "starts_with", "ends_with", "contains", "regex"})


class EventFilterError(ValueError):
    """A line this module does not understand (legacy syntax, include filters...)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One exclusion: events named ``name`` whose ``header`` matches ``expression``."""

    name: str | None
    header: str | None
    method: str
    expression: str

    def matches(self, msg: Mapping[str, str]) -> bool:
        if self.name is not None and msg.get("Event") != self.name:
            return False
        if self.header is None:
            return True
        value = msg.get(self.header)
        if value is None:
            return False
        method, expression = self.method, self.expression
        if method == "none":
            return True
        if method == "exact":
            return value == expression
        if method == "starts_with":
            return value.startswith(expression)
        if method == "ends_with":
            return value.endswith(expression)
        if method == "contains":
            return expression in value
        return re.search(expression, value) is not None


def parse(text: str) -> list[EventFilter]:
    """The ``eventfilter`` lines of a manager.conf user section (every one in ``text``)."""
    found: list[EventFilter] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("eventfilter"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise EventFilterError(f"not the advanced eventfilter syntax: {line}")
        criteria = dict(_CRITERION.findall(m["criteria"]))
        if not set(criteria) <= {"action", "name", "header", "method"}:
            raise EventFilterError(f"unknown criterion in: {line}")
        if criteria.get("action", "include") != "exclude":
            raise EventFilterError(f"only exclusions are supported: {line}")
        method = criteria.get("method", "none")
        if method not in _METHODS:
            raise EventFilterError(f"unknown method {method!r} in: {line}")
        expression = m["expr"].strip()
        if method == "regex":
            re.compile(expression)
        found.append(EventFilter(criteria.get("name"), criteria.get("header"), method, expression))
    return found


def delivered(filters: Sequence[EventFilter], msg: Mapping[str, str]) -> bool:
    """Whether Asterisk writes ``msg`` to a session with these (exclusion) filters."""
    return not any(f.matches(msg) for f in filters)
