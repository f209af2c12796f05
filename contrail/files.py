"""``File`` and ``Directory``: the user types for blobs, local or in S3.

A blob is named by a path on this machine or by an ``s3://`` URI. Its literal
is ``{"uri": ...}``: S3 URIs as they are, local paths as ``file:///absolute``.
Both types also work as fields of dataclasses and pydantic models.
"""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import IO, Any, ClassVar, Self
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from contrail.errors import ArgumentError

_SCHEMES = ("s3", "file")


class _Blob:
    """What files and directories share: a path as given and the URI it stands for."""

    _kind: ClassVar[str]

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Name a blob by a local path, a ``file://`` URI or an ``s3://bucket/key`` URI.

        Raises:
            TypeError: ``path`` is not a string or a path.
            ArgumentError: (a ValueError) ``path`` is empty, or a URI of another
                scheme, or an S3 URI without a bucket.
        """
        if not isinstance(path, str | os.PathLike):
            raise TypeError(
                f"{type(self).__name__} takes a path or a URI, got {type(path).__name__}"
            )
        self.path: str = os.fspath(path)
        self._uri = _uri_of(self.path, type(self).__name__)

    @classmethod
    def from_uri(cls, uri: str) -> Self:
        """The blob at ``uri``; a ``file://`` URI gives back a plain local path.

        Raises:
            ArgumentError: as the constructor does.
        """
        if urlsplit(uri).scheme == "file":
            return cls(_local_path(uri))
        return cls(uri)

    @property
    def uri(self) -> str:
        """``s3://...`` as given, or ``file:///absolute/path`` for a local blob."""
        return self._uri

    @property
    def is_remote(self) -> bool:
        """Whether the blob lives in S3 rather than on this machine."""
        return not self._uri.startswith("file:")

    def __fspath__(self) -> str:
        """The local path, so that ``open(blob)`` and ``os.fspath(blob)`` work.

        Raises:
            ArgumentError: the blob is in S3 and has not been downloaded.
        """
        if self.is_remote:
            raise ArgumentError(f"{self!r} is in S3; it has no local path until it is downloaded")
        return _local_path(self._uri)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Blob) or other._kind != self._kind:
            return NotImplemented
        return self._uri == other._uri

    def __hash__(self) -> int:
        return hash((self._kind, self._uri))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # As a field of a record: the same {"uri": ...} object as the literal.
        from_literal = core_schema.chain_schema(
            [
                core_schema.typed_dict_schema(
                    {"uri": core_schema.typed_dict_field(core_schema.str_schema(min_length=1))}
                ),
                core_schema.no_info_plain_validator_function(lambda d: cls.from_uri(d["uri"])),
            ]
        )
        return core_schema.json_or_python_schema(
            json_schema=from_literal,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_literal]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda blob: {"uri": blob.uri}, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["title"] = cls.__name__
        return json_schema


class File(_Blob):
    """A file, on this machine (a path) or in S3 (``s3://bucket/key``)."""

    _kind = "file"

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open a local file, as the built-in ``open`` does.

        Raises:
            NotImplementedError: the file is in S3 (downloads come with executions).
            OSError: as the built-in ``open`` does.
        """
        if self.is_remote:
            raise NotImplementedError(f"{self!r} is in S3; downloading it comes with executions")
        return open(self.__fspath__(), mode)


class Directory(_Blob):
    """A directory, on this machine (a path) or in S3 (an ``s3://bucket/prefix``)."""

    _kind = "directory"


def _uri_of(path: str, type_name: str) -> str:
    if not path:
        raise ArgumentError(f"{type_name} needs a path or a URI, got an empty string")
    if "://" not in path:
        return PurePath(os.path.abspath(path)).as_uri()
    parts = urlsplit(path)
    if parts.scheme not in _SCHEMES:
        raise ArgumentError(
            f"{type_name}({path!r}): unsupported scheme {parts.scheme!r}; "
            "use a local path or an s3:// URI"
        )
    if parts.scheme == "s3" and not parts.netloc:
        raise ArgumentError(f"{type_name}({path!r}): an S3 URI names a bucket, s3://bucket/key")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ArgumentError(f"{type_name}({path!r}): a file:// URI names a path on this machine")
    if parts.scheme == "file":
        return PurePath(os.path.abspath(_local_path(path))).as_uri()
    return path


def _local_path(uri: str) -> str:
    return url2pathname(urlsplit(uri).path)
