"""Keeping secrets out of log lines and error messages.

What is redacted, wherever it appears in a message or a formatted traceback: the password of
a URL (``postgresql://user:***@host``), ``token=``-like query values, ``Bearer``/``Basic``
credentials and ``Authorization`` header values, the secret path of Slack and Discord
webhooks, ``password=`` values, and the literal values of secrets the server was configured
with. The :class:`RedactingFilter`, installed on every log handler by ``serve``, applies it
to every record, from our loggers and libraries alike.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from bot.core.config import Config

MASK = "***"

# Configured secrets shorter than this are not replaced by value: a two-letter development
# token would shred every log line that happens to contain those letters. The patterns below
# still catch them where they appear as a token, a password or a credential.
MIN_SECRET_LENGTH = 6

# scheme://user:PASSWORD@host. The password runs to the last "@" before the path, since
# passwords with an unescaped "@" do occur.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s/]*(?=@)")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:token|access_token|auth_token|refresh_token|id_token|api_key|apikey"
    r"|key|secret|client_secret|password|passwd|signature|sig|jwt)=)[^&#\s'\"]*",
    re.IGNORECASE,
)
# The value of an Authorization header, with or without a scheme, as it appears in a raw
# header line, a dict's repr or a JSON object.
_AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:Proxy-)?Authorization['\"]?\s*[:=]\s*['\"]?"
    r"(?:(?:Bearer|Basic|Digest|Token)\s+)?+)(?!<)[^\s'\",}]+",
    re.IGNORECASE,
)
# A bearer token on its own. At least eight characters, so that prose ("Bearer token
# required") stays readable; real tokens are far longer.
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_PASSWORD_FIELD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)(?:=|['\"]\s*:\s*['\"]))[^\s'\"&,}]+",
    re.IGNORECASE,
)
# Incoming-webhook URLs whose path is the credential: anyone with it can post (Slack,
# Discord, Microsoft Teams).
_WEBHOOK_PATH = re.compile(
    r"(?P<head>\b(?:hooks\.slack\.com|discord(?:app)?\.com/api/webhooks"
    r"|(?:[\w-]+\.)?webhook\.office\.com|outlook\.office\.com/webhook)/)[^\s'\"<>]+",
    re.IGNORECASE,
)
_PATTERNS = (_URL_PASSWORD, _QUERY_SECRET, _AUTH_HEADER, _BEARER, _PASSWORD_FIELD)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials and the given secret values replaced by ``***``."""
    for secret in sorted(_usable(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _WEBHOOK_PATH.sub(rf"\g<head>{MASK}", text)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<head>{MASK}", text)
    return text


def config_secrets(config: Config) -> tuple[str, ...]:
    """The configured values that must never appear in a log line or an error message."""
    secrets = [config.auth_token, config.jwt_secret, config.metrics_token]
    secrets += url_secrets(config.database_url, config.redis_url, config.action_server_url)
    # Read from the raw [alerts] table (bot.ops validates it, and sits above this layer): a
    # value that is not a string is no secret of ours to hide.
    alerts = config.extra.get("alerts")
    hooks = alerts.get("webhooks") if isinstance(alerts, Mapping) else None
    for hook in hooks if isinstance(hooks, list) else ():
        if not isinstance(hook, Mapping):
            continue
        if isinstance(hook.get("secret"), str):
            secrets.append(hook["secret"])
        # Slack's incoming webhooks check no signature: the URL's path is the secret.
        if hook.get("format") == "slack" and isinstance(hook.get("url"), str):
            secrets.append(urlsplit(hook["url"]).path.strip("/"))
    return tuple(s for s in secrets if s)


def url_secrets(*urls: str) -> list[str]:
    """The passwords in these URLs, as written in them and decoded."""
    found = []
    for url in urls:
        with contextlib.suppress(ValueError):
            password = urlsplit(url).password
            if password:
                found += [password, unquote(password)]
    return found


def _usable(secrets: Iterable[str]) -> set[str]:
    usable = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    # A secret sent in a URL arrives percent-encoded.
    return usable | {quote(s, safe="") for s in usable}


_PLAIN = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redacts the message, the traceback and the stack of every record through a handler.

    The traceback is formatted here, once, into ``record.exc_text``: ``logging.Formatter``
    uses that text when it is set instead of formatting ``exc_info`` again, so the secrets in
    an exception's message or in a frame's source line never reach the output.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = frozenset(_usable(secrets))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True
