"""``spec.routes``: traffic between model versions and external providers, with AI policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiplane.stack.sections.base import Name, NonNegativeInt, PositiveInt, SecretRef, StackModel

Provider = Literal["openai", "anthropic", "openai-compatible", "azure-openai", "bedrock"]


class LocalTarget(StackModel):
    """A model served by this stack; without a version, the model's own stage split applies."""

    model: Name
    version: str | None = None


class ExternalTarget(StackModel):
    """A hosted provider; credentials only by Secret reference."""

    provider: Provider
    model: str = Field(min_length=1, description="The provider's model id, e.g. gpt-4o.")
    endpoint: str | None = Field(default=None, description="Required for openai-compatible.")
    api_key_secret: SecretRef | None = None


class BackendLimits(StackModel):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None
    daily_budget_usd: float | None = Field(default=None, gt=0)


class Backend(StackModel):
    """One weighted destination of a route."""

    name: Name
    weight: NonNegativeInt = Field(default=0, le=100)
    local: LocalTarget | None = None
    external: ExternalTarget | None = None
    limits: BackendLimits | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Backend:
        if (self.local is None) == (self.external is None):
            raise ValueError("give exactly one of local or external")
        return self


class HeaderMatch(StackModel):
    """A/B: requests with this header go to one backend."""

    header: str = Field(min_length=1)
    value: str
    backend: Name


class Shadow(StackModel):
    backend: Name
    percent: int = Field(default=100, ge=1, le=100)


class FallbackTriggers(StackModel):
    error_rate_percent: float | None = Field(default=None, gt=0, le=100)
    p99_latency_ms: PositiveInt | None = None
    unhealthy: bool = True


class Fallback(StackModel):
    chain: list[Name] = Field(min_length=2, description="Backend names, tried in order.")
    triggers: FallbackTriggers = Field(default_factory=FallbackTriggers)


class RateLimit(StackModel):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None
    daily_budget_usd: float | None = Field(default=None, gt=0)


class RateLimits(StackModel):
    per_api_key: RateLimit | None = None
    per_organization: RateLimit | None = None
    api_key_header: str = "x-api-key"
    organization_header: str = "x-organization"


class Connection(StackModel):
    pool_size: PositiveInt = 100
    timeout_seconds: PositiveInt = 30
    retries: NonNegativeInt = 2
    streaming: bool = True


class GatewayRef(StackModel):
    name: str = "ai-gateway"
    namespace: str | None = None


class Route(StackModel):
    """An API path and where its requests go."""

    name: Name
    path: str = Field(pattern=r"^/", description="Path prefix, e.g. /v1/chat/completions.")
    gateway: GatewayRef = Field(default_factory=GatewayRef)
    backends: list[Backend] = Field(min_length=1)
    header_matches: list[HeaderMatch] = Field(default_factory=list)
    shadow: Shadow | None = None
    fallback: Fallback | None = None
    rate_limits: RateLimits | None = None
    daily_budget_usd: float | None = Field(default=None, gt=0)
    connection: Connection = Field(default_factory=Connection)
