"""What each error code means and what the caller should do about it."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    type: str
    code: str
    meaning: str
    remedy: str


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode(
        401,
        "invalid_api_key",
        "missing_api_key",
        "No Authorization header was sent.",
        "Send `Authorization: Bearer YOUR_API_KEY` with every request.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "malformed_authorization_header",
        "The Authorization header is not `Bearer <one token>`.",
        "Use the Bearer scheme, one space, then the key.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "malformed_api_key",
        "The key has the wrong prefix, length, characters, spaces or checksum.",
        "Copy the entire key without spaces, exactly as it was shown when it was created.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "unknown_api_key",
        "The key is well-formed but no such key exists.",
        "Check the key in Settings > API; it may have been deleted or belong to another server.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "api_key_expired",
        "The key is past its expiry time (given in the message).",
        "Generate a new key in Settings > API, or rotate keys before they expire.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "api_key_revoked",
        "The key was revoked (the time is in the message).",
        "Revocation is final: generate a new key in Settings > API.",
    ),
    ErrorCode(
        401,
        "invalid_api_key",
        "api_key_in_url",
        "A key was put in the URL, where logs keep it.",
        "Send keys only in the Authorization header, and rotate the key that was exposed.",
    ),
    ErrorCode(
        403,
        "insufficient_permissions",
        "missing_scope",
        "The key lacks the scope the endpoint needs (both are named in the message).",
        "Create a key with the needed scope: read, write or admin.",
    ),
    ErrorCode(
        403,
        "insufficient_permissions",
        "plan_required",
        "The organization's plan has no API access.",
        "An owner upgrades to the Professional or Enterprise plan; existing keys work again.",
    ),
    ErrorCode(
        403,
        "insufficient_permissions",
        "ip_not_allowed",
        "The caller's IP address is outside the key's allow-list.",
        "Call from an allowed address or change the key's allow-list.",
    ),
    ErrorCode(
        429,
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "The organization (or the key) used its hourly request budget, or too many invalid keys came from one address.",
        "Wait `Retry-After` seconds, back off exponentially, and cache responses. Contact support for a higher limit.",
    ),
    ErrorCode(
        400,
        "invalid_request",
        "invalid_cursor",
        "The `cursor` is not one this API returned.",
        "Pass `next_cursor` from the previous page unchanged.",
    ),
    ErrorCode(
        404,
        "not_found",
        "resource_missing",
        "No such object in your organization (ids of other organizations answer the same way).",
        "Check the id, and that the key belongs to the organization that owns the object.",
    ),
    ErrorCode(
        404,
        "not_found",
        "route_not_found",
        "No endpoint at this path.",
        "Check the method and path against the API reference at /docs.",
    ),
    ErrorCode(
        409,
        "conflict",
        "idempotency_request_in_progress",
        "A request with the same Idempotency-Key is still running.",
        "Retry a moment later with the same key to get its response.",
    ),
    ErrorCode(
        400,
        "invalid_request",
        "invalid_webhook_url",
        "The webhook URL is not public `https://`, or its host resolves to a loopback, private, link-local, CGNAT or metadata address.",
        "Use a public https URL; on a private network the operator sets BOTYARD_WEBHOOK_ALLOW_PRIVATE_URLS=true.",
    ),
    ErrorCode(
        409,
        "conflict",
        "too_many_webhook_endpoints",
        "The organization already has the most webhook endpoints allowed (20).",
        "Delete an endpoint you no longer use, or subscribe one endpoint to more events.",
    ),
    ErrorCode(
        409,
        "conflict",
        "webhook_endpoint_disabled",
        "The webhook endpoint is disabled, so nothing is sent to it.",
        "Enable it with PATCH /v1/webhooks/{id} and `enabled: true`, then try again.",
    ),
    ErrorCode(
        409,
        "conflict",
        "delivery_in_progress",
        "The delivery is being sent right now.",
        "Look at the delivery again in a few seconds; retry it if that attempt failed too.",
    ),
    ErrorCode(
        401,
        "invalid_signature",
        "invalid_signature",
        "A GitHub secret scanning alert whose signature does not verify against the configured GitHub keys.",
        "Only GitHub sends these; check BOTYARD_SECRET_SCANNING_KEYS holds GitHub's current public_keys document.",
    ),
    ErrorCode(
        503,
        "service_unavailable",
        "secret_scanning_not_configured",
        "GitHub secret scanning alerts are not accepted: no GitHub public keys are configured.",
        "The operator sets BOTYARD_SECRET_SCANNING_KEYS to a file of GitHub's secret scanning public_keys JSON.",
    ),
    ErrorCode(
        413,
        "payload_too_large",
        "payload_too_large",
        "The request body is over the size limit.",
        "Send a smaller body.",
    ),
    ErrorCode(
        422,
        "validation_error",
        "invalid_parameter",
        "A field or parameter is missing, unknown or invalid (`param` names it).",
        "Fix the named field; unknown fields are refused rather than ignored.",
    ),
    ErrorCode(
        422,
        "validation_error",
        "idempotency_key_reused",
        "The Idempotency-Key was used before with a different request.",
        "Use a new key for a new request; reuse a key only to retry the same one.",
    ),
    ErrorCode(
        500,
        "api_error",
        "internal_error",
        "Something failed on the server.",
        "Retry later; quote the request id if you contact support.",
    ),
    ErrorCode(
        401,
        "invalid_request",
        "invalid_metrics_token",
        "GET /metrics (or the detailed /healthz) was asked without the right metrics token.",
        "Send `Authorization: Bearer <BOTYARD_METRICS_TOKEN>`, the token the operator configured.",
    ),
    ErrorCode(
        503,
        "service_unavailable",
        "service_unavailable",
        "The service is temporarily unavailable: its database did not answer in time.",
        "Retry after `Retry-After` seconds with exponential backoff; it recovers by itself.",
    ),
)
