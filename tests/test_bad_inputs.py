"""Every bad input of `tests/bad_inputs.py` gives a one-line error, exit status 2, no traceback, and writes nothing."""

import pytest
from bad_inputs import CASES, SENTINEL, prepare, run, snapshot


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_one_line_error_that_writes_nothing(case, tmp_path, request):
    lm = request.getfixturevalue("tiny_lm") if case.needs_lm else None
    argv = prepare(case, tmp_path, lm)
    before = snapshot(tmp_path)
    outcome = run(case, argv, tmp_path)
    assert outcome.returncode == 2, outcome.stderr[-3000:]
    assert "Traceback" not in outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr[-3000:]
    assert case.message in lines[0]
    assert snapshot(tmp_path) == before, "the run wrote over or next to the files that were there"
    assert (tmp_path / "out" / SENTINEL).is_file()
