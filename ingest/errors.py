"""Why a line could not become a record.

One root exception, small named subclasses, each with a stable `reason` code: the code is what
the dead-letter record and the `lookout decode` summary carry, so it never changes meaning.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    GARBAGE = "garbage"  # not an NMEA sentence, not a CSV row: noise or binary bytes
    LINE_TOO_LONG = "line_too_long"
    CHECKSUM = "checksum"  # NMEA checksum missing or wrong
    TAG_BLOCK_CHECKSUM = "tag_block_checksum"
    MALFORMED_SENTENCE = "malformed_sentence"  # !AIVDM with the wrong fields
    ORPHAN_FRAGMENT = "orphan_fragment"  # a later part whose earlier parts never came
    INCOMPLETE_MULTIPART = "incomplete_multipart"  # earlier parts whose later parts never came
    BAD_PAYLOAD = "bad_payload"  # characters outside the AIS 6-bit alphabet, wrong length
    DECODE_ERROR = "decode_error"  # pyais could not decode the assembled payload
    IMPOSSIBLE_VALUE = "impossible_value"  # e.g. latitude 95, MMSI beyond 30 bits
    BAD_CSV_ROW = "bad_csv_row"
    INTERNAL_ERROR = "internal_error"  # a bug in Lookout: the line is kept, never lost


class IngestError(Exception):
    """Root of every error a pure ingest function raises for bad input."""

    reason: Reason = Reason.GARBAGE

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason.value)
        self.detail = detail


class GarbageError(IngestError):
    reason = Reason.GARBAGE


class LineTooLongError(IngestError):
    reason = Reason.LINE_TOO_LONG


class ChecksumError(IngestError):
    reason = Reason.CHECKSUM


class TagBlockChecksumError(IngestError):
    reason = Reason.TAG_BLOCK_CHECKSUM


class MalformedSentenceError(IngestError):
    reason = Reason.MALFORMED_SENTENCE


class OrphanFragmentError(IngestError):
    reason = Reason.ORPHAN_FRAGMENT


class IncompleteMultipartError(IngestError):
    reason = Reason.INCOMPLETE_MULTIPART


class BadPayloadError(IngestError):
    reason = Reason.BAD_PAYLOAD


class DecodeError(IngestError):
    reason = Reason.DECODE_ERROR


class ImpossibleValueError(IngestError):
    reason = Reason.IMPOSSIBLE_VALUE


class BadCsvRowError(IngestError):
    reason = Reason.BAD_CSV_ROW
