"""``spec.routes``: traffic between model versions and external providers, with AI policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiplane.stack.sections.base import Name, NonNegativeInt, PositiveInt, SecretRef, StackModel
from aiplane.stack.sections.gateway import GatewayTarget
from aiplane.stack.sections.kube import HeaderName, NamespaceName, SubdomainName

Provider = Literal["openai", "anthropic", "openai-compatible", "azure-openai", "bedrock"]


class LocalTarget(StackModel):
    """A model served by this stack; without a version, the model's own stage split applies."""

    model: Name
    """A model of this stack."""
    version: str | None = None
    """Pin one version; without it the model's stage weights apply."""


class ExternalTarget(StackModel):
    """A hosted provider; credentials only by Secret reference."""

    provider: Provider
    """Hosted provider."""
    model: str = Field(min_length=1, description="The provider's model id, e.g. gpt-4o.")
    endpoint: str | None = Field(default=None, description="Required for openai-compatible.")
    api_key_secret: SecretRef | None = None
    """Secret holding the provider API key."""


class Price(StackModel):
    """What a backend charges, so dollar budgets count (providers' list prices are built in)."""

    input_per_million_usd: float = Field(ge=0)
    """Dollars per million input (prompt) tokens."""
    output_per_million_usd: float = Field(ge=0)
    """Dollars per million output (completion) tokens."""


class BackendLimits(StackModel):
    requests_per_minute: PositiveInt | None = None
    """Requests per minute to this backend."""
    tokens_per_minute: PositiveInt | None = None
    """Tokens per minute to this backend."""
    daily_budget_usd: float | None = Field(default=None, gt=0)
    """Spend per day on this backend."""


class Backend(StackModel):
    """One weighted destination of a route."""

    name: Name
    """Backend name; fallback chains and matches refer to it."""
    weight: NonNegativeInt = Field(default=0, le=100)
    """Percent of the route's traffic."""
    local: LocalTarget | None = None
    """A model served by this stack."""
    external: ExternalTarget | None = None
    """A hosted provider."""
    limits: BackendLimits | None = None
    """Limits for this backend."""
    price: Price | None = None
    """Token prices; needed for budgets on local models and unknown provider models."""

    @model_validator(mode="after")
    def _one_target(self) -> Backend:
        if (self.local is None) == (self.external is None):
            raise ValueError("give exactly one of local or external")
        return self


class HeaderMatch(StackModel):
    """A/B: requests with this header go to one backend."""

    header: HeaderName
    """Request header name."""
    value: str
    """Exact header value."""
    backend: Name
    """Backend that matching requests go to."""


class Shadow(StackModel):
    backend: Name
    """Backend that receives mirrored requests."""
    percent: int = Field(default=100, ge=1, le=100)
    """Percent of requests mirrored."""


class FallbackTriggers(StackModel):
    error_rate_percent: float | None = Field(default=None, gt=0, le=100)
    """Fail over above this error rate."""
    p99_latency_ms: PositiveInt | None = None
    """Fail over above this p99 latency."""
    unhealthy: bool = True
    """Fail over when the backend is unhealthy."""


class Fallback(StackModel):
    chain: list[Name] = Field(min_length=2, description="Backend names, tried in order.")
    triggers: FallbackTriggers = Field(default_factory=FallbackTriggers)
    """When to move to the next backend."""


class RateLimit(StackModel):
    requests_per_minute: PositiveInt | None = None
    """Requests per minute."""
    tokens_per_minute: PositiveInt | None = None
    """Tokens per minute."""
    daily_budget_usd: float | None = Field(default=None, gt=0)
    """Spend per day."""


class RateLimits(StackModel):
    per_api_key: RateLimit | None = None
    """Limits per API key."""
    per_organization: RateLimit | None = None
    """Limits per organization."""
    api_key_header: HeaderName = "x-api-key"
    """Header that carries the API key identity."""
    organization_header: HeaderName = "x-organization"
    """Header that carries the organization."""


class Connection(StackModel):
    pool_size: PositiveInt = 100
    """Pooled upstream connections."""
    timeout_seconds: PositiveInt = 30
    """Request timeout."""
    retries: NonNegativeInt = 2
    """Retries on failure."""
    streaming: bool = True
    """Allow streamed responses."""


class GatewayRef(StackModel):
    name: SubdomainName = "ai-gateway"
    """Gateway the route attaches to."""
    namespace: NamespaceName | None = None
    """Gateway namespace (defaults to the stack's)."""
    target: GatewayTarget | None = None
    """AI gateway that enforces this route (default: spec.gateway.target)."""


class Route(StackModel):
    """An API path and where its requests go."""

    name: Name
    """Route name."""
    path: str = Field(pattern=r"^/", description="Path prefix, e.g. /v1/chat/completions.")
    gateway: GatewayRef = Field(default_factory=GatewayRef)
    """Gateway to attach to."""
    backends: list[Backend] = Field(min_length=1)
    """Weighted destinations."""
    header_matches: list[HeaderMatch] = Field(default_factory=list)
    """A/B routing by header."""
    shadow: Shadow | None = None
    """Mirror a share of traffic."""
    fallback: Fallback | None = None
    """Failover order."""
    rate_limits: RateLimits | None = None
    """Per-key and per-organization limits."""
    daily_budget_usd: float | None = Field(default=None, gt=0)
    """Spend per day for the whole route."""
    connection: Connection = Field(default_factory=Connection)
    """Upstream connection settings."""
