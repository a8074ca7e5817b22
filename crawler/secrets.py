"""What counts as a secret, and how it is blanked out before anything is written or printed.

One rule, used for settings, environment-derived values, site configs, log lines and WARC request headers:

- by name: a value whose key (setting, environment variable, header, query parameter, dict key) names a
  credential (`*SECRET*`, `*PASSWORD*`, `*PASS`, `*TOKEN*`, `*CREDENTIAL*`, `Authorization`, `*AUTH*`,
  `Cookie`, `*API_KEY`, `*ACCESS_KEY*`, `*PRIVATE_KEY*`, ...) is replaced whole by `[redacted]` when it is a
  string; booleans and numbers (`COOKIES_ENABLED = True`) are switches, not secrets, and stay readable;
- by shape, whatever the key: the password of a URL (`https://user:[redacted]@host`,
  `redis://:[redacted]@host`), secret-named query parameters (`?token=[redacted]`, presigned
  `X-Amz-Signature`), `Bearer` / `Basic` / ... credentials, AWS access key ids, JSON web tokens and PEM
  private keys.

Over-redacting a harmless value costs a line of debugging; under-redacting leaks a credential into every copy
of an archive. The rule errs on the first side.
"""

from __future__ import annotations

import ast
import logging
import pprint
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

_WORD = r"(?:^|[^a-z])"  # a word boundary in names like AWS_SESSION_TOKEN, X-Auth-Token, http_pass
_END = r"(?:$|[^a-z])"
_SECRET_NAME = re.compile(
    r"secret|passw(?:or)?d|passphrase|token|credential|authori[sz]ation|cookie|signature"
    rf"|{_WORD}(?:pass|pwd|auth|sig){_END}"
    r"|(?:api|access|private|secret|session|signing|encryption|auth|account)[-_ ]?key"
    r"|apikey|x[-_]amz[-_]security",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Value shapes that are credentials wherever they appear.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s?#]*):(?P<password>[^@/\s?#]+)@",
                           re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic|Digest|Token|Negotiate|NTLM|AWS4-HMAC-SHA256|Bot)"
                          r"(?P<sep>[ \t]+)(?P<credentials>[A-Za-z0-9._~+/=:-]{12,})")  # RFC 7235 token68
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)
_QUERY_PAIR = re.compile(r"(?P<key>[?&;][^=&;#\s'\"]+)=(?P<value>[^&;#\s'\"]*)")


def is_secret_name(name: str) -> bool:
    """True for a key that names a credential: AWS_SECRET_ACCESS_KEY, Authorization, http_pass, apiKey."""
    return bool(_SECRET_NAME.search(_CAMEL.sub("_", name)))


