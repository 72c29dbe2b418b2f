"""The codec server of the Temporal Web UI (Temporal's remote codec protocol): `POST
/codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` (protobuf JSON,
metadata and data in base64), through the API's own data converter and data keys.

A caller proves itself with `Authorization: Bearer <token>` (the token in Vault at
`<prefix>/codec/token`), or, from a browser (the Web UI has no login to pass on), with the session
cookie of starters/api/codec_session.py, sent from the Web UI's origin: the UI server is
configured to include credentials in its codec requests. CORS grants the Web UI's origin
(`BACKOFFICE_TEMPORAL_UI_URL`) and no other; `X-Namespace`, when sent, must be the API's
Temporal namespace.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from runtime.codec import PayloadDecryptionError
from runtime.settings import Settings
from starters.api.codec_session import (
    SESSION_COOKIE,
    Built,
    expected_token,
    same,
    ui_origin,
    valid_session,
)
from starters.api.errors import ApiError
from starters.api.services import Services

router = APIRouter(prefix="/codec", include_in_schema=False)

OPERATIONS = ("decode", "encode")
PREFLIGHT_MAX_AGE = "600"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
CHALLENGE = 'Bearer realm="codec"'


def _from_ui(request: Request, settings: Settings) -> bool:
    return (request.headers.get("origin") or "").lower() == ui_origin(settings)


def _cors(request: Request, settings: Settings) -> dict[str, str]:
    """The CORS grant: for the Web UI's origin only (`Vary`, so caches keep them apart)."""
    headers = {"Vary": "Origin"}
    if _from_ui(request, settings):
        headers["Access-Control-Allow-Origin"] = request.headers["origin"]
        # The UI's "include cross-origin credentials" sends the session cookie.
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


@router.options("/{operation}")
async def preflight(operation: str, request: Request, built: Built) -> Response:
    """The browser's CORS preflight: granted to the Web UI's origin, refused to any other."""
    headers = _cors(request, built.settings)
    if operation not in OPERATIONS:
        raise ApiError(404, "NOT_FOUND", f"no codec operation {operation!r}", headers=headers)
    if "Access-Control-Allow-Origin" not in headers:
        raise ApiError(
            403,
            "ORIGIN_NOT_ALLOWED",
            "the codec server answers browsers on the Temporal Web UI's origin only "
            "(BACKOFFICE_TEMPORAL_UI_URL)",
            headers=headers,
        )
    headers |= {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
    return Response(status_code=204, headers=headers)


@router.post("/decode")
async def decode(request: Request, built: Built) -> Response:
    """Encrypted payloads in, their plain originals out (others pass through unchanged)."""
    return await _convert(request, built, "decode")


@router.post("/encode")
async def encode(request: Request, built: Built) -> Response:
    """Plain payloads in (a signal or start input typed into the Web UI), encrypted out."""
    return await _convert(request, built, "encode")


async def _convert(request: Request, built: Built, operation: str) -> Response:
    cors = _cors(request, built.settings)
    await _authorize(request, built, cors)
    payloads = await _payloads(request, cors)
    codec = _codec(built)
    try:
        if operation == "decode":
            converted = await codec.decode(list(payloads.payloads))
        else:
            converted = await codec.encode(list(payloads.payloads))
    except PayloadDecryptionError as exc:
        raise ApiError(422, "UNDECRYPTABLE_PAYLOAD", str(exc), headers=cors) from None
    body = json_format.MessageToDict(Payloads(payloads=converted))
    return JSONResponse(body, headers=cors)


def _codec(built: Services) -> PayloadCodec:
    codec = built.temporal.data_converter.payload_codec
    if codec is None:
        raise RuntimeError("the API's Temporal client has no payload codec")
    return codec


async def _authorize(request: Request, built: Services, cors: dict[str, str]) -> None:
    """A valid bearer token, or a session cookie from the Web UI's origin; then the namespace."""
    expected = await expected_token(built)
    challenge = {**cors, "WWW-Authenticate": CHALLENGE}
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not same(token.strip(), expected):
            raise ApiError(
                401, "INVALID_CREDENTIALS", "the codec token is not valid", headers=challenge
            )
    elif cookie is not None:
        if not _from_ui(request, built.settings):
            raise ApiError(
                403,
                "ORIGIN_NOT_ALLOWED",
                "a codec session cookie counts only on requests from the Temporal Web UI",
                headers=cors,
            )
        if not valid_session(cookie, expected):
            raise ApiError(
                401,
                "INVALID_CREDENTIALS",
                "the codec session has expired or its token changed: open /codec/session again",
                headers=challenge,
            )
    else:
        raise ApiError(
            401,
            "UNAUTHENTICATED",
            "send Authorization: Bearer <codec token>, or open the one-time sign-in link "
            "(`backoffice dev web-ui` prints one) or /codec/session once in this browser",
            headers=challenge,
        )
    # The Web UI names its namespace; the `temporal` CLI sends none: then it is ours.
    namespace = request.headers.get("x-namespace", built.temporal.namespace)
    if namespace != built.temporal.namespace:
        raise ApiError(
            403,
            "NAMESPACE_NOT_ALLOWED",
            f"this codec server serves namespace '{built.temporal.namespace}' only "
            "(X-Namespace header)",
            headers=cors,
        )


async def _payloads(request: Request, cors: dict[str, str]) -> Payloads:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", "send the payloads as application/json", headers=cors
        )
    try:
        return json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError:
        raise ApiError(
            400,
            "INVALID_PAYLOADS",
            'the body is not {"payloads": [{"metadata": {...}, "data": "<base64>"}]}',
            headers=cors,
        ) from None
