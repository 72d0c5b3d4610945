"""What SPLP's HTTP APIs share: RFC 9457 problem answers and the body-size limit.

The directory and audit APIs (and every later HTTP front of the control plane) raise
:class:`Problem` and are built with :func:`install` and :class:`BodyLimit`.
"""

from __future__ import annotations

from splp.problem_details import PROBLEM_JSON, problem_body
from splp.web.problems import (
    PROBLEM_RESPONSE,
    BodyLimit,
    Problem,
    install,
    problem_response,
    problem_responses,
)

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_RESPONSE",
    "BodyLimit",
    "Problem",
    "install",
    "problem_body",
    "problem_response",
    "problem_responses",
]
