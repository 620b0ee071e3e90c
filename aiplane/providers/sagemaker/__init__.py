"""SageMaker Model Registry: resolves model package ARNs (a version, or a group's latest approved)."""
