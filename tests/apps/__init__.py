"""ASGI apps served by the end-to-end tests (``tests.apps.<module>:<attribute>``)."""
