"""A meshwork client with a concurrent.futures-like API.

    from meshwork import Client
    with Client(["tcp://127.0.0.1:7700"]) as mesh:
        future = mesh.submit("noop", b"hello")
        print(future.result(timeout=30))          # b'hello'
        print(list(mesh.map("hash", [b"10:a", b"10:b"])))

Any node accepts any request. A request that gets no answer within the
client's timeout is sent again to the next endpoint: task ids are chosen here
and are idempotency keys, so a resent submit never makes a second task.
"""

import itertools
import os
import time

import zmq

from . import wire
from .wire import MeshError

_POLL_SLICE_MS = 500  # a wait for many tasks is asked in slices this long


class TaskFailed(Exception):
    """The task ended FAILED (attempts used up) or CANCELLED."""

    def __init__(self, record):
        super().__init__(f"task {record['id']} {record['state']}: {record['error']}")
        self.record = record


class TaskFuture:
    """The outcome of one submitted task, read from the mesh on demand."""

    def __init__(self, client, task_id):
        self._client = client
        self.id = task_id
        self._record = None

    def _settled(self, record):
        if record["state"] in wire.TERMINAL_STATES:
            self._record = record
        return self._record is not None

    def done(self):
        if self._record is None:
            got = self._client.get([self.id])
            if got["records"]:
                self._settled(got["records"][0])
        return self._record is not None

    def record(self, timeout=None):
        """The terminal TaskRecord (dict); TimeoutError if not terminal in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._record is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"task {self.id} not finished within {timeout} s")
            reply = self._client.wait([self.id], _POLL_SLICE_MS / 1000 if left is None else min(left, 60.0))
            for record in reply["records"]:
                self._settled(record)
        return self._record

    def result(self, timeout=None):
        """The successful attempt's output (bytes); TaskFailed otherwise."""
        record = self.record(timeout)
        if record["state"] != "COMPLETED":
            raise TaskFailed(record)
        return record["result"]

    def exception(self, timeout=None):
        record = self.record(timeout)
        return None if record["state"] == "COMPLETED" else TaskFailed(record)

    def cancel(self):
        """True if the task was cancelled now (not already finished)."""
        return self._client.cancel([self.id])[0]["code"] == 0

    def __repr__(self):
        state = self._record["state"] if self._record else "unknown"
        return f"<TaskFuture {self.id} {state}>"


