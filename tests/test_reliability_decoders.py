"""Property-based tests of the snapshot and manifest decoders (hypothesis).

Whatever the bytes, reading gives a Snapshot or a ReadError: no exception escapes, nothing hangs
(pytest-timeout), and whatever is accepted can be re-encoded and fed to the viewer's RunHistory.
Example counts are modest and the runs derandomised, so CI time and results are stable.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evotui.analysis.history import RunHistory
from tests._reliability_helpers import HOSTILE_TEXTS, make_snapshot
from tracker.schema import Snapshot, encode_snapshot
from tracker.store import ReadError, decode_snapshot_bytes, read_manifest, read_snapshot

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(90)]
PROPERTY = settings(
    max_examples=250,
    deadline=None,  # a hang is caught by the timeout; per-example timing is not the property
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FORMATS = st.sampled_from(["json", "msgpack"])
PATH = Path("step_000005.json")


def _seed_snapshot() -> Snapshot:
    snapshot = make_snapshot(5, 4)
    snapshot.examples[0].model_output = HOSTILE_TEXTS["ansi_colour_and_cursor"]
    snapshot.examples[1].metadata = {"nested": {"list": [1, 2.5, None, True, "x"]}}
    snapshot.examples[2].loss = None
    return snapshot


SEED = _seed_snapshot()
VALID = {"json": encode_snapshot(SEED, "json"), "msgpack": encode_snapshot(SEED, "msgpack")}


def _check_accepted(result: Snapshot | ReadError, fmt: str) -> None:
    """The invariant: a ReadError with a reason, or a Snapshot that is sane all the way to the viewer."""
    if isinstance(result, ReadError):
        assert result.reason
        return
    assert isinstance(result, Snapshot)
    assert result.summary is not None
    again = msgspec.json.decode(encode_snapshot(result, "json"))  # re-encodable
    assert again["training_step"] == result.training_step
    history = RunHistory()
    history.add(result, source=fmt)
    for name in ("loss", "similarity", "exact"):
        assert history.matrix(name).shape == (history.n_examples, 1)
    history.summary_series()
    for i in range(history.n_examples):
        history.prediction_history(i)


@PROPERTY
@given(data=st.binary(max_size=2048), fmt=FORMATS)
def test_random_bytes_give_a_snapshot_or_a_read_error(data: bytes, fmt: str) -> None:
    _check_accepted(decode_snapshot_bytes(data, fmt, PATH), fmt)  # type: ignore[arg-type]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(FORMATS)
    data = bytearray(VALID[fmt])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 32))]
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            end = pos + draw(st.integers(1, 64))
            data[pos:pos] = data[pos:end]
    return fmt, bytes(data)


@PROPERTY
@given(case=mutated())
def test_mutated_valid_files_give_a_snapshot_or_a_read_error(case: tuple[str, bytes]) -> None:
    fmt, data = case
    _check_accepted(decode_snapshot_bytes(data, fmt, PATH), fmt)  # type: ignore[arg-type]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
SNAPSHOT_FIELDS = list(msgspec.json.decode(VALID["json"]))
EXAMPLE_FIELDS = list(msgspec.json.decode(VALID["json"])["examples"][0])


@PROPERTY
@given(
    top=st.dictionaries(st.sampled_from(SNAPSHOT_FIELDS), JSON_VALUES, max_size=3),
    row=st.dictionaries(st.sampled_from(EXAMPLE_FIELDS), JSON_VALUES, max_size=3),
    fmt=FORMATS,
)
# Found by hand before hypothesis would: steps beyond int64 (numpy) and beyond a file name's 12 digits.
@example(top={"training_step": 2**64 - 1}, row={}, fmt="msgpack")
@example(top={"training_step": 10**20}, row={}, fmt="json")
@example(top={"training_step": 10**12}, row={}, fmt="json")
@example(top={"schema_version": 2**63}, row={"metadata": {"k": [[[[]]]]}}, fmt="msgpack")
def test_fields_replaced_by_any_value_give_a_snapshot_or_a_read_error(
    top: dict[str, Any], row: dict[str, Any], fmt: str
) -> None:
    doc = msgspec.json.decode(VALID["json"])
    doc["examples"][0].update(row)
    doc.update(top)
    if fmt == "json":
        # NaN and huge ints are not JSON; Python's json writes them anyway (NaN, 1e400-style ints), as a
        # foreign writer might: the reader must still answer cleanly.
        data = json.dumps(doc).encode()
    else:
        try:
            data = msgspec.msgpack.encode(doc)
        except OverflowError:  # ints beyond 64 bits cannot be MessagePack
            return
    _check_accepted(decode_snapshot_bytes(data, fmt, PATH), fmt)  # type: ignore[arg-type]


@settings(PROPERTY, max_examples=120)
@given(case=mutated(), name_step=st.sampled_from([0, 5, 6, 999_999_999_999]))
def test_read_snapshot_on_mutated_files_never_raises(case: tuple[str, bytes], name_step: int) -> None:
    fmt, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"step_{name_step:06d}.{fmt}"
        path.write_bytes(data)
        result = read_snapshot(path)
        _check_accepted(result, fmt)
        if isinstance(result, Snapshot):
            assert result.training_step == name_step  # a name and a content that disagree are refused


MANIFEST = msgspec.json.encode(
    {"run_id": "r1", "run_name": "toy", "current_step": 10, "max_steps": 100, "status": "running", "errors": 0}
)


@settings(PROPERTY, max_examples=150)
@given(
    data=st.one_of(
        st.binary(max_size=512),
        st.builds(
            lambda cut, junk: MANIFEST[:cut] + junk,
            st.integers(0, len(MANIFEST)),
            st.binary(max_size=8),
        ),
        st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=5)),
    )
)
@example(data=b'{"run_id": "r", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
def test_read_manifest_never_raises(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "run.json").write_bytes(data)
        result = read_manifest(tmp)
        assert result is not None
        if isinstance(result, ReadError):
            assert result.reason
        else:
            assert isinstance(result.current_step, int)
            assert result.max_steps is None or isinstance(result.max_steps, int)
            assert not isinstance(result.errors, float) or math.isfinite(result.errors)
