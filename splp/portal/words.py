"""Words the templates translate from data (roles, states, steps, classifications,
breadcrumb labels), marked here so that the catalog extraction finds them."""

from __future__ import annotations


def N_(message: str) -> str:
    return message


ROLES = [
    N_("administrator"),
    N_("publisher"),
    N_("requester"),
    N_("monitor"),
    N_("gateway"),
    N_("partner"),
]
STATES = [
    N_("submitted"),
    N_("approved"),
    N_("rejected"),
    N_("granted"),
    N_("declined"),
    N_("suspended"),
    N_("revoked"),
]
STEPS = [
    N_("request"),
    N_("approve"),
    N_("reject"),
    N_("grant"),
    N_("decline"),
    N_("suspend"),
    N_("resume"),
    N_("revoke"),
]
CLASSIFICATIONS = [N_("public"), N_("internal"), N_("personal"), N_("sensitive")]
LIFECYCLES = [N_("published"), N_("deprecated"), N_("retired")]
PERSON_STATES = [N_("active"), N_("pending"), N_("locked"), N_("disabled")]
BROKER_KINDS = [
    N_("users"),
    N_("permissions"),
    N_("topic_permissions"),
    N_("exchanges"),
    N_("queues"),
    N_("bindings"),
]
CRUMBS = [N_("Catalogue"), N_("Access requests"), N_("New request"), N_("My grants")]
MESSAGES = [
    N_("The form has expired: reload the page and try again."),
    N_("No such step."),
    N_("Give the date as YYYY-MM-DD."),
    N_("Attach the letter as a PDF file."),
    N_("The file is too large."),
    N_("The file is not a PDF document."),
    N_("This is required."),
]
