"""Encode/decode throughput of a 1,000-example snapshot: msgspec JSON, msgspec MessagePack, stdlib json.

    python bench/format.py [--examples 1000] [--repeat 50]

The stdlib baseline encodes the same content as plain dicts and decodes back to dicts (it does not even
build typed objects, so the comparison flatters it). Figures are medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.schema import ExampleResult, Snapshot, decode_snapshot, encode_snapshot
from tracker.scoring import summarize


def make_snapshot(n: int, seed: int = 0) -> Snapshot:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        answer = str(a + b)
        output = answer if rng.random() < 0.6 else str(rng.randint(0, 1999))
        rows.append(
            ExampleResult(
                example_id=f"ex_{i:05d}",
                input=f"What is {a}+{b}? Answer with the number only.",
                expected_output=answer,
                model_output=output,
                loss=rng.random() * 3,
                similarity=rng.random(),
                exact_match=output == answer,
                metadata={"source": "train.jsonl", "line": i + 1},
            )
        )
    return Snapshot(
        snapshot_id="bench_step_001000",
        training_step=1000,
        timestamp="2026-11-26T12:00:00.000Z",
        model_version="training",
        examples=rows,
        summary=summarize(rows),
    )


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    snapshot = make_snapshot(args.examples)
    as_dict = msgspec.to_builtins(snapshot)
    js = encode_snapshot(snapshot, "json")
    mp = encode_snapshot(snapshot, "msgpack")
    std = json.dumps(as_dict).encode()

    rows = []
    for name, size, enc, dec in [
        ("msgspec json", len(js), lambda: encode_snapshot(snapshot, "json"), lambda: decode_snapshot(js, "json")),
        (
            "msgspec msgpack",
            len(mp),
            lambda: encode_snapshot(snapshot, "msgpack"),
            lambda: decode_snapshot(mp, "msgpack"),
        ),
        ("stdlib json (dicts)", len(std), lambda: json.dumps(as_dict).encode(), lambda: json.loads(std)),
    ]:
        te, td = median_seconds(enc, args.repeat), median_seconds(dec, args.repeat)
        rows.append((name, size, te, td))

    print(f"snapshot of {args.examples:,} examples, median of {args.repeat} runs, Python {sys.version.split()[0]}")
    print(f"{'format':<22}{'bytes':>11}{'encode ms':>11}{'MB/s':>8}{'decode ms':>11}{'MB/s':>8}{'round trip ms':>15}")
    for name, size, te, td in rows:
        print(
            f"{name:<22}{size:>11,}{te * 1e3:>11.3f}{size / te / 1e6:>8.0f}{td * 1e3:>11.3f}"
            f"{size / td / 1e6:>8.0f}{(te + td) * 1e3:>15.3f}"
        )
    base = rows[2][2] + rows[2][3]
    for name, _, te, td in rows[:2]:
        print(f"round trip speed-up of {name} over stdlib json: {base / (te + td):.1f}x")


if __name__ == "__main__":
    main()
