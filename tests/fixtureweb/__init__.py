"""The sample news web: a deterministic news site served over real HTTP for tests and the demo."""
