"""Turn pydantic validation errors into one message that names the file, the key and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crawler.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def problem(where: str, key: str, message: str) -> str:
    """The one line every configuration problem is reported as: `<where>: key '<key>': <message>`."""
    return f"{where}: key '{key}': {message}"


def describe(error: ValidationError, where: Callable[[str], str]) -> str:
    """One line per problem: `<where>: key '<key>': <what was expected> (got <value>)`."""
    lines = []
    for err in error.errors():
        key = _key(err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        got = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {err['input']!r})"
        lines.append(problem(where(key), key, f"{msg}{got}"))
    return "\n".join(lines)


def validate(model: type[M], data: dict[str, Any], where: Callable[[str], str]) -> M:
    """Validate `data` into `model`, raising ConfigError with a readable message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, where)) from None
