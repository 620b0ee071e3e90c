"""aiplane: a declarative GitOps control plane for AI infrastructure on Kubernetes."""

__version__ = "0.1.0"
