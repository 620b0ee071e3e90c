"""``spec.gateway``: which AI gateway enforces the routes, and how strictly.

A route's policy (weights, chain, budgets, limits) is enforced by a gateway target. ``litellm``
renders a LiteLLM proxy (config, Deployment, Service); ``envoy-ai-gateway`` renders Envoy AI
Gateway and Envoy Gateway resources. Each target enforces some route fields, approximates others
and cannot express the rest (see ``aiplane.gateway.capabilities``); ``strict: true`` turns every
field a target does not enforce into an error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aiplane.stack.sections.base import Name, PositiveInt, Quantity, SecretRef, StackModel

GatewayTarget = Literal["litellm", "envoy-ai-gateway"]
BudgetProvider = Literal["openai", "anthropic", "azure-openai", "bedrock", "local"]
LITELLM_VERSION = "1.108.5"
"""The LiteLLM proxy version aiplane renders for and tests against."""


class RedisSettings(StackModel):
    """Shared counters (tpm/rpm, budgets, cooldowns) for a proxy with several replicas."""

    host: str = Field(min_length=1, description="Redis host name.")
    port: PositiveInt = 6379
    """Redis port."""
    password_secret: SecretRef | None = None
    """Secret holding the Redis password."""


class LiteLLMSettings(StackModel):
    """The LiteLLM proxy that serves the stack's ``litellm`` routes."""

    name: Name = "litellm"
    """Name of the proxy's Deployment, Service and ConfigMap."""
    image: str = f"ghcr.io/berriai/litellm:main-v{LITELLM_VERSION}"
    """Proxy image; keep it at the version aiplane is tested with."""
    replicas: PositiveInt = 1
    """Proxy replicas; more than one needs redis (counters and budgets are shared there)."""
    cpu: Quantity = "1"
    """CPU request (and limit) per replica."""
    memory: Quantity = "2Gi"
    """Memory request (and limit) per replica."""
    master_key_secret: SecretRef | None = None
    """Secret holding the proxy's master key (clients authenticate with it)."""
    redis: RedisSettings | None = None
    """Shared state for several replicas."""
    cooldown_seconds: PositiveInt = 60
    """How long a backend is skipped after the error-rate or health trigger fires."""


class GatewaySettings(StackModel):
    """The AI gateway that enforces route policy."""

    target: GatewayTarget = "envoy-ai-gateway"
    """Default target of routes with AI policy (a route may choose its own)."""
    strict: bool = False
    """Make every route field the target does not enforce an error instead of a warning."""
    provider_budgets_usd: dict[BudgetProvider, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict
    )
    """Daily spend per provider across every route (``local``: the stack's models and
    openai-compatible endpoints, which LiteLLM counts as one provider, hosted_vllm)."""
    litellm: LiteLLMSettings = Field(default_factory=LiteLLMSettings)
    """The LiteLLM proxy (target litellm)."""
