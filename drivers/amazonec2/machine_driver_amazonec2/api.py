"""The one adapter to EC2 (and SSM): clients from boto3's credential chain, and every call
through one retry policy.

botocore's own retries are turned off (one attempt per call) and ours take their place, so that
there is a single policy: throttling and transient server errors are retried with exponential
back-off and full jitter, up to --amazonec2-retries times; anything else is raised at once as a
DriverError that says what failed. One policy also means tests can drive it with botocore's
Stubber (which answers before botocore's retry handler would run).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from machine.driver import DriverError

THROTTLING = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
TRANSIENT = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "RequestTimeout"}
)
CREDENTIALS_HINT = (
    "Give credentials as boto3 finds them: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
    "AWS_SESSION_TOKEN), a profile in ~/.aws/credentials or ~/.aws/config (AWS_PROFILE, SSO "
    "included), or an instance role; or --amazonec2-access-key and --amazonec2-secret-key. "
    "They are never written into the store."
)


@dataclass
class RetryPolicy:
    retries: int = 5  # --amazonec2-retries: attempts after the first
    base: float = 0.5  # seconds; the n-th retry waits up to base * 2**n
    cap: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def delay(self, retry: int) -> float:
        # "full jitter": callers throttled together do not come back together
        return float(self.random() * min(self.cap, self.base * (2**retry)))


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


@dataclass
class Api:
    """A boto3 client whose calls go through the retry policy."""

    client: Any
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def __call__(
        self, operation: str, *, retry_codes: frozenset[str] = frozenset(), **params: Any
    ) -> Any:
        """Call `operation`; `retry_codes` are errors worth waiting out for this call (EC2 is
        eventually consistent: an id just made can be unknown for a moment)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        retry = 0
        while True:
            last = retry >= self.policy.retries
            try:
                return getattr(self.client, _snake(operation))(**params)
            except ClientError as exc:
                code = error_code(exc)
                worth_waiting = code in THROTTLING or code in TRANSIENT or code in retry_codes
                if last or not worth_waiting:
                    raise ApiError(operation, code, error_message(exc)) from None
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as exc:
                if last:
                    raise DriverError(f"EC2 {operation}: {exc}") from None
            except NoCredentialsError:
                raise DriverError("no AWS credentials found", hint=CREDENTIALS_HINT) from None
            except BotoCoreError as exc:
                raise DriverError(f"EC2 {operation}: {exc}") from None
            self.policy.sleep(self.policy.delay(retry))
            retry += 1

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item under `key` across pages; each page is a call of its own (retried)."""
        token = ""
        while True:
            page = self(operation, **({**params, "NextToken": token} if token else params))
            yield from page.get(key, [])
            token = page.get("NextToken") or ""
            if not token:
                return


class ApiError(DriverError):
    """An error EC2 answered with; `code` is its error code (InvalidKeyPair.Duplicate, ...)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        hint = ""
        if code in ("AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId"):
            hint = CREDENTIALS_HINT
        elif code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            hint = f"The credentials in use may not call {operation}: check the IAM policy."
        super().__init__(f"EC2 {operation}: {code}: {message}", hint=hint)
        self.code = code
        self.operation = operation


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass(frozen=True)
class Target:
    """Where and as whom to call: what a client is made from."""

    region: str
    endpoint: str = ""  # --amazonec2-endpoint (EC2 only); AWS_ENDPOINT_URL_EC2 also works
    access_key: str = ""
    secret_key: str = ""
    session_token: str = ""
    insecure: bool = False


_sessions: dict[Target, Any] = {}


def client(target: Target, service: str = "ec2", policy: RetryPolicy | None = None) -> Api:
    """A client for `service`; one boto3 session per target, reused in this process."""
    import boto3
    from botocore.config import Config

    session = _sessions.get(target)
    if session is None:
        session = boto3.session.Session(
            aws_access_key_id=target.access_key or None,
            aws_secret_access_key=target.secret_key or None,
            aws_session_token=target.session_token or None,
            region_name=target.region,
        )
        _sessions[target] = session
    config = Config(
        retries={"total_max_attempts": 1},  # ours, see the module's doc
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="machine",
    )
    endpoint = target.endpoint if service == "ec2" else ""
    raw = session.client(
        service,
        endpoint_url=endpoint or None,
        use_ssl=not target.insecure,
        config=config,
    )
    return Api(raw, policy or RetryPolicy())


def known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return regions
