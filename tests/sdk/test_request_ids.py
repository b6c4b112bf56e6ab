"""Errors from the live engine name the request they came from."""

import pytest

from nylas.client.errors import NotFoundError


def test_not_found_error_carries_the_engines_request_id(client):
    with pytest.raises(NotFoundError) as caught:
        client.threads.find("doesnotexist")
    error = caught.value
    assert error.status_code == 404
    assert error.request_id and len(error.request_id) >= 16
    assert error.request_id in str(error)
