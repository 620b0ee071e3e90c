"""MLflow Model Registry: resolves ``mlflow://`` / ``models:/`` references and moves aliases."""
