"""The Python client against a real daemon, nginx and the Determined stand-in.

Run by tests/e2e/python_client.sh, which starts them and sets CKPTD_SOCKET,
CKT_BASE_URL (nginx, serving big.bin and small.bin), CKT_DET_URL and CKT_TMP.
"""
import json
import os
import time
import unittest
import urllib.request

import ckptd

BASE = os.environ.get("CKT_BASE_URL", "")
DET = os.environ.get("CKT_DET_URL", "")
TMP = os.environ.get("CKT_TMP", "")


def det_add_checkpoint(trial: int) -> str:
    req = urllib.request.Request(f"{DET}/_ctl/trials/{trial}/checkpoints", method="POST")
    return json.load(urllib.request.urlopen(req))["checkpoint"]["uuid"]


def det_latest(trial: int) -> str:
    d = json.load(urllib.request.urlopen(f"{DET}/_ctl/dataset"))
    cps = [c for c in d["checkpoints"] if c["trialId"] == trial and c.get("stepsCompleted") is not None
           and c["state"] in ("STATE_COMPLETED", "STATE_PARTIALLY_DELETED")]
    return max(cps, key=lambda c: c["stepsCompleted"])["uuid"]


@unittest.skipUnless(BASE and DET and TMP, "run by tests/e2e/python_client.sh")
class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.c = ckptd.Client()

    def tearDown(self) -> None:
        self.c.close()

    def test_hello(self) -> None:
        self.assertTrue(self.c.daemon.startswith("ckptd "))
        self.assertEqual(self.c.call("daemon.status")["protocol"], 1)

    def test_submit_wait_progress(self) -> None:
        self.c.call("config.set", {"bandwidth_limit": 24 * 1024 * 1024})
        try:
            out = os.path.join(TMP, "py-out")
            job = self.c.submit({"kind": "urls", "files": [
                {"url": f"{BASE}/big.bin", "path": "big.bin"},
                {"url": f"{BASE}/small.bin", "path": "d/small.bin", "size": 1000}]}, out)
            self.assertEqual(job["state"], "queued")
            seen = []
            end = self.c.wait(job["id"], timeout=60, progress=seen.append)
        finally:
            self.c.call("config.set", {"bandwidth_limit": 0})
        self.assertEqual(end["state"], "done")
        self.assertEqual(end["files_done"], 2)
        prog = [p for p in seen if "bytes_done" in p]
        self.assertGreater(len(prog), 0, "no progress event")
        self.assertTrue(all(p["id"] == job["id"] for p in prog))
        self.assertTrue(any(p.get("job", {}).get("state") == "done" for p in seen))
        with open(os.path.join(out, "big.bin"), "rb") as f, \
                open(os.path.join(TMP, "www", "big.bin"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        detail = self.c.get(job["id"])
        self.assertEqual(sorted(f["path"] for f in detail["files"]), ["big.bin", "d/small.bin"])
        self.assertTrue(all(f["state"] == "verified" for f in detail["files"]))

    def test_errors(self) -> None:
        with self.assertRaises(ckptd.UnknownJob) as e:
            self.c.get(987654)
        self.assertEqual(e.exception.name, "unknown_job")
        self.assertEqual(e.exception.code, -32001)
        with self.assertRaises(ckptd.UnsafePath) as e:
            self.c.submit({"kind": "urls", "files": [{"url": f"{BASE}/small.bin",
                                                      "path": "../escape"}]}, TMP)
        self.assertEqual(e.exception.data.get("path"), "../escape")
        with self.assertRaises(ckptd.InvalidParams) as e:
            self.c.submit({"kind": "nonsense"}, TMP)
        self.assertIn("unknown source kind", e.exception.message)
        with self.assertRaises(ckptd.InvalidParams):
            self.c.fetch_objects("s3://bad bucket/x/", TMP)
        with self.assertRaises(ckptd.MethodNotFound):
            self.c.call("no.such.method")
        with self.assertRaises(ckptd.NotFound):
            self.c.call("checkpoint.get", {"uuid": "00000000-0000-0000-0000-000000000000"})
        # A finished job cannot be paused.
        job = self.c.submit({"kind": "urls", "files": [{"url": f"{BASE}/small.bin",
                                                        "path": "s.bin"}]},
                            os.path.join(TMP, "py-err"))
        self.c.wait(job["id"], timeout=30)
        with self.assertRaises(ckptd.TransitionNotAllowed) as e:
            self.c.pause(job["id"])
        self.assertEqual(e.exception.data.get("state"), "done")
        # A job that fails: JobFailed carries its summary.
        job = self.c.submit({"kind": "urls", "files": [{"url": f"{BASE}/missing.bin",
                                                        "path": "m.bin"}]},
                            os.path.join(TMP, "py-fail"))
        with self.assertRaises(ckptd.JobFailed) as e:
            self.c.wait(job["id"], timeout=30)
        self.assertEqual(e.exception.job["state"], "failed")
        self.assertIn("404", e.exception.job["error"])
        # A wait that times out leaves the job running.
        self.c.call("config.set", {"bandwidth_limit": 1024 * 1024})
        try:
            job = self.c.submit({"kind": "urls", "files": [{"url": f"{BASE}/big.bin",
                                                            "path": "b.bin"}]},
                                os.path.join(TMP, "py-slow"))
            with self.assertRaises(ckptd.WaitTimeout):
                self.c.wait(job["id"], timeout=0.5)
            self.assertIn(self.c.get(job["id"])["state"], ("queued", "running"))
            self.c.cancel(job["id"])
        finally:
            self.c.call("config.set", {"bandwidth_limit": 0})
        with self.assertRaises(ckptd.ConnectionFailed):
            ckptd.Client(socket_path=os.path.join(TMP, "no.sock"))
        # Every error is a CkptdError.
        self.assertTrue(issubclass(ckptd.UnknownJob, ckptd.CkptdError))

    def test_download_checkpoint(self) -> None:
        uuid = det_latest(1)
        job = self.c.download_checkpoint(uuid, os.path.join(TMP, "py-ckpt"))
        end = self.c.wait(job["id"], timeout=60)
        self.assertEqual(end["state"], "done")
        self.assertTrue(os.path.isfile(os.path.join(TMP, "py-ckpt", uuid, ".ckptd.xxh128")))

    def test_latest_path_moves(self) -> None:
        out = os.path.join(TMP, "py-prefetch")
        self.assertIsNone(ckptd.Client.latest_path(out, 1))
        first = det_latest(1)
        job = self.c.prefetch_trial(1, latest=True, keep=2, output=out, interval=1)
        self.assertEqual(job["kind"], "follow")
        deadline = time.monotonic() + 60
        path = None
        while time.monotonic() < deadline:
            path = ckptd.Client.latest_path(out, 1)
            if path and os.path.basename(path) == first:
                break
            time.sleep(0.05)
        self.assertEqual(path, os.path.join(out, "trial-1", first))
        new = det_add_checkpoint(1)
        seen = set()
        while time.monotonic() < deadline:
            path = ckptd.Client.latest_path(out, 1)
            # Whatever the pointer says while it moves is a complete copy.
            self.assertIsNotNone(path)
            self.assertTrue(os.path.isfile(os.path.join(path, ".ckptd.xxh128")))
            seen.add(os.path.basename(path))
            if os.path.basename(path) == new:
                break
            time.sleep(0.02)
        self.assertEqual(os.path.basename(path), new)
        self.assertEqual(seen - {first, new}, set())
        self.c.cancel(job["id"])


if __name__ == "__main__":
    unittest.main()
