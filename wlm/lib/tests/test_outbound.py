"""Which destinations a tenant-chosen URL may have (wlm.lib.outbound): the address
rules, without any network (the requests themselves are tested with real servers in
wlm/notifications/tests/test_webhook_security.py)."""

import pytest

from wlm.lib import outbound

PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
PRIVATE = [  # allowed with allow_private (development, tests)
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "::ffff:127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "fd00::1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
NEVER = [  # refused whatever the setting
    "0.0.0.0",
    "::",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "::ffff:169.254.169.254",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "::7f00:1",  # IPv4-compatible (deprecated) 127.0.0.1
    "fec0::1",  # site-local (deprecated)
    "64:ff9b:1::808:808",  # local-use NAT64
    "2001::1",  # Teredo
    "2001:db8::1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert outbound.is_allowed(address)
    assert outbound.is_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_only_with_the_setting(address):
    assert not outbound.is_allowed(address)
    assert outbound.is_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", NEVER)
def test_other_non_public_addresses_never(address):
    assert not outbound.is_allowed(address)
    assert not outbound.is_allowed(address, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/", outbound.SCHEME),
        ("file:///etc/passwd", outbound.SCHEME),
        ("gopher://93.184.215.14:70/", outbound.SCHEME),
        ("http:///hook", outbound.HOST),
        ("http://93.184.215.14:99999/", outbound.HOST),
        ("http://a..b/", outbound.HOST),
        ("http://127.0.0.1/", outbound.PRIVATE),
        ("http://2130706433/", outbound.PRIVATE),  # 127.0.0.1 as one number
        ("http://0x7f.1/", outbound.PRIVATE),
        ("http://hooks.invalid/", outbound.NOT_FOUND),
    ],
)
def test_check_url_refuses(url, reason):
    with pytest.raises(outbound.Refused) as refused:
        outbound.check_url(url)
    assert refused.value.reason == reason


def test_a_url_is_read_into_its_parts():
    assert outbound.parse("HTTPS://Hooks.Example.com/a/b?c=d#frag") == outbound.Destination(
        "https", "hooks.example.com", 443, "/a/b?c=d", None
    )
    assert outbound.parse("http://[2606:4700::1111]:8080").port == 8080
    assert outbound.parse("http://[2606:4700::1111]:8080").target == "/"
    assert outbound.parse("http://bücher.example/").host == "xn--bcher-kva.example"
    # credentials in the URL become Basic authentication, not part of the host
    with_user = outbound.parse("https://user:p%40ss@93.184.215.14/hook")
    assert with_user.host == "93.184.215.14"
    assert with_user.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss


def test_an_ip_address_is_checked_without_a_lookup():
    assert outbound.resolve("93.184.215.14", 443) == [
        (outbound.socket.AF_INET, ("93.184.215.14", 443))
    ]
