"""The server raises the collector's young-generation threshold, unless the app set its own
(fastcorn.gcpolicy; issue 14: with 1,000 connections the default collected every ~50
requests)."""

from __future__ import annotations

import gc
import socket
import time

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


def test_the_threshold_follows_the_open_connections(serve):
    """Once a second the threshold is PER_CONNECTION objects per open connection (at least
    YOUNG_THRESHOLD): a loop turn on that many connections leaves that many waiting."""
    server = serve(APP, "--no-access-log")
    if gc.get_threshold()[0] != gcpolicy.DEFAULT_YOUNG_THRESHOLD:
        pytest.skip("this Python's collector is not the generational one fastcorn tunes")
    opened = 600
    scaled = gcpolicy.PER_CONNECTION * opened
    assert scaled > gcpolicy.YOUNG_THRESHOLD

    def young_when(predicate) -> int:
        deadline = time.monotonic() + 10
        while True:
            young = thresholds(server)["threshold"][0]
            if predicate(young) or time.monotonic() > deadline:
                return young
            time.sleep(0.2)

    conns = [socket.create_connection((server.host, server.port)) for _ in range(opened)]
    try:
        # the idle connections and the probing one are counted at the next tick
        young = young_when(lambda y: y >= scaled)
        assert scaled <= young <= gcpolicy.PER_CONNECTION * (opened + 2)
    finally:
        for conn in conns:
            conn.close()
    assert young_when(lambda y: y == gcpolicy.YOUNG_THRESHOLD) == gcpolicy.YOUNG_THRESHOLD


def test_follow_scales_only_its_own_threshold():
    saved = gc.get_threshold()
    try:
        gc.set_threshold(gcpolicy.DEFAULT_YOUNG_THRESHOLD, 11, 12)
        assert gcpolicy.tune() is True
        gcpolicy.follow(10)  # few connections: the floor
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 11, 12)
        gcpolicy.follow(1_000)
        assert gc.get_threshold() == (gcpolicy.PER_CONNECTION * 1_000, 11, 12)
        gcpolicy.follow(1_000_000)  # capped
        assert gc.get_threshold() == (gcpolicy.MAX_THRESHOLD, 11, 12)
        gcpolicy.follow(0)
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 11, 12)
        gc.set_threshold(4321, 11, 12)  # the app takes over: the policy stops for good
        gcpolicy.follow(1_000)
        assert gc.get_threshold() == (4321, 11, 12)
        gc.set_threshold(gcpolicy.YOUNG_THRESHOLD, 11, 12)
        gcpolicy.follow(1_000)
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 11, 12)
        gc.set_threshold(gcpolicy.DEFAULT_YOUNG_THRESHOLD, 11, 12)
        assert gcpolicy.tune() is True  # a server started again in this process
        gc.disable()
        gcpolicy.follow(1_000)  # the collector disabled: not turned into a threshold
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 11, 12)
    finally:
        gc.enable()
        gc.set_threshold(*saved)
