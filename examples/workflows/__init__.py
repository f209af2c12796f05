"""The example project's workflows: one module per feature of the SDK."""
