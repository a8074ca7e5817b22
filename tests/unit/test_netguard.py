"""The address classification and the policy, as functions: no connection is attempted anywhere."""

from __future__ import annotations

import ipaddress

import pytest

from crawler.netguard import BlockedAddressError, NetworkPolicy, classify, embedded_ipv4, parse_address
from crawler.soft404.failures import from_exception


@pytest.mark.parametrize(("address", "kind"), [
    ("169.254.169.254", "link-local"),  # cloud instance metadata
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"), ("127.0.0.2", "loopback"), ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "cgnat"), ("224.0.0.251", "multicast"), ("240.0.0.1", "reserved"),
    ("198.18.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("::1", "loopback"), ("::", "unspecified"), ("fd00::1", "private"), ("fc00::1", "private"),
    ("fe80::1", "link-local"), ("ff02::1", "multicast"), ("2001:db8::1", "reserved"),
    ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible
    ("2002:a00:1::", "private"),  # 6to4 carrying 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 carrying 169.254.169.254
])
def test_refused_kinds(address: str, kind: str) -> None:
    assert classify(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:93.184.215.14", "100.128.0.1", "172.32.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None


def test_literals_are_parsed_in_every_written_form() -> None:
    assert parse_address("[::1]") == ipaddress.ip_address("::1")
    assert parse_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert parse_address("news.example") is None
    assert embedded_ipv4(ipaddress.ip_address("::ffff:10.1.2.3")) == ipaddress.ip_address("10.1.2.3")


def test_the_policy_allows_only_what_it_names() -> None:
    narrow = NetworkPolicy.build(False, ["127.0.0.1/32"])
    narrow.check("127.0.0.1", "127.0.0.1")
    narrow.check("news.example", "93.184.215.14")
    for host, address in (("127.0.0.2", "127.0.0.2"), ("evil.example", "169.254.169.254"),
                          ("mapped", "::ffff:10.0.0.1"), ("v6", "::1")):
        with pytest.raises(BlockedAddressError):
            narrow.check(host, address)
    private = NetworkPolicy.build(True, [])  # a site's allow_private_networks: the machine and its networks
    for address in ("10.0.0.1", "127.0.0.1", "::1", "fd00::1", "100.64.0.1"):
        private.check("intranet", address)
    for address in ("169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::ffff:169.254.169.254"):
        with pytest.raises(BlockedAddressError, match="NETWORK_ALLOW"):  # not the metadata service
            private.check("intranet", address)
    NetworkPolicy.build(False, ["169.254.169.254/32"]).check("metadata", "169.254.169.254")  # only when listed
    proxied = NetworkPolicy.build(False, [], ["proxy.local"])
    proxied.check_resolved("proxy.local", "10.0.0.8")  # the resolver lets a configured proxy's name through
    with pytest.raises(BlockedAddressError):
        proxied.check("proxy.local", "10.0.0.8")  # a direct request to that host is checked like any other
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        NetworkPolicy.build(False, ["not-a-network"])


def test_a_refusal_is_logged_as_blocked_address_and_never_as_deletion() -> None:
    try:
        try:
            NetworkPolicy().check("metadata", "169.254.169.254")
        except BlockedAddressError as inner:
            raise ConnectionError("wrapped by a download handler") from inner
    except ConnectionError as exc:
        verdict = from_exception(exc)
    assert (verdict.verdict, verdict.reasons) == (None, ["blocked-address"])
