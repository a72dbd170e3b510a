"""End-to-end tests: real fastcorn servers in subprocesses, real clients, every loop backend."""
