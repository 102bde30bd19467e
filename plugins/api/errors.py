"""Docker's error shape: ``{"message": "..."}`` with the status docker gives for that kind of failure."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the caller: ``status`` and one line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def status_for(exc: Exception) -> int:
    """The HTTP status for a layer's error, as docker answers the same situation."""
    from pycr.core import ConfigError, StateError

    text = str(exc).lower()
    if "no such" in text or "does not exist" in text or "not in the store" in text:
        return 404
    if "already in use" in text or "ambiguous" in text or isinstance(exc, StateError):
        return 409
    if isinstance(exc, ConfigError):
        return 400
    return 500


def from_layer(exc: Exception) -> ApiError:
    return ApiError(status_for(exc), str(exc))


def unsupported(field: str, why: str = "pycr does not support it") -> ApiError:
    return ApiError(400, f"{field}: {why}")


def object_field(body: dict, key: str, where: str = "") -> dict:
    """An object field (null or absent: empty); anything else is the caller's mistake, as
    docker's JSON decoder says "cannot unmarshal"."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{where}{key}: expected an object, got {value!r:.60}")
    return value


def bool_field(body: dict, key: str, where: str = "") -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"{where}{key}: expected true or false, got {value!r:.60}")
    return bool(value)
