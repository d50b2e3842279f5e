"""`validate`: the pipeline's one call, on every file of the shared corpus."""

from __future__ import annotations

import io
import json

import pytest

import bulk_ingest
from conftest import EXPECTED, SCHEMAS, TESTDATA


def schema_of(name: str) -> str:
    e = EXPECTED[name]
    return (SCHEMAS / f"{e['dataset']}-{e['schemaVersion']}.json").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_testdata_file(name: str) -> None:
    exp = EXPECTED[name]
    path = TESTDATA / name
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        if "fileError" in exp:
            with pytest.raises(bulk_ingest.IngestError) as e:
                bulk_ingest.validate(source, exp["format"], schema_of(name))
            assert e.value.code == exp["fileError"]
            assert isinstance(e.value, bulk_ingest.ERROR_FAMILIES[exp["fileError"]])
            assert str(e.value)
            continue
        v = bulk_ingest.validate(source, exp["format"], schema_of(name))
        assert (v.total_rows, v.valid_rows, v.error_rows) == (
            exp["totalRows"], exp["validRows"], exp["errorRows"]
        )
        got = [[e.row, e.line, e.field, e.code] for e in v.errors]
        if exp["format"] == "json":  # the design promises `line` for NDJSON and CSV only
            got = [[r, None, f, c] for r, _, f, c in got]
            want = [[r, None, f, c] for r, _, f, c in exp["errors"]]
        else:
            want = exp["errors"]
        assert got == want
        d = v.to_dict()
        assert (d["totalRows"], d["validRows"], d["errorRows"]) == (
            v.total_rows, v.valid_rows, v.error_rows
        )


def test_validate_options_and_schema_as_mapping() -> None:
    schema = json.loads((SCHEMAS / "pop-1.0.json").read_text())
    v = bulk_ingest.validate(
        TESTDATA / "pop_mixed.ndjson", "ndjson", schema, threads=0, error_sample=2
    )
    assert v.error_rows == 13 and len(v.errors) == 2
    with pytest.raises(bulk_ingest.FileContentError) as e:
        bulk_ingest.validate(TESTDATA / "pop_mixed.ndjson", "ndjson", schema, max_rows=10)
    assert e.value.code == "MAX_ROW_COUNT_EXCEEDED"
    assert "16" in str(e.value) and "10" in str(e.value)


def test_validate_refuses_bad_arguments_with_codes() -> None:
    schema = (SCHEMAS / "pop-1.0.json").read_text()
    with pytest.raises(bulk_ingest.InvalidRequestError) as e:
        bulk_ingest.validate(TESTDATA / "pop_valid.csv", "xml", schema)  # type: ignore[arg-type]
    assert e.value.code == "INVALID_REQUEST" and "xml" in str(e.value)
    with pytest.raises(bulk_ingest.NotFoundError) as e2:
        bulk_ingest.validate(TESTDATA / "no_such_file.csv", "csv", schema)
    assert e2.value.code == "FILE_NOT_FOUND"
    with pytest.raises(bulk_ingest.SchemaError):
        bulk_ingest.validate(b"", "csv", '{"type": "object", "oneOf": []}')
    with pytest.raises(bulk_ingest.InvalidRequestError):
        bulk_ingest.validate(12, "csv", schema)  # type: ignore[arg-type]