class Client:
    def __init__(self, endpoints=None, name="python", timeout=10.0):
        if isinstance(endpoints, str):
            endpoints = endpoints.split(",")
        self.endpoints = list(endpoints or [os.environ.get("MESH_ADDR", "tcp://127.0.0.1:7700")])
        self.name = name
        self.timeout = timeout
        self._context = zmq.Context()
        self._current = 0
        self._socket = None
        self._request_ids = itertools.count(1)
        self._connect()

    # --- lifecycle -------------------------------------------------------

    def _connect(self):
        if self._socket is not None:
            self._socket.close(linger=0)
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, wire.MAX_FRAME_BYTES)
        self._socket.connect(self.endpoints[self._current])

    def close(self):
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- one request -----------------------------------------------------

    def request(self, kind, body, extra_wait_s=0.0):
        """Sends one request and returns the decoded reply. Moves on to the
        next endpoint when one does not answer; MeshError(unavailable) once
        every endpoint was tried."""
        for _ in range(len(self.endpoints)):
            request_id = next(self._request_ids)
            self._socket.send_multipart([wire.envelope(kind, request_id, self.name), wire.pack(body)])
            reply = self._receive(request_id, self.timeout + extra_wait_s)
            if reply is not None:
                return wire.decode_reply(*reply)
            self._current = (self._current + 1) % len(self.endpoints)
            self._connect()
        raise MeshError(14, f"no node answered within {self.timeout} s (tried {', '.join(self.endpoints)})")

    def _receive(self, request_id, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not self._socket.poll(left_ms, zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart()
            if len(frames) != 2:
                continue
            _version, kind, reply_id, _sender = wire.unpack(frames[0])[:4]
            if reply_id == request_id:  # later replies to requests given up on are dropped
                return kind, wire.unpack(frames[1])

    # --- tasks -----------------------------------------------------------

    def submit(self, handler, payload=b"", **spec):
        """Submits one task; returns its TaskFuture. Fields as in TaskSpec:
        id, key, priority, max_attempts, backoff_base_ms, backoff_max_ms,
        timeout_ms, stealable, no_backup."""
        return self.submit_many([dict(spec, handler=handler, payload=payload)])[0]

    def submit_many(self, specs):
        """Submits tasks in one request (each task stands alone: not atomic).
        Raises MeshError on the first task the mesh refused."""
        specs = [dict(s) for s in specs]
        for s in specs:
            s.setdefault("id", "py-" + os.urandom(12).hex())
        outcomes = self.request(wire.SUBMIT, [[wire.task_spec(s) for s in specs]])
        for outcome in outcomes:
            if outcome["code"] != 0:
                raise MeshError(outcome["code"], f"task {outcome['id']}: {outcome['message']}")
        return [TaskFuture(self, o["id"]) for o in outcomes]

    def submit_atomic(self, specs, txn=None):
        """Submits tasks all or none, through one transaction across their
        partitions; returns their TaskFutures once committed (and visible).
        Raises MeshError when the transaction aborted, naming the task that
        caused it. `txn` is the transaction id: a retry with the same one
        learns the first outcome."""
        specs = [dict(s) for s in specs]
        for s in specs:
            s.setdefault("id", "py-" + os.urandom(12).hex())
        txn = txn or "x-py-" + os.urandom(12).hex()
        outcomes = self.request(wire.SUBMIT, [[wire.task_spec(s) for s in specs], True, txn])
        refused = [o for o in outcomes if o["code"] != 0]
        if refused:
            cause = next((o for o in refused if wire.error_name(o["code"]) != "aborted"), refused[0])
            raise MeshError(cause["code"], f"transaction {txn} aborted: task {cause['id']}: {cause['message']}")
        return [TaskFuture(self, o["id"]) for o in outcomes]

    def map(self, handler, payloads, timeout=None, **spec):
        """Runs `handler` on every payload; yields the results in order."""
        futures = self.submit_many([dict(spec, handler=handler, payload=p) for p in payloads])
        for future in futures:
            yield future.result(timeout)

    def as_completed(self, futures, timeout=None):
        """Yields futures as their tasks finish (any terminal state)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = {f.id: f for f in futures}
        while waiting:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"{len(waiting)} tasks not finished within {timeout} s")
            slice_s = _POLL_SLICE_MS / 1000 if left is None else min(left, _POLL_SLICE_MS / 1000)
            for record in self.wait(list(waiting), slice_s)["records"]:
                future = waiting.get(record["id"])
                if future is not None and future._settled(record):
                    del waiting[record["id"]]
                    yield future

    def get(self, ids):
        return self.request(wire.GET, [list(ids)])

    def wait(self, ids, timeout_s):
        """Records of `ids` once all are terminal, or when timeout_s passes."""
        return self.request(wire.WAIT, [list(ids), False, int(timeout_s * 1000)], extra_wait_s=timeout_s)

    def cancel(self, ids):
        return self.request(wire.CANCEL, [list(ids)])

    def cancel_job(self, job):
        """Cancels every unfinished task of an atomic job, all or none: one
        outcome per task of the job (code 0: cancelled now)."""
        return self.request(wire.CANCEL, [[], job])

    def list(self, state=None, limit=1000, after_id=""):
        any_state = state is None
        state_number = 0 if any_state else wire.TASK_STATES.index(state)
        return self.request(wire.LIST, [any_state, state_number, limit, after_id])

    def stats(self):
        return self.request(wire.STATS, [])

    def members(self):
        return self.request(wire.MEMBERS, [])
