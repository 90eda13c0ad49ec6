"""API keys: ``sk-`` + 32 random bytes (URL-safe base64), stored as SHA-256 hash + prefix.

A key is shown once (at creation). The database keeps only ``sha256(key)`` (hex) and the first
10 characters for display; a lookup hashes the presented key and finds the row by its hash
(an index lookup on a SHA-256 digest leaks nothing useful about the key).
Keys never reach a log: :class:`RedactKeys` scrubs anything that looks like one.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

PREFIX_LEN = 10  # characters of the key kept in clear for display ("sk-AbCdEfG")
_KEY_RE = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")


def new_api_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def redact(text: str) -> str:
    return _KEY_RE.sub("sk-***", text)


class RedactKeys(logging.Filter):
    """Logging filter that replaces API keys in messages and arguments by ``sk-***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


_installed = False


def install_redaction() -> None:
    """Redact keys in every log record of the process (a record factory sees each record
    whatever its logger or handler; logger filters would miss records of child loggers)."""
    global _installed
    if _installed:
        return
    old = logging.getLogRecordFactory()
    scrub = RedactKeys()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = old(*args, **kwargs)
        scrub.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
