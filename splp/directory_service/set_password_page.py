"""The page a one-time set-password link opens: plain HTML in Bahasa Indonesia, no script,
no external asset, so it works before the person has any session.

>>> "Atur kata sandi" in page("abc").body.decode()
True
>>> "&lt;b&gt;" in page("<b>").body.decode()
True
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from splp.directory_service.passwords import MIN_LENGTH

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(token: str, *, error: str = "", done: bool = False, status: int = 200) -> HTMLResponse:
    if done:
        main = "<p role='status'>Kata sandi tersimpan. Silakan masuk ke Aplikasi SPLP.</p>"
    else:
        alert = f"<p role='alert' id='galat'>{escape(error)}</p>" if error else ""
        described = " aria-describedby='galat'" if error else ""
        main = f"""{alert}
<form method="post" action="set-password/form">
<input type="hidden" name="token" value="{escape(token, quote=True)}">
<p><label for="password">Kata sandi baru (minimal {MIN_LENGTH} karakter)</label><br>
<input id="password" name="password" type="password" autocomplete="new-password"
 minlength="{MIN_LENGTH}" required{described}></p>
<p><label for="password_again">Ulangi kata sandi</label><br>
<input id="password_again" name="password_again" type="password" autocomplete="new-password"
 minlength="{MIN_LENGTH}" required></p>
<p><button type="submit">Simpan kata sandi</button></p>
</form>"""
    html = f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Atur kata sandi - Aplikasi SPLP</title></head>
<body><main><h1>Atur kata sandi</h1>
{main}
</main></body></html>
"""
    return HTMLResponse(html, status_code=status, headers=HEADERS)
