"""ckptd: a client for the ckptd checkpoint download daemon.

It speaks the daemon's protocol (JSON-RPC 2.0 over its Unix socket, see
proto/PROTOCOL.md) with the standard library only::

    import ckptd
    with ckptd.Client() as c:
        job = c.download_checkpoint("7e0bad2d-...", "/data/ckpt")
        c.wait(job["id"], progress=lambda p: print(p["bytes_done"]))
"""
from .client import Client, default_socket_path
from .errors import (CkptdError, ConnectionFailed, InternalError, InvalidParams, InvalidRequest,
                     JobFailed, LineTooLong, MasterError, MethodNotFound, NotFound, ParseError,
                     ProtocolError, ShuttingDown, Timeout, TooManyClients, TransitionNotAllowed,
                     UnknownJob, UnsafePath, UnsupportedVersion, WaitTimeout)

__version__ = "0.1.0"
__all__ = [
    "Client", "default_socket_path", "CkptdError", "ConnectionFailed", "InternalError",
    "InvalidParams", "InvalidRequest", "JobFailed", "LineTooLong", "MasterError",
    "MethodNotFound", "NotFound", "ParseError", "ProtocolError", "ShuttingDown", "Timeout",
    "TooManyClients", "TransitionNotAllowed", "UnknownJob", "UnsafePath", "UnsupportedVersion",
    "WaitTimeout",
]
