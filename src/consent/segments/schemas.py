"""Request and response bodies of segments (msgspec). `rules` arrives as a plain
object and is decoded by `rules.parse`, which names the bad node's path."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from consent.schemas import Input

Name = Annotated[str, Meta(min_length=1, max_length=200)]
ExportFormat = Literal["csv", "ndjson", "hashed_csv", "meta", "google"]


class SegmentIn(Input):
    name: Name
    rules: dict[str, Any]


class SegmentPatch(Input):
    """Absent = unchanged."""

    name: Union[Name, UnsetType] = UNSET
    rules: Union[dict[str, Any], UnsetType] = UNSET


class SegmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    rules: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class CountOut(msgspec.Struct, kw_only=True):
    count: int
    channel: str
    purpose: str
