"""The server raises the collector's young-generation threshold, unless the app set its own
(fastcorn.gcpolicy; issue 14: with 1,000 connections the default collected every ~50
requests)."""

from __future__ import annotations

import gc

import httpx
import pytest

from fastcorn import gcpolicy

APP = "tests.apps.gc_threshold:app"


def thresholds(server) -> dict:
    response = httpx.get(server.url + "/", verify=server.verify, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_the_default_threshold_is_raised_while_serving(serve):
    server = serve(APP, "--no-access-log")
    young, *older = gc.get_threshold()  # this interpreter's defaults, as the server's
    if young == gcpolicy.DEFAULT_YOUNG_THRESHOLD:
        young = gcpolicy.YOUNG_THRESHOLD
    # else another collector (Python 3.14's incremental one): left as it is
    assert thresholds(server) == {"threshold": [young, *older], "enabled": True}


@pytest.mark.parametrize("own", ["1234,5,6", "off"])
def test_an_apps_own_collector_settings_are_left_alone(serve, own):
    server = serve(APP, "--no-access-log", env={"FASTCORN_TEST_APP_GC": own})
    found = thresholds(server)
    if own == "off":
        assert found["enabled"] is False
        assert found["threshold"] == list(gc.get_threshold())
    else:
        assert found == {"threshold": [1234, 5, 6], "enabled": True}


def test_tune_changes_only_the_default():
    saved = gc.get_threshold()
    try:
        gc.set_threshold(gcpolicy.DEFAULT_YOUNG_THRESHOLD, 11, 12)
        assert gcpolicy.tune() is True
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 11, 12)
        assert gcpolicy.tune() is False  # already raised: nothing to do
        gc.set_threshold(500, 10, 10)
        assert gcpolicy.tune() is False
        assert gc.get_threshold() == (500, 10, 10)
    finally:
        gc.set_threshold(*saved)
