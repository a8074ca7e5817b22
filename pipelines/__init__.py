"""Item pipelines, in the order the add-on installs them: (clean, validate, dedup to come) store."""
