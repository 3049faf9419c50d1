"""Error types a workflow's validator or handler raises, and what the API answers.

They travel as ``ApplicationError.type``; the API maps them to HTTP statuses.
"""

from __future__ import annotations

UNKNOWN_ACTION = "UnknownAction"  # 404: the flow has no such action
INVALID_PAYLOAD = "InvalidPayload"  # 422: the payload does not fit the action's model
NOT_ALLOWED = "ActionNotAllowed"  # 409: not allowed now, or not by this actor
NOT_THIS_PARTY = "NotThisOrdersParty"  # 403: a customer or provider of another order
PAYMENT_DECLINED = "PaymentDeclined"  # 409: the card was declined; the order is unchanged
PAYMENT_UNAVAILABLE = "PaymentUnavailable"  # 503: the payment provider could not be reached
# 409: the payment provider refused the request outright (an unknown payment method, an
# invalid request): nothing was charged and another payment method may be used.
PAYMENT_REFUSED = "PaymentRefused"
# 503: the action failed unexpectedly inside the order; the order is flagged for support.
ACTION_FAILED = "ActionFailed"

HTTP_STATUS = {
    UNKNOWN_ACTION: 404,
    INVALID_PAYLOAD: 422,
    NOT_ALLOWED: 409,
    NOT_THIS_PARTY: 403,
    PAYMENT_DECLINED: 409,
    PAYMENT_UNAVAILABLE: 503,
    PAYMENT_REFUSED: 409,
    ACTION_FAILED: 503,
}
