"""The snapshot directory: naming, atomic writes, listing, reading, run.json and archiving.

Layout of one run directory::

    run.json                       manifest + heartbeat (optional: seed-format directories lack it)
    step_000000.json               one snapshot per captured step, immutable once renamed in place
    step_000010.msgpack            (either format; the reader goes by the extension)
    step_1000000.json              more than six digits is legal: order by the parsed step, never by name
    .step_000025.json.tmp-<pid>    a write in progress: readers ignore dot-files
    archive/<run_id>/...           an earlier run moved aside, never overwritten or mixed

Reading never raises on bad content: it returns a ``ReadError`` naming the file and the reason.
Imports only the standard library and msgspec.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import msgspec

from tracker.schema import (
    SCHEMA_VERSION,
    RunManifest,
    Snapshot,
    decode_manifest,
    decode_snapshot,
    encode_manifest,
    encode_snapshot,
)

Format = Literal["json", "msgpack"]
MANIFEST_NAME = "run.json"
ARCHIVE_DIR = "archive"
SNAPSHOT_NAME = re.compile(r"^step_(\d{1,12})\.(json|msgpack)$")
# The largest step a file name can carry (12 digits): a larger one would be written under a name no
# reader lists, so it is refused on both sides.
MAX_STEP = 10**12 - 1
# A snapshot larger than this is refused unread: a 10,000-example snapshot is ~10 MB.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# run.json holds the example ids (~200 kB for 10,000 examples): anything near this is not a manifest.
MANIFEST_MAX_BYTES = 64 * 1024 * 1024


def snapshot_filename(step: int, fmt: Format = "json") -> str:
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"step must be in 0..{MAX_STEP:,}, got {step}")
    if fmt not in ("json", "msgpack"):
        raise ValueError(f"unknown snapshot format {fmt!r}")
    return f"step_{step:06d}.{fmt}"


def parse_snapshot_filename(name: str) -> tuple[int, Format] | None:
    """(step, format) for a snapshot file name, None for anything else (dot-files, temp files...)."""
    match = SNAPSHOT_NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)  # type: ignore[return-value]


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SnapshotFile:
    """A snapshot file as seen in a directory listing (no content read)."""

    path: Path
    step: int
    format: Format
    size: int
    mtime_ns: int

    @property
    def signature(self) -> tuple[int, int]:
        """Changes when the file is rewritten or grows: the tailer rereads a file on a new signature."""
        return (self.size, self.mtime_ns)


# What went wrong, decided by this module's own checks (never by another library's message text):
# readers and tests branch on the kind; ``reason`` is for people.
ReadErrorKind = Literal[
    "unreadable",  # the OS refused (permissions, I/O error, vanished)
    "not_a_file",  # a directory, pipe, socket or device
    "too_large",
    "empty",
    "invalid_utf8",  # JSON that is not UTF-8 text
    "invalid",  # not a document of the format (truncated, not JSON/MessagePack at all)
    "too_deep",  # nested deeper than a decoder will go
    "wrong_shape",  # decodes, but not into the schema (a field missing or of the wrong type)
    "too_new",  # a schema version newer than this reader
    "out_of_range",  # training_step outside 0..MAX_STEP
    "step_mismatch",  # the file name says one step, the content another
]


@dataclass(frozen=True)
class ReadError:
    """Why a file could not be read. Never raised: returned, shown, counted, retried on change."""

    path: Path
    reason: str
    kind: ReadErrorKind = "invalid"

    def __str__(self) -> str:
        return f"{self.path.name}: {self.reason}"


def list_snapshot_files(directory: str | os.PathLike[str]) -> list[SnapshotFile]:
    """Snapshot files in ``directory``, ordered by (step, format). Raises OSError if it cannot be listed.

    Dot-files (writes in progress), other names, directories and dangling links are skipped.
    """
    found: list[SnapshotFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            parsed = parse_snapshot_filename(entry.name)
            if parsed is None:
                continue
            try:
                if not entry.is_file():  # follows links; a dir named like a snapshot is skipped
                    continue
                st = entry.stat()
            except OSError:  # vanished, dangling link, symlink loop
                continue
            found.append(SnapshotFile(Path(entry.path), parsed[0], parsed[1], st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: (f.step, f.format))
    return found


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_error(path: Path, exc: Exception, data: bytes, fmt: Format) -> ReadError:
    """A ReadError for a failed decode, its kind from our own checks (the exception's type, the bytes)."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        return ReadError(path, f"wrong shape: {text}", "wrong_shape")
    if isinstance(exc, RecursionError):
        return ReadError(path, "not valid: nested too deeply", "too_deep")
    if isinstance(exc, UnicodeDecodeError) or (fmt == "json" and not _is_utf8(data)):
        return ReadError(path, f"invalid UTF-8 text: {text}", "invalid_utf8")
    if "truncated" in text.lower() or "unexpected end" in text.lower():  # wording only, the kind stays
        return ReadError(path, f"truncated: {text}", "invalid")
    return ReadError(path, f"not valid: {text}", "invalid")


def decode_snapshot_bytes(data: bytes, fmt: Format, path: Path) -> Snapshot | ReadError:
    """Decode and check one snapshot's bytes; bad content becomes a ReadError naming ``path``."""
    if not data:
        return ReadError(path, "empty file", "empty")
    try:
        snapshot = decode_snapshot(data, fmt)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _decode_error(path, exc, data, fmt)
    if snapshot.schema_version > SCHEMA_VERSION:
        return ReadError(
            path,
            f"schema version {snapshot.schema_version} is newer than this reader knows ({SCHEMA_VERSION}):"
            " upgrade evotui",
            "too_new",
        )
    if not 0 <= snapshot.training_step <= MAX_STEP:
        return ReadError(
            path, f"training_step {snapshot.training_step} is out of range 0..{MAX_STEP:,}", "out_of_range"
        )
    if snapshot.summary is None:
        from tracker.scoring import summarize  # rapidfuzz is only needed for files without a summary

        snapshot.summary = summarize(snapshot.examples)
    return snapshot


def _read_regular_file(path: Path, max_bytes: int) -> bytes | ReadError:
    """The bytes of a regular file of at most ``max_bytes``, or a ReadError; never blocks, never slurps.

    O_NONBLOCK: opening a FIFO named like a snapshot would otherwise wait forever for a writer.
    The fstat check refuses FIFOs, devices (a link to /dev/zero is endless) and directories.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        return ReadError(path, "is a directory", "not_a_file")
    except OSError as exc:
        return ReadError(path, f"cannot read: {exc.strerror or exc}", "unreadable")
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return ReadError(path, "is a directory", "not_a_file")
        if not stat.S_ISREG(st.st_mode):
            return ReadError(path, "not a regular file (a pipe, socket or device); not read", "not_a_file")
        if st.st_size > max_bytes:
            reason = f"too large: {st.st_size:,} bytes (the limit is {max_bytes:,}); not read"
            return ReadError(path, reason, "too_large")
        with os.fdopen(os.dup(fd), "rb") as fh:
            # Read at most one byte more than the limit: a file growing under us is not read whole.
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return ReadError(path, f"cannot read: {exc.strerror or exc}", "unreadable")
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return ReadError(path, f"too large: over {max_bytes:,} bytes; not read", "too_large")
    return data


def read_snapshot(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Snapshot | ReadError:
    """Read one snapshot file. Returns a Snapshot, or a ReadError naming the file and the reason.

    A file whose name says one step and whose content another is refused: trusting either would put
    a snapshot at a step where the directory listing does not have it (or hide another file's).
    """
    path = Path(path)
    parsed = parse_snapshot_filename(path.name)
    fmt: Format = parsed[1] if parsed else ("msgpack" if path.suffix == ".msgpack" else "json")
    data = _read_regular_file(path, max_bytes)
    if isinstance(data, ReadError):
        return data
    result = decode_snapshot_bytes(data, fmt, path)
    if parsed is not None and isinstance(result, Snapshot) and result.training_step != parsed[0]:
        return ReadError(
            path,
            f"file name says step {parsed[0]} but it holds training_step {result.training_step}; not used",
            "step_mismatch",
        )
    return result


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a part.

    Dot-temp file in the same directory (same filesystem, and readers skip dot-files), flush, fsync,
    ``os.replace``. On any failure the temp file is removed and the exception propagates.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible everywhere (e.g. Windows), hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_snapshot(
    directory: str | os.PathLike[str], snapshot: Snapshot, fmt: Format = "json", fsync: bool = True
) -> Path:
    """Encode and atomically write ``snapshot`` as ``step_NNNNNN.<fmt>`` in ``directory``."""
    directory = Path(directory)
    path = directory / snapshot_filename(snapshot.training_step, fmt)
    atomic_write_bytes(path, encode_snapshot(snapshot, fmt), fsync=fsync)
    return path


def read_manifest(directory: str | os.PathLike[str]) -> RunManifest | ReadError | None:
    """run.json of a run directory: a RunManifest, a ReadError, or None when there is none."""
    path = Path(directory) / MANIFEST_NAME
    if not os.path.lexists(path):
        return None
    data = _read_regular_file(path, MANIFEST_MAX_BYTES)
    if isinstance(data, ReadError):
        return None if not os.path.lexists(path) else data  # removed between the two calls: none
    if not data:
        return ReadError(path, "empty file", "empty")
    try:
        manifest = decode_manifest(data)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _decode_error(path, exc, data, "json")
    if manifest.schema_version > SCHEMA_VERSION:
        return ReadError(path, f"schema version {manifest.schema_version} is newer than this reader knows", "too_new")
    return manifest


def write_manifest(directory: str | os.PathLike[str], manifest: RunManifest, fsync: bool = True) -> Path:
    path = Path(directory) / MANIFEST_NAME
    atomic_write_bytes(path, encode_manifest(manifest), fsync=fsync)
    return path


def has_run_files(directory: str | os.PathLike[str]) -> bool:
    """True when ``directory`` holds snapshots or a run.json (i.e. a run lives there)."""
    directory = Path(directory)
    if (directory / MANIFEST_NAME).exists():
        return True
    try:
        return bool(list_snapshot_files(directory))
    except OSError:
        return False


def archive_run(directory: str | os.PathLike[str], run_id: str | None = None) -> Path | None:
    """Move the run living in ``directory`` (snapshots and run.json) to ``archive/<run_id>/``.

    Nothing is deleted and nothing is overwritten: an archive name already taken gets a suffix.
    ``run_id`` defaults to the manifest's, else to the oldest snapshot's time. Returns the archive
    folder, or None when there was nothing to move.
    """
    directory = Path(directory)
    files = list_snapshot_files(directory)
    manifest_path = directory / MANIFEST_NAME
    if not files and not manifest_path.exists():
        return None
    if run_id is None:
        manifest = read_manifest(directory)
        if isinstance(manifest, RunManifest) and manifest.run_id:
            run_id = manifest.run_id
        else:
            oldest = min((f.mtime_ns for f in files), default=0)
            stamp = datetime.fromtimestamp(oldest / 1e9, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            run_id = f"run-{stamp}"
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id).lstrip(".") or "run"
    target = directory / ARCHIVE_DIR / safe_id
    n = 1
    while target.exists():
        n += 1
        target = directory / ARCHIVE_DIR / f"{safe_id}-{n}"
    target.mkdir(parents=True)
    for f in files:
        shutil.move(str(f.path), target / f.path.name)
    if manifest_path.exists():
        shutil.move(str(manifest_path), target / MANIFEST_NAME)
    return target


class SnapshotStore:
    """One run directory, for writers and readers. A thin object over the functions above."""

    def __init__(self, directory: str | os.PathLike[str], fmt: Format = "json", fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.format: Format = fmt
        self.fsync = fsync

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, snapshot: Snapshot) -> Path:
        self.ensure()
        return write_snapshot(self.directory, snapshot, self.format, fsync=self.fsync)

    def files(self) -> list[SnapshotFile]:
        return list_snapshot_files(self.directory)

    def steps(self) -> list[int]:
        return sorted({f.step for f in self.files()})

    def read(self, path: str | os.PathLike[str]) -> Snapshot | ReadError:
        return read_snapshot(path)

    def read_all(self) -> Iterator[Snapshot | ReadError]:
        for f in self.files():
            yield read_snapshot(f.path)

    def read_manifest(self) -> RunManifest | ReadError | None:
        return read_manifest(self.directory)

    def write_manifest(self, manifest: RunManifest) -> Path:
        self.ensure()
        return write_manifest(self.directory, manifest, fsync=self.fsync)

    def has_run(self) -> bool:
        return has_run_files(self.directory)

    def archive(self, run_id: str | None = None) -> Path | None:
        return archive_run(self.directory, run_id)
