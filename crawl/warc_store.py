"""WARC files of an archive wherever it lives: a local ``warc/`` directory or the bucket.

A shared archive's run writes WARC files in the worker's cache and ships each one to
``warc/<name>`` in the bucket before the batch whose rows point into it is staged (the
staging's ``before_stage`` hook), so every staged or committed row's (file, offset, length)
addresses a record already in the bucket. Readers fetch one record with a ranged GET.
"""
from __future__ import annotations

from pathlib import Path

from storage.lake import Archive

from .warc import WarcRef, WarcWriter, parse_member, read_record


def ship_sealed(archive: Archive, writer: WarcWriter) -> list[str]:
    """Seal the writer's current file and upload every finished file; the local copies are dropped."""
    shipped = []
    for name in writer.seal():
        local = Path(writer.root) / name
        archive.store.put_file(archive.shared.key("warc", name), local)
        local.unlink(missing_ok=True)
        shipped.append(name)
    return shipped


def read_archived(archive: Archive, ref: WarcRef) -> tuple[str, int, dict[str, str], bytes]:
    """(url, status, headers, body) of the record at ``ref``: one ranged read, local or S3."""
    if archive.shared is None:
        return read_record(archive.warc_dir, ref)
    key = archive.shared.key("warc", ref.filename)
    member = archive.store.get_range(key, ref.offset, ref.length)
    return parse_member(member, ref, archive.store.url(key))
