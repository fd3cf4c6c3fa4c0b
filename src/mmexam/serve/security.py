"""Access codes, sessions and CSRF tokens: the web app's secrets, in one place.

- Access codes: 16 characters from a 32-letter alphabet without look-alikes
  (80 bits), printed as XXXX-XXXX-XXXX-XXXX. Only a salted scrypt hash is
  stored; a typed code is compared in constant time, case and dashes ignored.
- Sessions: a cookie signed with the exam's secret (itsdangerous), holding the
  role, the student id and a random nonce; HttpOnly, SameSite=Strict, Secure
  over HTTPS, and valid for `SESSION_SECONDS`.
- CSRF: every write carries a token that is an HMAC of the session nonce
  (in the `X-CSRF-Token` header or a `csrf` form field); a login form carries
  the HMAC of a pre-session cookie's nonce (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1
CODE_LENGTH = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_SECONDS = 12 * 3600
SESSION_COOKIE = "mmexam_session"
LOGIN_COOKIE = "mmexam_login"


def new_code() -> str:
    """A fresh access code, e.g. 'K7QF-M2XD-9RTA-HW4C' (about 79 bits)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(typed: str) -> str:
    return "".join(c for c in typed.upper() if c.isalnum())


def hash_code(code: str, salt: bytes | None = None) -> str:
    """'scrypt$n$r$p$salt$hash' of the normalised code."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        normalise_code(code).encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.urlsafe_b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


_DUMMY = None


def verify_code(code: str, stored: str | None) -> bool:
    """Whether `code` matches the stored hash; takes as long when there is none."""
    global _DUMMY
    if stored is None:
        _DUMMY = _DUMMY or hash_code(new_code())
        stored, real = _DUMMY, False
    else:
        real = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            normalise_code(code)[:64].encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.urlsafe_b64decode(digest)) and real


@dataclass(frozen=True)
class Session:
    """Who a request comes from: a student (with their id) or staff."""

    role: str  # "student" or "staff"
    student: str | None
    nonce: str


class Signer:
    """Signs session cookies and derives CSRF tokens from the exam's secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._cookies = URLSafeTimedSerializer(secret, salt="mmexam-session")

    def session_cookie(self, role: str, student: str | None) -> tuple[str, Session]:
        session = Session(role, student, secrets.token_urlsafe(16))
        value = self._cookies.dumps({"r": role, "s": student, "n": session.nonce})
        return value, session

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._cookies.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("r") not in ("student", "staff"):
            return None
        return Session(data["r"], data.get("s"), str(data.get("n", "")))

    def csrf(self, nonce: str) -> str:
        return hmac.new(self._secret, f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf(nonce), token)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' of a staff password, as typed."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password[:256].encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.urlsafe_b64decode(digest)),
        )
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(got, base64.urlsafe_b64decode(digest))
