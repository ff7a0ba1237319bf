"""``--bind-address``: TCP forms and ``unix:/path``, and each malformed form named."""

import pytest

from drafast.app.address import parse_bind_address
from drafast.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9", ("::1", 9)),
        ("unix:/run/drafast/ops.sock", "/run/drafast/ops.sock"),
    ],
)
def test_good_addresses(text: str, expected: object) -> None:
    assert parse_bind_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8080", "expected host:port"),
        (":99999", "expected host:port"),
        ("::1:80", "must be in brackets"),
        ("unix:ops.sock", "needs an absolute path"),
        ("unix:/" + "d" * 120, "longer than 107 bytes"),
    ],
)
def test_bad_addresses_are_explained(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bind_address(text)
