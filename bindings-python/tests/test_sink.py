"""A sink in Python: valid rows in batches of dicts with row numbers; an exception fails the job
with its message and keeps every row committed before it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import bulk_ingest
from conftest import make_ingestor, pop_rows, upload


def test_run_job_hands_valid_rows_to_the_callable(manual: bulk_ingest.Ingestor) -> None:
    batches: list[bulk_ingest.SinkBatch] = []
    job = manual.start_ingest(upload(manual, "pop_mixed.ndjson"), "pop", "1.0")
    st = manual.run_job(job.job_id, sink=batches.append)
    assert (st.status, st.processed_rows, st.error_rows) == ("partially_completed", 3, 13)
    rows = [r for b in batches for r in b.rows]
    numbers = [n for b in batches for n in b.row_numbers]
    assert numbers == [1, 8, 16]  # the valid rows of pop_mixed.ndjson
    assert all(b.job_id == job.job_id and b.dataset == "pop" and b.schema_version == "1.0"
               for b in batches)
    assert sum(len(b) for b in batches) == 3
    first = rows[0]
    assert list(first)[:2] == ["eventId", "screenId"]
    assert isinstance(first["durationMs"], int)
    assert rows[1]["durationMs"] == 1000  # 1000.0 in the file: an integer in JSON
    assert all(r["venueType"] in {"transit", "retail", "outdoor", "airport", "gym", "office"}
               for r in rows)
    # The rows went to the sink, not to the default table.
    assert manual.stored_rows("pop", "1.0") == 0


def test_optional_fields_are_none_and_numbers_typed(manual: bulk_ingest.Ingestor) -> None:
    batches: list[bulk_ingest.SinkBatch] = []
    job = manual.start_ingest(upload(manual, "pop_valid.csv"), "pop", "1.0")
    assert manual.run_job(job.job_id, sink=batches.append).processed_rows == 5
    rows = batches[0].rows
    assert batches[0].row_numbers == [1, 2, 3, 4, 5]
    assert any(r["latitude"] is None for r in rows)
    assert any(isinstance(r["impressions"], float) for r in rows)
    assert all(isinstance(r["durationMs"], int) for r in rows)


def test_an_exception_fails_the_job_and_keeps_committed_rows(tmp_path: Path) -> None:
    with make_ingestor(tmp_path / "d", workers=0, commit_rows=500, chunk_size=16 << 10,
                       threads=1) as ing:
        t = ing.create_upload("day.ndjson", "ndjson")
        ing.receive_upload(t.upload_url, t.content_type, pop_rows(4000))
        job = ing.start_ingest(t.file_id, "pop", "1.0")
        seen: list[int] = []
        calls = 0

        def sink(batch: bulk_ingest.SinkBatch) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise ValueError("warehouse is read-only")
            seen.extend(batch.row_numbers)

        st = ing.run_job(job.job_id, sink=sink)
        assert calls == 3
        assert st.status == "failed"
        assert st.error is not None and st.error.code == "STORAGE_ERROR"
        assert "ValueError: warehouse is read-only" in st.error.message
        # The two commits before the failure stand: counted, and exactly the rows handed over.
        assert len(seen) >= 2 * 500
        assert seen == list(range(1, len(seen) + 1))
        assert st.processed_rows == len(seen)
        assert st.total_rows == 4000


def test_set_sink_is_called_from_the_worker_thread(tmp_path: Path) -> None:
    with make_ingestor(tmp_path / "d", workers=1) as ing:
        threads: set[str] = set()
        numbers: list[int] = []

        def sink(batch: bulk_ingest.SinkBatch) -> None:
            threads.add(threading.current_thread().name)
            numbers.extend(batch.row_numbers)

        ing.set_sink("pop", sink)
        job = ing.start_ingest(upload(ing, "pop_valid.ndjson"), "pop", "1.0")
        st = ing.wait(job.job_id, 60)
        assert (st.status, st.processed_rows) == ("completed", 5)
        assert numbers == [1, 2, 3, 4, 5]
        assert threading.main_thread().name not in threads
        assert ing.stored_rows("pop", "1.0") == 0


def test_sink_must_be_callable(manual: bulk_ingest.Ingestor) -> None:
    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    st = manual.run_job(job.job_id, sink=42)  # type: ignore[arg-type]
    assert st.status == "failed" and st.error is not None
    assert "TypeError" in st.error.message


@pytest.mark.parametrize("exc", [KeyError("k"), RuntimeError("boom")])
def test_any_exception_becomes_the_job_error(manual: bulk_ingest.Ingestor, exc: Exception) -> None:
    def sink(batch: bulk_ingest.SinkBatch) -> None:
        raise exc

    job = manual.start_ingest(upload(manual, "pop_valid.ndjson"), "pop", "1.0")
    st = manual.run_job(job.job_id, sink=sink)
    assert st.status == "failed" and st.error is not None
    assert type(exc).__name__ in st.error.message and st.processed_rows == 0
