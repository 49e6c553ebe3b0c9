"""The client: one connection to the daemon's socket (see proto/PROTOCOL.md)."""
import json
import os
import socket
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from .errors import (CkptdError, ConnectionFailed, JobFailed, ProtocolError, WaitTimeout,
                     from_reply)

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024 * 1024  # lines from the daemon may be long; none longer than this
MANIFEST = ".ckptd.xxh128"   # ckptd's record inside every checkpoint it published
TERMINAL = ("done", "failed", "canceled")

Job = Dict[str, Any]
ProgressCallback = Callable[[Dict[str, Any]], None]


def default_socket_path() -> str:
    """Where ``ckpt`` looks: $CKPTD_SOCKET, else $XDG_RUNTIME_DIR/ckptd.sock, else
    /tmp/ckptd-$UID/ckptd.sock."""
    env = os.environ.get("CKPTD_SOCKET")
    if env:
        return env
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run:
        return os.path.join(run, "ckptd.sock")
    return f"/tmp/ckptd-{os.getuid()}/ckptd.sock"


class Client:
    """A connection to ckptd. Errors the daemon returns are raised as the
    exception of their ``data.name`` (``ckptd.UnknownJob``, ...), each a
    ``ckptd.CkptdError`` carrying ``name``, ``code`` and ``data``."""

    def __init__(self, socket_path: Optional[str] = None, timeout: float = 60.0,
                 client_name: str = "ckptd-python 0.1.0") -> None:
        self.socket_path = socket_path or default_socket_path()
        self.timeout = timeout
        self._buf = b""
        self._next_id = 1
        self._events: List[Dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(self.socket_path)
        except OSError as e:
            self._sock.close()
            raise ConnectionFailed(f"cannot connect to ckptd at '{self.socket_path}': "
                                   f"{e.strerror or e}") from None
        hello = self.call("daemon.hello", {"protocol": [PROTOCOL_VERSION], "client": client_name})
        if hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise ProtocolError(f"ckptd chose protocol {hello.get('protocol')!r}, "
                                f"this client speaks {PROTOCOL_VERSION}")
        self.daemon: str = str(hello.get("daemon", ""))

    # ---- the connection ---------------------------------------------------

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _read_message(self, deadline: Optional[float]) -> Dict[str, Any]:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                if line.endswith(b"\r"):
                    line = line[:-1]
                try:
                    msg = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise ProtocolError(f"ckptd sent a line that is not JSON: {line[:200]!r}")
                if not isinstance(msg, dict):
                    raise ProtocolError("ckptd sent a JSON value that is not an object")
                return msg
            if len(self._buf) > MAX_LINE:
                raise ProtocolError(f"ckptd sent a line longer than {MAX_LINE} bytes")
            wait = self.timeout if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                raise socket.timeout()
            self._sock.settimeout(wait)
            try:
                chunk = self._sock.recv(1 << 20)
            except socket.timeout:
                raise
            except OSError as e:
                raise ConnectionFailed(f"connection to ckptd failed: {e}") from None
            if not chunk:
                raise ConnectionFailed("ckptd closed the connection")
            self._buf += chunk

    def call(self, method: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """One request; returns its result. Notifications that arrive before
        the reply are kept for ``wait``."""
        rid = self._next_id
        self._next_id += 1
        req: Dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        data = json.dumps(req, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(data)
        except OSError as e:
            raise ConnectionFailed(f"cannot send to ckptd: {e}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                msg = self._read_message(deadline)
            except socket.timeout:
                raise ConnectionFailed(f"no reply from ckptd to {method} within "
                                       f"{self.timeout}s") from None
            if "id" not in msg:
                self._events.append(msg)
                continue
            if msg.get("id") not in (rid, None):
                raise ProtocolError(f"reply to request {msg.get('id')!r}, expected {rid}")
            if "error" in msg:
                raise from_reply(msg["error"])
            result = msg.get("result")
            if not isinstance(result, dict):
                raise ProtocolError(f"the reply to {method} has no result object")
            return result

    # ---- jobs ---------------------------------------------------------------

    def submit(self, source: Dict[str, Any], output: str,
               options: Optional[Dict[str, Any]] = None) -> Job:
        """``job.submit``: returns the new job's summary (``id``, ``state``, ...).
        ``output`` is made absolute against this process's working directory."""
        params: Dict[str, Any] = {"source": source, "output": os.path.abspath(output)}
        if options:
            params["options"] = options
        return self.call("job.submit", params)["job"]

    def get(self, job_id: int, offset: int = 0, limit: Optional[int] = None) -> Job:
        """``job.get``: the job's detail with one page of its files (``files_next``
        is the next page's offset, or None)."""
        params: Dict[str, Any] = {"id": job_id, "offset": offset}
        if limit is not None:
            params["limit"] = limit
        return self.call("job.get", params)["job"]

    def jobs(self, states: Optional[Sequence[str]] = None) -> List[Job]:
        """``job.list``."""
        return self.call("job.list", {"states": list(states)} if states else {})["jobs"]

    def pause(self, job_id: int) -> Job:
        return self.call("job.pause", {"id": job_id})["job"]

    def resume(self, job_id: int) -> Job:
        return self.call("job.resume", {"id": job_id})["job"]

    def cancel(self, job_id: int) -> Job:
        return self.call("job.cancel", {"id": job_id})["job"]

    def wait(self, job_id: int, timeout: Optional[float] = None,
             progress: Optional[ProgressCallback] = None,
             progress_interval_ms: int = 250) -> Job:
        """Waits until the job ends. ``progress`` gets every ``event.progress``
        (``bytes_done``, ``bytes_total``, ``files_done``, ``files_total``,
        ``rate``, ``eta``) and every state change as ``{"job": SUMMARY}``.
        Returns the summary of a ``done`` job; raises ``JobFailed`` for
        ``failed`` or ``canceled``, ``WaitTimeout`` after ``timeout`` seconds
        (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.call("events.subscribe", {"jobs": [job_id],
                                       "progress_interval_ms": max(50, progress_interval_ms)})
        try:
            job = self.get(job_id, limit=1)  # subscribed first: no change is missed
            job = {k: v for k, v in job.items() if k not in ("files", "log")}
            while job.get("state") not in TERMINAL:
                if self._events:
                    msg = self._events.pop(0)
                else:
                    try:
                        msg = self._read_message(deadline)
                    except socket.timeout:
                        raise WaitTimeout(f"job {job_id} is still {job.get('state')} after "
                                          f"{timeout}s", None, {"name": "wait_timeout"}) from None
                    if "id" in msg:
                        raise ProtocolError("a reply arrived while no request was out")
                params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
                if msg.get("method") == "event.job" and params.get("job", {}).get("id") == job_id:
                    job = params["job"]
                    if progress:
                        progress({"job": job})
                elif msg.get("method") == "event.progress" and params.get("id") == job_id:
                    if progress:
                        progress(params)
        finally:
            self._events = [e for e in self._events
                            if (e.get("params") or {}).get("id") != job_id]
            try:
                self.call("events.unsubscribe")
            except CkptdError:
                pass
        if job.get("state") != "done":
            raise JobFailed(f"job {job_id} {job.get('state')}: {job.get('error') or 'no reason'}",
                            job)
        return job

    # ---- sources --------------------------------------------------------------

    def download_checkpoint(self, uuid: str, output: str, mode: Optional[str] = None,
                            direct: bool = False, priority: Optional[int] = None) -> Job:
        """Submits the download of one checkpoint into ``output/<uuid>`` (or, with
        ``direct=True``, straight into ``output``, det's ``-o``). ``mode``:
        "auto" (default), "direct" or "master". Returns the job's summary; see
        ``wait``."""
        opts: Dict[str, Any] = {}
        if mode:
            opts["mode"] = mode
        if direct:
            opts["layout"] = "direct"
        if priority is not None:
            opts["priority"] = priority
        return self.submit({"kind": "checkpoint", "uuid": uuid}, output, opts)

    def prefetch_trial(self, trial_id: int, latest: bool = True, keep: int = 2,
                       output: str = ".", interval: Optional[float] = None) -> Job:
        """Starts a follow job that keeps the trial's newest (``latest=True``) or
        best checkpoints in ``output/trial-<id>/`` with the pointer symlink
        ``latest`` (or ``best``) at the newest complete one. It runs until
        canceled; read the pointer with ``latest_path``."""
        source: Dict[str, Any] = {"kind": "follow", "target": "trial", "id": trial_id,
                                  "select": "latest" if latest else "best", "keep": keep}
        if interval is not None:
            source["interval"] = interval
        return self.submit(source, output)

    def fetch_objects(self, url: str, output: str, endpoint_url: Optional[str] = None,
                      include: Optional[Sequence[str]] = None,
                      exclude: Optional[Sequence[str]] = None) -> Job:
        """Submits an object-store prefix (``s3://b/p/``, ``gs://``, ``az://``) or one
        object; the daemon lists and fetches it with its own credentials."""
        source: Dict[str, Any] = {"kind": "objects", "url": url}
        if endpoint_url:
            source["endpoint_url"] = endpoint_url
        if include:
            source["include"] = list(include)
        if exclude:
            source["exclude"] = list(exclude)
        return self.submit(source, output)

    @staticmethod
    def latest_path(output_dir: str, trial_id: int, pointer: str = "latest") -> Optional[str]:
        """The checkpoint directory the prefetch pointer
        ``output_dir/trial-<id>/<pointer>`` leads to, or None while there is
        none. The link is read once (it may move at any time; the directory it
        named stays while ``keep`` >= 2), and the target is returned only when
        it is a complete copy: a directory holding ckptd's manifest."""
        base = os.path.abspath(os.path.join(output_dir, f"trial-{int(trial_id)}"))
        try:
            target = os.readlink(os.path.join(base, pointer))
        except OSError:
            return None
        path = os.path.normpath(os.path.join(base, target))
        if os.path.dirname(path) != base or not os.path.isfile(os.path.join(path, MANIFEST)):
            return None
        return path
