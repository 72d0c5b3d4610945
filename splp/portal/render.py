"""Pages: Jinja2 templates (autoescaped), the person's language, and the security headers
every page carries (a CSP that allows no inline script and no other origin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from splp.portal.i18n import DEFAULT, LANGUAGES, gettext_for, ngettext_for, number, when
from splp.web.csrf import CSRF_FIELD

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "splp_lang"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.install_gettext_callables(  # type: ignore[attr-defined]
    gettext_for(DEFAULT), ngettext_for(DEFAULT), newstyle=True
)


def language_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, DEFAULT)
    return wanted if wanted in LANGUAGES else DEFAULT


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    crumbs: list[tuple[str, str | None]] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered for the person of ``request``, with the security headers."""
    language = language_of(request)
    gettext = gettext_for(language)
    html = environment.get_template(template).render(
        request=request,
        lang=language,
        gettext=gettext,
        ngettext=ngettext_for(language),
        _=gettext,
        when=lambda value: when(value, language),
        number=lambda value, places=1: number(value, language, places),
        crumbs=crumbs or [],
        csrf_field=CSRF_FIELD,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, language, max_age=365 * 86400, secure=True, samesite="lax", httponly=True
        )
    return response
