"""Kubernetes' own rules for names, label keys and values, taints and header names, as
annotated string types: whatever the API server would refuse is refused at the stack line.

Messages describe the rule and never repeat the value (a value may be a pasted secret).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from aiplane.stack.sections.base import Name

_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")


def _check_subdomain(value: str, what: str = "name") -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{what} must be a DNS subdomain: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters"
        )
    return value


def _check_dns_label_63(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            "must be a DNS label: lowercase letters, digits and '-', starting and ending "
            "with a letter or digit, at most 63 characters"
        )
    return value


def check_label_key(value: str) -> str:
    """A qualified name: ``[prefix/]name``, prefix a DNS subdomain, name at most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and not prefix:
        raise ValueError("label key has an empty prefix before '/'")
    if slash:
        _check_subdomain(prefix, "label key prefix")
    if len(name) > 63 or not _NAME_PART.match(name):
        raise ValueError(
            "label key name (after any prefix/) must be at most 63 characters of letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return value


def check_label_value(value: str) -> str:
    """Empty, or at most 63 characters of letters, digits, ``-_.``, alphanumeric at both ends."""
    if value and (len(value) > 63 or not _NAME_PART.match(value)):
        raise ValueError(
            "label value must be empty or at most 63 characters of letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit"
        )
    return value


def _check_not_reserved(value: str) -> str:
    if value.startswith("system-"):
        raise ValueError("the 'system-' prefix is reserved for Kubernetes' own priority classes")
    return value


def _check_header(value: str) -> str:
    if len(value) > 256 or not _HEADER.match(value):
        raise ValueError("must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~")
    return value


LabelKey = Annotated[str, AfterValidator(check_label_key)]
"""A Kubernetes label key (also node-selector keys and taint keys)."""
LabelValue = Annotated[str, AfterValidator(check_label_value)]
"""A Kubernetes label value (also node-selector values and taint values)."""
SubdomainName = Annotated[str, AfterValidator(_check_subdomain)]
"""An object name that Kubernetes checks as a DNS subdomain (Gateway, ServiceAccount)."""
NamespaceName = Annotated[str, AfterValidator(_check_dns_label_63)]
"""A namespace name: a DNS label of at most 63 characters."""
UnreservedPriorityName = Annotated[Name, AfterValidator(_check_not_reserved)]
"""A PriorityClass name that does not take Kubernetes' reserved ``system-`` prefix."""
HeaderName = Annotated[str, AfterValidator(_check_header)]
"""An HTTP header name (Gateway API ``HTTPHeaderName``)."""
