"""gunicorn's access line: the query string without what a search box or a credential in the address holds."""

from __future__ import annotations

import pytest

from tpfgo_site.gunicorn_logging import logged_query


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("", None),
        ("consumerId=alice&page=2", "consumerId=alice&page=2"),  # ids and filters stay as sent
        ("q=Zephyrine+Quackenbush", "q=-"),
        ("active__exact=1&q=Zed%20Q&o=2", "active__exact=1&q=-&o=2"),
        ("TOKEN=abc123&x=1", "TOKEN=-&x=1"),
        ("q=", "q=-"),
    ],
)
def test_the_access_line_leaves_out_a_search_and_credentials(query, logged):
    assert logged_query(query) == logged
