"""Exceptions: one per error name of the protocol (proto/PROTOCOL.md)."""
from typing import Any, Dict, Optional, Type


class CkptdError(Exception):
    """Base of every error. ``name`` is the protocol's ``data.name`` (stable,
    for programs), ``code`` the JSON-RPC code, ``data`` the whole ``data``
    object (``unsafe_path`` carries ``path``, ``transition_not_allowed``
    ``state``)."""

    name = "error"

    def __init__(self, message: str, code: Optional[int] = None,
                 data: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data: Dict[str, Any] = dict(data or {})
        self.name = self.data.get("name", type(self).name)


class ConnectionFailed(CkptdError):
    """The socket cannot be reached, or the daemon closed the connection."""
    name = "connection_failed"


class ProtocolError(CkptdError):
    """The daemon sent something this client cannot read."""
    name = "protocol_error"


class JobFailed(CkptdError):
    """``wait`` saw the job end ``failed`` or ``canceled``; ``job`` is its summary."""
    name = "job_failed"

    def __init__(self, message: str, job: Dict[str, Any]) -> None:
        super().__init__(message, None, {"name": self.name})
        self.job = job


class WaitTimeout(CkptdError):
    """``wait`` ran out of time; the job goes on."""
    name = "wait_timeout"


class ParseError(CkptdError):
    name = "parse_error"


class InvalidRequest(CkptdError):
    name = "invalid_request"


class MethodNotFound(CkptdError):
    name = "method_not_found"


class InvalidParams(CkptdError):
    name = "invalid_params"


class InternalError(CkptdError):
    name = "internal_error"


class UnknownJob(CkptdError):
    name = "unknown_job"


class TransitionNotAllowed(CkptdError):
    name = "transition_not_allowed"


class UnsupportedVersion(CkptdError):
    name = "unsupported_version"


class UnsafePath(CkptdError):
    name = "unsafe_path"


class LineTooLong(CkptdError):
    name = "line_too_long"


class ShuttingDown(CkptdError):
    name = "shutting_down"


class TooManyClients(CkptdError):
    name = "too_many_clients"


class Timeout(CkptdError):
    name = "timeout"


class MasterError(CkptdError):
    name = "master_error"


class NotFound(CkptdError):
    name = "not_found"


_BY_NAME: Dict[str, Type[CkptdError]] = {
    c.name: c for c in (ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError,
                        UnknownJob, TransitionNotAllowed, UnsupportedVersion, UnsafePath,
                        LineTooLong, ShuttingDown, TooManyClients, Timeout, MasterError,
                        NotFound)
}


def from_reply(error: Any) -> CkptdError:
    """The exception for a JSON-RPC error object (an unknown name: CkptdError)."""
    if not isinstance(error, dict):
        return ProtocolError(f"malformed error reply: {error!r}"[:300])
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    cls = _BY_NAME.get(str(data.get("name")), CkptdError)
    code = error.get("code") if isinstance(error.get("code"), int) else None
    return cls(str(error.get("message", "error")), code, data)
