"""The API's error type and the handlers that turn errors into clear JSON 4xx answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from server.ratelimit import RateLimited


class ApiError(Exception):
    """A refusal the client can act on: `code` is stable, `detail` is for people."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def unauthorized(detail: str = "missing, invalid or revoked device token") -> ApiError:
    return ApiError(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})


# The stable `error` codes of refusals raised by the framework rather than by our routes.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def revoked() -> ApiError:
    """401 with its own code: the agent stops instead of enrolling itself again."""
    return ApiError(
        401,
        "revoked",
        "IT revoked this device; it enrolls again only when IT enrolls it on purpose",
        {"WWW-Authenticate": "Bearer"},
    )


def _printable(value: object) -> str:
    # Error messages echo client input; lone surrogates or bytes there must not break the reply.
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")[:300]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default handler echoes the raw input, which may not be encodable (a 500).
        errors = [
            {
                "loc": [_printable(part) for part in err.get("loc", ())],
                "msg": _printable(err.get("msg", "invalid")),
                "type": _printable(err.get("type", "")),
            }
            for err in list(exc.errors())[:20]
        ]
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse(
            {"error": "invalid_request", "detail": summary, "errors": errors}, status_code=422
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        # Starlette's own refusals (too many multipart files, a body cut off past the limit,
        # unknown routes) answer `{"detail"}`; the device API promises `{"error", "detail"}`.
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        return JSONResponse(
            {
                "error": HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}"),
                "detail": _printable(exc.detail),
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, exc: RateLimited) -> Response:
        return JSONResponse(
            {"error": "rate_limited", "detail": f"too many requests; retry in {exc.retry_after} s"},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
