"""Who may use the console, and proof that a state-changing request came from the console itself.

With MAILBUS_CONSOLE_TOKEN set, a request needs `Authorization: Bearer <token>` or the session
cookie that the login form sets once the token was typed in. Without a token (loopback only, as
`mailbus dev` runs it) every local user may look. Either way a POST from a browser needs the CSRF
token of its session cookie: HMAC(key, session id), where the key derives from the token (so
several console processes agree) or is random per process. The cookie is HttpOnly and
SameSite=Strict, so another site can neither read it nor make the browser send it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

COOKIE = "mailbus_console"
SESSION_SECONDS = 12 * 3600


class Access:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self._key = (
            hashlib.sha256(b"mailbus console session\0" + token.encode()).digest()
            if token
            else secrets.token_bytes(32)
        )

    @property
    def open(self) -> bool:
        """No token configured: looking needs no login (the server only listens on loopback)."""
        return not self.token

    def bearer_ok(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        return bool(
            self.token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(value.strip().encode(), self.token.encode())
        )

    def token_ok(self, typed: str) -> bool:
        return bool(self.token) and hmac.compare_digest(typed.encode(), (self.token or "").encode())

    def new_session(self) -> str:
        """A cookie value: issued-at, a random session id, and their signature."""
        value = f"{int(time.time())}.{secrets.token_urlsafe(18)}"
        return f"{value}.{self._sign('session', value)}"

    def session_id(self, cookie: str | None) -> str | None:
        """The session id of a valid, unexpired cookie, else None."""
        if not cookie or cookie.count(".") != 2:
            return None
        issued, sid, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign("session", f"{issued}.{sid}")):
            return None
        if not issued.isdigit() or time.time() - int(issued) > SESSION_SECONDS:
            return None
        return sid

    def csrf_token(self, sid: str) -> str:
        return self._sign("csrf", sid)

    def csrf_ok(self, sid: str | None, submitted: str) -> bool:
        return sid is not None and hmac.compare_digest(submitted, self.csrf_token(sid))

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()