def redact_url(url: str) -> str:
    """`url` with its password and secret-named query values blanked out; the user name and host are kept
    (they say which account and server, and are no credential on their own)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{host}" if colon else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(key) for key, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="[]",
                              quote_via=quote)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)) if (netloc, query) != (
        parts.netloc, parts.query) else url


def _query_value(match: re.Match[str]) -> str:
    key = match["key"]
    return f"{key}={REDACTED}" if is_secret_name(key[1:]) else match[0]


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """Free text (a log line, an error message) with every secret shape and every `known` secret value
    blanked out. Known values are matched longest first, so a value containing another goes whole."""
    for value in sorted({v for v in known if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _PEM_KEY.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']}{m['sep']}{REDACTED}", text)
    text = _AWS_KEY_ID.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    if "=" in text:
        text = _QUERY_PAIR.sub(_query_value, text)
    return text


def redact_value(value: str) -> str:
    """A value under a harmless key, checked for the shapes of a credential."""
    if "://" in value and not any(c.isspace() for c in value):
        value = redact_url(value)
    return redact_text(value)


def redact(data: Any, secret: bool = False) -> Any:
    """`data` (settings, an environment, a site config dump: mappings, lists, scalars) with secrets blanked
    out by key name and by value shape. Everything under a secret key counts as secret."""
    if isinstance(data, Mapping):
        return {key: redact(value, secret or (isinstance(key, str) and is_secret_name(key)))
                for key, value in data.items()}
    if isinstance(data, list | tuple | set | frozenset):
        return [redact(value, secret) for value in data]
    if isinstance(data, bytes):
        return REDACTED if secret and data else redact_value(data.decode("latin-1"))
    if isinstance(data, str):
        return REDACTED if secret and data else redact_value(data)
    return data  # None, booleans, numbers, objects: not credentials


# --- configured request headers ------------------------------------------------------------------------------


ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization"})


@dataclass(frozen=True)
class HeaderSecrets:
    """Which request header values are configured secrets, for the WARC request records.

    `Authorization` and `Proxy-Authorization` are redacted whatever their value: no server sets them, so
    each one was configured (a site's headers, proxy credentials, HTTP auth). Other headers only when a
    site config set them under a secret name (`Cookie`, `X-Api-Key`): a `Cookie` the cookie jar replays came
    from the server, is part of the faithful capture, and keeps its value; only configured cookies do not.
    """

    values: frozenset[tuple[str, str]] = frozenset()  # (lower-case name, value) configured as a secret
    cookies: frozenset[tuple[str, str]] = frozenset()  # (name, value) of configured cookies

    @classmethod
    def configured(cls, headers: Mapping[str, str]) -> HeaderSecrets:
        values = {(name.lower(), value) for name, value in headers.items() if is_secret_name(name)}
        cookies = {pair for name, value in headers.items() if name.lower() == "cookie"
                   for pair in cookie_pairs(value)}
        return cls(frozenset(values), frozenset(cookies))

    def header(self, name: str, value: str) -> str:
        """The value to archive for one sent header."""
        lowered = name.lower()
        if lowered in ALWAYS_REDACTED_HEADERS or ((lowered, value) in self.values and lowered != "cookie"):
            return REDACTED
        if lowered == "cookie" and self.cookies:
            return "; ".join(f"{n}={REDACTED}" if (n, v) in self.cookies else (f"{n}={v}" if sep else n)
                             for n, sep, v in (p.strip().partition("=") for p in value.split(";") if p.strip()))
        return value


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    """`a=1; b=2` -> [("a", "1"), ("b", "2")]: a Cookie header as name/value pairs (RFC 6265 section 4.2)."""
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if name and sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


# --- logs ----------------------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Blanks secrets out of the records of one logger before any handler formats them.

    Scrapy logs `Overridden settings:` as a pformat'ed dict: it is read back (`ast.literal_eval`), redacted
    by key and shape, and printed again; one that cannot be read back is not printed at all. Any other
    record gets the shape rule on its rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if isinstance(record.msg, str) and record.msg.startswith("Overridden settings"):
            head, _, body = message.partition("\n")
            message = f"{head}\n{_redacted_pformat(body)}"
        redacted = redact_text(message)
        if redacted != record.getMessage():
            record.msg, record.args = redacted, ()
        return True


def _redacted_pformat(body: str) -> str:
    try:
        settings = ast.literal_eval(body)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return "(not shown: they could not be checked for secrets)"
    return pprint.pformat(redact(settings))


_FILTERED_LOGGERS = ("scrapy.crawler", "scrapy.utils.log", "scrapy.middleware", "scrapy.addons")


def install_log_redaction() -> None:
    """Put the filter on the loggers that print settings at start-up (idempotent). Logger filters, not
    handler filters: Scrapy replaces its root handler when a crawler starts, a logger keeps its filters."""
    for name in _FILTERED_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in log.filters):
            log.addFilter(RedactingFilter())


_GOT = re.compile(r" \(got .*\)$")
_KEY = re.compile(r"key '(?P<key>[^']*)'")


def redact_config_error(message: str) -> str:
    """A configuration error as printed: the `(got VALUE)` a validation error quotes is dropped for a key
    that names a secret or is a configured header, and the shape rule is applied to the rest."""
    lines = []
    for line in message.splitlines():
        key = _KEY.search(line)
        quiet = key and (key["key"].startswith("headers") or any(is_secret_name(p) for p in key["key"].split(".")))
        lines.append(redact_text(_GOT.sub(f" (got {REDACTED})", line) if quiet else line))
    return "\n".join(lines)
