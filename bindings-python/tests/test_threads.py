"""The GIL is released while the core reads, parses or waits; Ctrl-C during `wait` is honoured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import bulk_ingest
from conftest import POP_SCHEMA, REPO, pop_rows, upload


def test_other_threads_run_during_a_long_validation(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    path.write_bytes(pop_rows(40_000))
    ticks = 0
    started, stop = threading.Event(), threading.Event()

    def spin() -> None:
        nonlocal ticks
        started.set()
        while not stop.is_set():
            ticks += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        started.wait()
        before = ticks
        t0 = time.perf_counter()
        v = bulk_ingest.validate(path, "ndjson", POP_SCHEMA, threads=1)
        elapsed = time.perf_counter() - t0
        during = ticks - before
    finally:
        stop.set()
        th.join()
    assert (v.total_rows, v.valid_rows) == (40_000, 40_000)
    assert elapsed > 0.1, "the file is meant to take a while"
    # Had the call held the GIL, the spinning thread would not have run at all meanwhile.
    assert during > 1000, (during, elapsed)


def test_other_threads_run_during_wait_and_run_job(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    result: list[bulk_ingest.JobStatus] = []
    waiter = threading.Thread(target=lambda: result.append(manual.wait(job.job_id, 60)))
    waiter.start()
    # The waiting thread holds no GIL: this thread runs the job meanwhile.
    assert manual.run_job(job.job_id).status == "completed"
    waiter.join(60)
    assert not waiter.is_alive()
    assert result[0].status == "completed"


def test_ctrl_c_interrupts_wait(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")  # nobody runs it
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            manual.wait(job.job_id)  # no timeout
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 10
    assert manual.job(job.job_id).status == "queued"


def test_ctrl_c_stops_a_process_waiting_on_a_job(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, bulk_ingest
        ing = bulk_ingest.Ingestor({str(tmp_path / 'd')!r}, workers=0)
        ing.register_schema("pop", "1.0", open({str(REPO / 'examples/schemas/pop-1.0.json')!r}).read())
        t = ing.create_upload("a.ndjson", "ndjson")
        ing.receive_upload(t.upload_url, t.content_type, {str(REPO / 'testdata/pop_valid.ndjson')!r})
        job = ing.start_ingest(t.file_id, "pop", "1.0")
        try:
            print("waiting", flush=True)
            ing.wait(job.job_id)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.5)  # let it get into wait(): the signal is meant to land there
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert out.strip() == "interrupted"
