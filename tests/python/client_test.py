#!/usr/bin/python3
"""The Python client against a real three-node mesh on loopback.
Usage: client_test.py <path to meshd>"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "python"))
from meshwork import Client, MeshError, TaskFailed  # noqa: E402

MESHD = None
DEADLINE_S = 120  # generous: CI machines are slow and shared


def wait_until(condition, what):
    deadline = time.monotonic() + DEADLINE_S
    seen = None
    while time.monotonic() < deadline:
        ok, seen = condition()
        if ok:
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {DEADLINE_S} s; last seen: {seen}")


class Mesh:
    """Three meshd processes on free loopback ports, in a temp dir."""

    def __init__(self, nodes=3):
        self.dir = tempfile.mkdtemp(prefix="meshwork-python-")
        self.processes = []
        self.endpoints = []
        for i in range(nodes):
            self._start(i)

    def _start(self, i):
        data_dir = os.path.join(self.dir, f"n{i + 1}")
        args = [MESHD, "--node-id", f"py-{i + 1}", "--listen", "tcp://127.0.0.1:0", "--data-dir", data_dir,
                "--gossip-profile", "local"]
        if self.endpoints:
            args += ["--seeds", self.endpoints[0]]
        else:
            args += ["--new-mesh"]
        with open(os.path.join(self.dir, f"n{i + 1}.log"), "w") as log:
            self.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        endpoint_file = os.path.join(data_dir, "meshd.endpoint")

        def bound():
            exists = os.path.exists(endpoint_file) and os.path.getsize(endpoint_file) > 0
            return exists, self.processes[-1].poll()

        wait_until(bound, f"node {i + 1} binding")
        with open(endpoint_file) as f:
            self.endpoints.append(f.read().strip())

    def log_tails(self):
        tails = []
        for i in range(len(self.processes)):
            with open(os.path.join(self.dir, f"n{i + 1}.log"), errors="replace") as f:
                tails.append(f"--- node {i + 1}:\n" + f.read()[-3000:])
        return "\n".join(tails)

    def stop(self):
        for p in self.processes:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mesh = Mesh()
        cls.client = Client(cls.mesh.endpoints[2], timeout=10.0)

        def all_alive():
            views = []
            for endpoint in cls.mesh.endpoints:
                with Client(endpoint, timeout=5.0) as c:
                    states = sorted(m["state"] for m in c.members()["members"])
                views.append(states)
            return all(v == ["alive"] * 3 for v in views), views

        try:
            wait_until(all_alive, "every node seeing three alive members")
        except AssertionError:
            print(cls.mesh.log_tails(), file=sys.stderr)
            cls.mesh.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.mesh.stop()

    def test_submit_and_result(self):
        future = self.client.submit("noop", b"hello from python")
        self.assertEqual(future.result(timeout=60), b"hello from python")
        self.assertTrue(future.done())
        self.assertEqual(future.record()["state"], "COMPLETED")

    def test_a_task_marked_no_backup_says_so(self):
        future = self.client.submit("noop", b"x", no_backup=True)
        self.assertEqual(future.result(timeout=60), b"x")
        record = future.record()
        self.assertTrue(record["no_backup"])
        self.assertFalse(any(a["backup"] for a in record["attempts"]))

    def test_map_keeps_the_order(self):
        payloads = [f"item-{i}".encode() for i in range(60)]
        self.assertEqual(list(self.client.map("noop", payloads, timeout=60)), payloads)

    def test_as_completed_yields_every_future_once(self):
        futures = [self.client.submit("sleep", str(ms)) for ms in (300, 10, 150, 50)]
        finished = list(self.client.as_completed(futures, timeout=60))
        self.assertEqual(sorted(f.id for f in finished), sorted(f.id for f in futures))
        self.assertTrue(all(f.record()["state"] == "COMPLETED" for f in finished))

    def test_a_task_that_never_succeeds_raises_with_its_attempts(self):
        future = self.client.submit("fail", "5", max_attempts=2, backoff_base_ms=10, backoff_max_ms=10)
        with self.assertRaises(TaskFailed) as caught:
            future.result(timeout=60)
        record = caught.exception.record
        self.assertEqual(record["state"], "FAILED")
        self.assertEqual([a["outcome"] for a in record["attempts"]], ["failed", "failed"])

    def test_an_unknown_handler_is_refused(self):
        with self.assertRaises(MeshError) as caught:
            self.client.submit("no-such-handler", b"")
        self.assertEqual(caught.exception.name, "unknown_handler")

    def test_resubmitting_an_id_is_idempotent(self):
        first = self.client.submit("noop", b"once", id="py-idempotent")
        second = self.client.submit("noop", b"once", id="py-idempotent")
        self.assertEqual(first.id, second.id)
        self.assertEqual(second.result(timeout=60), b"once")
        with self.assertRaises(MeshError) as caught:
            self.client.submit("noop", b"another spec", id="py-idempotent")
        self.assertEqual(caught.exception.name, "conflict")

    def test_an_atomic_job_is_stored_whole_or_not_at_all(self):
        specs = [{"handler": "noop", "payload": f"part-{i}".encode(), "id": f"py-atomic-{i}"} for i in range(24)]
        futures = self.client.submit_atomic(specs)
        self.assertEqual([f.result(timeout=60) for f in futures], [s["payload"] for s in specs])
        refused = [{"handler": "noop", "id": f"py-refused-{i}"} for i in range(10)]
        refused.append({"handler": "no-such-handler", "id": "py-refused-bad"})
        with self.assertRaises(MeshError) as caught:
            self.client.submit_atomic(refused)
        self.assertEqual(caught.exception.name, "unknown_handler")
        self.assertIn("py-refused-bad", str(caught.exception))
        self.assertEqual(len(self.client.get([s["id"] for s in refused])["records"]), 0)

    def test_a_child_gets_its_parents_results(self):
        specs = [{"handler": "join", "payload": b"A", "id": "py-dep-a"},
                 {"handler": "join", "payload": b"B", "id": "py-dep-b"},
                 {"handler": "join", "payload": b"C:", "id": "py-dep-c", "after": ["py-dep-a", "py-dep-b"]}]
        futures = self.client.submit_many(specs)
        self.assertEqual(futures[2].result(timeout=60), b"C:AB")

    def test_cancel(self):
        future = self.client.submit("sleep", "600000", timeout_ms=600000)
        self.assertTrue(future.cancel())
        with self.assertRaises(TaskFailed) as caught:
            future.result(timeout=60)
        self.assertEqual(caught.exception.record["state"], "CANCELLED")

    def test_cancel_job_takes_every_unfinished_task_of_the_job(self):
        specs = [{"handler": "sleep", "payload": b"600000", "timeout_ms": 600000, "id": f"py-cj-{i}"} for i in range(6)]
        futures = self.client.submit_atomic(specs, txn="py-cancel-job")
        outcomes = self.client.cancel_job("py-cancel-job")
        self.assertEqual(sorted(o["id"] for o in outcomes), sorted(s["id"] for s in specs))
        self.assertTrue(all(o["code"] == 0 for o in outcomes))
        for future in futures:
            with self.assertRaises(TaskFailed) as caught:
                future.result(timeout=60)
            self.assertEqual(caught.exception.record["state"], "CANCELLED")

    def test_a_silent_endpoint_is_skipped(self):
        # Nothing listens on port 1 of loopback: the client moves on.
        with Client(["tcp://127.0.0.1:1", self.mesh.endpoints[1]], timeout=2.0) as c:
            self.assertEqual(c.submit("noop", b"failover").result(timeout=60), b"failover")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    MESHD = sys.argv.pop(1)
    unittest.main(verbosity=2)
