"""The hostile-input battery (``tests/hostile.py``) as a test: eight classes of bad, odd and
hostile input (import --out onto user files, code in pickles, SIGKILL during the last epoch's
writes, decompression bombs, a misbehaving HTTP client, tracebacks, silent wrong results, full
and read-only disks); every case must end ``clear`` (refused with a one-line message, no
traceback; 4xx JSON from the explorer) or ``ok`` (a correct result).

It takes about as long as the rest of ``make test`` (hundreds of fresh processes), so it runs
when asked: ``make test-hostile`` (``ZFNET_HOSTILE=1``); ``make test`` skips it and says so.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402

battery = [pytest.mark.slow,
           pytest.mark.skipif(os.environ.get("ZFNET_HOSTILE") != "1",
                              reason="the hostile-input battery runs with make test-hostile (ZFNET_HOSTILE=1)")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hostile.make_checkpoint(str(tmp_path_factory.mktemp("hostile-ck")))


@battery[0]
@battery[1]
@pytest.mark.parametrize("key", list(hostile.CLASSES))
def test_every_hostile_input_gets_a_clear_error_or_a_correct_result(key, checkpoint, tmp_path):
    rows = hostile.run(key, str(tmp_path), checkpoint)
    assert rows, "class %s tried nothing" % key
    bad = [r for r in rows if r[2] not in ("clear", "ok")]
    assert not bad, "\n".join("%s %s: %s %s" % r for r in bad)


def test_the_battery_judges_a_traceback_and_a_silent_success_as_failures():
    """The judge itself: a traceback, exit 0 and a bare non-zero exit are not refusals."""
    def done(code, err, out=""):
        return subprocess.CompletedProcess([], code, out, err)
    assert hostile.judge_refusal(done(2, "zfnet train: error: argument --lr: nan"))[0] == "clear"
    assert hostile.judge_refusal(done(1, "Traceback (most recent call last):\n  x\nValueError: y"))[0] == "traceback"
    assert hostile.judge_refusal(done(0, "", "wrote out.png"))[0] == "wrong"
    assert hostile.judge_refusal(done(1, "Killed"))[0] == "traceback"
    assert hostile.judge_refusal(None)[0] == "hang"
