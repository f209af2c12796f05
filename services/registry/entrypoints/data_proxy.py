"""The data proxy over HTTP: presigned, digest-addressed uploads and presigned downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.registry.entrypoints.dependencies import Bundles, Settings
from services.registry.entrypoints.identifiers import check_project_and_domain
from services.registry.entrypoints.openapi import error_responses
from services.registry.entrypoints.representations import (
    DownloadLocation,
    UploadLocation,
    UploadRequest,
)
from services.registry.service_layer import data_proxy

router = APIRouter(prefix="/api/v1/data_proxy", tags=["data proxy"])


@router.post(
    "/upload",
    response_model=UploadLocation,
    summary="Where to upload a code bundle, addressed by its SHA-256",
    description="Returns a presigned PUT signed with the content's SHA-256 checksum and size: "
    "send the bytes with `headers` and S3 refuses any other bytes. `exists` is true when "
    "the object is stored already (no upload needed). Over CONTRAIL_MAX_BUNDLE_BYTES: 413.",
    responses=error_responses(400, 413),
)
async def upload(request: UploadRequest, bundles: Bundles, settings: Settings) -> UploadLocation:
    check_project_and_domain(request.project, request.domain)
    location = await data_proxy.upload_location(
        bundles,
        max_bytes=settings.max_bundle_bytes,
        project=request.project,
        domain=request.domain,
        digest=request.digest,
        size=request.size,
        filename=request.filename,
    )
    return UploadLocation(
        uri=location.uri,
        upload_url=location.upload_url,
        headers=location.headers,
        exists=location.exists,
    )


@router.get(
    "/download",
    response_model=DownloadLocation,
    summary="A presigned GET of an object in Contrail's bucket",
    responses=error_responses(400, 404),
)
async def download(
    bundles: Bundles,
    uri: Annotated[str, Query(description="s3://<bucket>/<key>", examples=["s3://contrail/k"])],
) -> DownloadLocation:
    return DownloadLocation(url=await data_proxy.download_url(bundles, uri))
