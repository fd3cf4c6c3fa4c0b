"""The web stack that `mmexam serve` (and later `mmexam review`) is built on.

Starlette + uvicorn; pages are Jinja2 templates from the templates folder
(autoescaped: every string a user typed is escaped on every page); assets are
served from `templates/serve/static/` by mmexam itself (no CDN). Here:

- `BodyLimit`: refuses a request body over the limit with 413, before it is read.
- `security_headers`: CSP without inline scripts, no framing, no sniffing, no caching.
- `WebAuth`: the signed session cookie and the CSRF checks every write goes through.
- `page`: render a template to an HTML response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from mmexam.paths import TEMPLATES
from mmexam.serve.security import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Session, Signer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATIC = TEMPLATES / "serve" / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes is refused with 413 and never read whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(self.limit, send)
                    return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            if refused:
                await _too_large(self.limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps({"error": f"the request is larger than {limit // 1024} KiB"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: the same protective headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"public, max-age=300" if static else b"no-store"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(STATIC))


def json_script(data: Any) -> Markup:
    """JSON for a <script type="application/json"> element: '<', '>' and '&' escaped."""
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def page(name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """Render templates/<name> (autoescaped) to an HTML response."""
    from mmexam.build.render import templates

    env = templates(TEMPLATES).html
    env.filters.setdefault("json_script", json_script)
    return HTMLResponse(env.get_template(name).render(context), status_code=status)


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class WebAuth:
    """Sessions in signed cookies, and the CSRF check of every write."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def session(self, request: Request) -> Session | None:
        return self.signer.read_session(request.cookies.get(SESSION_COOKIE))

    def start(self, response: Response, request: Request, role: str, student: str | None) -> None:
        value, _ = self.signer.session_cookie(role, student)
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/")

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/")

    def csrf_for(self, session: Session) -> str:
        return self.signer.csrf(session.nonce)

    def csrf_ok(self, request: Request, session: Session, form: dict[str, str] | None) -> bool:
        token = request.headers.get("x-csrf-token") or (form or {}).get("csrf")
        return self.signer.csrf_ok(session.nonce, token)

    # The login form's CSRF: a random nonce in a short-lived cookie, its HMAC in the form.
    def login_token(self, request: Request, response: Response | None = None) -> tuple[str, str]:
        import secrets

        nonce = request.cookies.get(LOGIN_COOKIE)
        if not nonce or len(nonce) > 64:
            nonce = secrets.token_urlsafe(16)
        return nonce, self.signer.csrf("login|" + nonce)

    def set_login_cookie(self, response: Response, request: Request, nonce: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    def login_ok(self, request: Request, form: dict[str, str]) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE)
        return bool(nonce) and self.signer.csrf_ok("login|" + str(nonce), form.get("csrf"))


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (the body limit applies)."""
    from urllib.parse import parse_qsl

    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=50))


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
