"""The data proxy over HTTP: presigned, digest-addressed uploads and presigned downloads."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

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
from shared.auth.dependency import Authenticated
from shared.auth.principal import Principal
from shared.auth.roles import ALL_PROJECTS, Role

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
async def upload(
    request: UploadRequest, bundles: Bundles, settings: Settings, principal: Authenticated
) -> UploadLocation:
    check_project_and_domain(request.project, request.domain)
    principal.require(Role.EDITOR, request.project, request.domain)
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
    principal: Authenticated,
    uri: Annotated[str, Query(description="s3://<bucket>/<key>", examples=["s3://contrail/k"])],
) -> DownloadLocation:
    _require_read(principal, uri)
    return DownloadLocation(url=await data_proxy.download_url(bundles, uri))


def _require_read(principal: Principal, uri: str) -> None:
    """Viewer on the project (and domain) of the key: ``<kind>/<project>/<domain>/...``.

    An object outside that layout is only for those who read every project.
    """
    parts = urlsplit(uri).path.lstrip("/").split("/")
    if len(parts) >= 4 and parts[0] in ("bundles", "inputs", "outputs", "logs"):
        principal.require(Role.VIEWER, parts[1], parts[2])
    else:
        principal.require(Role.VIEWER, ALL_PROJECTS)
