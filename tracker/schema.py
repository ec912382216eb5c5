"""The snapshot format: msgspec Structs, schema version 1.

Field names are those of the seed's documented JSON, so files written by the original
``evolution_tracker.py`` decode as they are. Evolution rules, which every change must keep:

* unknown fields are ignored (a newer writer's files stay readable by an older reader);
* a new field always has a default (an older writer's files stay readable by a newer reader);
* a field's type never changes; a change that cannot follow these rules bumps ``SCHEMA_VERSION``
  and readers refuse versions newer than they know, with a message, rather than guess.

This module imports only msgspec: the viewer reads the format on machines without torch.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 1
# run.json's status: ``running`` (or a crashed run that never said otherwise: the viewer tells by the heartbeat),
# ``finished`` (training ended), ``failed`` (an exception ended it), ``stopped`` (ended on purpose: Ctrl-C,
# SIGTERM, e.g. quitting `evotui demo`). ``stopped`` was added after version 1 was first written: the field is
# decoded as a plain ``str`` so that a reader never refuses a run.json for a status it does not know yet (it
# shows it as written); writers use only these values.
RunStatus = Literal["running", "finished", "failed", "stopped"]
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "stopped")
TERMINAL_STATUSES: frozenset[str] = frozenset({"finished", "failed", "stopped"})


class Base(msgspec.Struct, kw_only=True, gc=False):
    """Shared options for every record of the format.

    ``kw_only``: fields are given by name, so adding a defaulted field never shifts positions.
    Unknown fields are ignored on decode (msgspec's default, kept on purpose: forward compatibility).
    ``gc=False``: a record never takes part in a reference cycle (it holds strings, numbers, lists of
    records and plain metadata), so the cyclic collector need not track it; decoding thousands of rows
    then stops triggering collections that rescan everything a reader holds (msgspec's documented
    option; measured: collections halved, decode ~2x faster on 30 x 10,000 rows).
    """


class ExampleResult(Base):
    """One example evaluated at one step."""

    example_id: str
    input: str = ""
    expected_output: str = ""
    model_output: str = ""
    # Mean negative log-likelihood of the expected-output tokens under teacher forcing.
    # None when it could not be computed; NaN/inf are written as null by msgspec's JSON encoder.
    loss: float | None = None
    similarity: float = 0.0
    exact_match: bool = False
    metadata: dict[str, Any] = {}


class Summary(Base):
    avg_loss: float | None = None
    accuracy: float = 0.0
    total_examples: int = 0
    correct: int = 0
    incorrect: int = 0
    avg_similarity: float | None = None


class Snapshot(Base):
    """All examples evaluated at one training step: the content of one ``step_NNNNNN`` file."""

    training_step: int
    examples: list[ExampleResult]
    snapshot_id: str = ""
    timestamp: str = ""  # ISO 8601, UTC
    model_version: str = ""
    # Seed files have no summary-less form, but a hand-written or foreign file may: readers compute it.
    summary: Summary | None = None
    schema_version: int = SCHEMA_VERSION
    epoch: float | None = None
    train_loss: float | None = None  # last training loss logged before this step
    learning_rate: float | None = None
    eval_seconds: float | None = None


class RunManifest(Base):
    """``run.json``: who is writing this directory, how far it got, and whether it is still alive."""

    schema_version: int = SCHEMA_VERSION
    run_id: str = ""
    run_name: str = ""
    model_name: str = ""
    created_at: str = ""
    updated_at: str = ""  # heartbeat, throttled by the writer
    current_step: int = 0
    max_steps: int | None = None
    status: str = "running"  # one of RunStatus (see there: why a str)
    schedule: str = ""
    n_examples: int = 0
    # The chosen example set, so that a resumed run evaluates the same examples at every step.
    example_ids: list[str] = []
    tracker_version: str = ""
    errors: int = 0  # captures that failed without stopping training
    last_error: str | None = None
    pid: int | None = None
    hostname: str = ""
    # Why the tracker stopped capturing while training went on (e.g. no tokenizer): said once, with the fix.
    disabled: str | None = None


# Made once, reused: building a Decoder compiles the schema.
json_encoder = msgspec.json.Encoder()
msgpack_encoder = msgspec.msgpack.Encoder()
snapshot_json_decoder = msgspec.json.Decoder(Snapshot)
snapshot_msgpack_decoder = msgspec.msgpack.Decoder(Snapshot)
manifest_json_decoder = msgspec.json.Decoder(RunManifest)


# A Python str can hold lone surrogates (json.loads("\\ud800") makes one) that UTF-8 cannot encode.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(v) for v in value]
    return value


def encode_snapshot(snapshot: Snapshot, fmt: Literal["json", "msgpack"] = "json") -> bytes:
    """Encode a snapshot. Lone surrogates in its text become U+FFFD rather than failing the capture."""
    if fmt == "json":
        encoder: msgspec.json.Encoder | msgspec.msgpack.Encoder = json_encoder
    elif fmt == "msgpack":
        encoder = msgpack_encoder
    else:
        raise ValueError(f"unknown snapshot format {fmt!r} (expected 'json' or 'msgpack')")
    try:
        return encoder.encode(snapshot)
    except UnicodeEncodeError:
        # Rare (a dataset with an escaped lone surrogate): pay for a sanitised copy only then.
        return encoder.encode(_without_surrogates(msgspec.to_builtins(snapshot)))


def decode_snapshot(data: bytes, fmt: Literal["json", "msgpack"] = "json") -> Snapshot:
    """Decode bytes into a Snapshot. Raises ``msgspec.DecodeError`` (incl. ValidationError)."""
    if fmt == "json":
        return snapshot_json_decoder.decode(data)
    if fmt == "msgpack":
        return snapshot_msgpack_decoder.decode(data)
    raise ValueError(f"unknown snapshot format {fmt!r} (expected 'json' or 'msgpack')")


def encode_manifest(manifest: RunManifest) -> bytes:
    # run.json is small and read by people with cat and jq: indent it.
    return msgspec.json.format(json_encoder.encode(manifest), indent=2) + b"\n"


def decode_manifest(data: bytes) -> RunManifest:
    return manifest_json_decoder.decode(data)
