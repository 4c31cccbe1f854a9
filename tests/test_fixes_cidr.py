"""The input guard for ranges: strict parsing, normalisation CIPP accepts, refusals in one sentence."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixes.cidr import RangeError, parse_address, parse_range, parse_ranges
from posture.ranges import CIPP_RANGE_RE, covers_every_address, unmapped

ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)


@st.composite
def networks(draw) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(st.one_of(ipv4, ipv6))
    prefix = draw(st.integers(min_value=1, max_value=address.max_prefixlen))
    return ipaddress.ip_network((address, prefix), strict=False)


def _written_forms(network) -> list[str]:
    """The ways a person writes the same network: compressed, exploded, bare address for a host."""
    forms = [str(network), f"{network.network_address.exploded}/{network.prefixlen}", f"  {network}  "]
    if network.prefixlen == network.max_prefixlen:
        forms.append(str(network.network_address))
    return forms


@given(networks())
def test_every_network_normalises_to_a_form_cipp_and_ipaddress_accept(network):
    if covers_every_address([network]):
        return  # every IPv4 address (the IPv4-mapped block or a range holding it): refused
    expected = unmapped(network)  # an IPv4-mapped range is written as the IPv4 range it stands for
    for written in _written_forms(network):
        item = parse_range(written)
        assert CIPP_RANGE_RE.match(item.text), item.text
        assert "::" not in item.text
        assert ipaddress.ip_network(item.text) == expected  # strict: no host bits, same network
        assert item.network == expected


@given(st.one_of(ipv4, ipv6), st.data())
def test_host_bits_are_refused_naming_the_network_and_the_host(address, data):
    prefix = data.draw(st.integers(min_value=1, max_value=address.max_prefixlen - 1))
    network = ipaddress.ip_network((address, prefix), strict=False)
    if network.network_address == address or covers_every_address([network]):
        return  # no host bits to speak of, or refused as every IPv4 address
    with pytest.raises(RangeError, match="has host bits set") as refused:
        parse_range(f"{address}/{prefix}")
    message = str(refused.value)
    expected = unmapped(network)
    assert parse_range(message.split("write ")[1].split(" for the whole")[0]).network == expected
    assert len(message.splitlines()) == 1
    lenient = parse_range(f"{address}/{prefix}", host_bits="network")
    assert lenient.network == expected and "host bits" in lenient.note


@given(st.one_of(ipv4, ipv6))
def test_every_slash_zero_is_refused(address):
    with pytest.raises(RangeError, match="allows every address"):
        parse_range(f"{address}/0")


@given(st.text(max_size=40))
def test_arbitrary_text_is_either_a_cipp_range_or_one_clear_refusal(text):
    try:
        item = parse_range(text)
    except RangeError as error:
        assert len(str(error).splitlines()) == 1
    else:
        assert CIPP_RANGE_RE.match(item.text)
        ipaddress.ip_network(item.text)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0.0.0.0/0", "'0.0.0.0/0' allows every address"),
        ("::/0", "'::/0' allows every address"),
        ("Any", "'Any' is not a range"),
        ("", "an empty range"),
        ("203.0.113.0/33", "an IPv4 prefix length is at most /32"),
        ("203.0.113.0/-1", "the prefix length after '/' must be a number from 1 to 32"),
        ("203.0.113.0/ 24", "is not a valid IP address or CIDR range"),
        ("010.1.2.3/32", "'010.1.2.3/32' is not a valid IP address or CIDR range"),
        ("fe80::1%eth0", "is not a valid IP address or CIDR range"),
        (
            "203.0.113.5/24",
            "write 203.0.113.0/24 for the whole network or 203.0.113.5/32 for the single address",
        ),
        ("2001:db8::1/32", "write 2001:db8:0:0:0:0:0:0/32 for the whole network"),
        ("203.0.113.0-203.0.113.9", "is not a valid IP address or CIDR range"),
    ],
)
def test_refusals_are_clear_sentences(written, message):
    with pytest.raises(RangeError) as refused:
        parse_range(written)
    assert message in str(refused.value)


def test_examples_of_normalisation():
    assert parse_range("2001:db8::/32").text == "2001:db8:0:0:0:0:0:0/32"
    assert parse_range("2001:0DB8:0000::/48").text == "2001:db8:0:0:0:0:0:0/48"
    assert parse_range("203.0.113.7").text == "203.0.113.7/32"
    assert parse_range("::ffff:203.0.113.7").text == "203.0.113.7/32"  # IPv4-mapped: its IPv4 form


def test_duplicates_are_merged_and_broad_ranges_warned():
    ranges, warnings, notes = parse_ranges(
        ["20.0.0.0/8", "2001:db8::/32", "20.0.0.0/8", " 20.0.0.0/8"], "cipp"
    )
    assert [r.text for r in ranges] == ["20.0.0.0/8", "2001:db8:0:0:0:0:0:0/32"]
    assert warnings == [
        "20.0.0.0/8: broader than /16 (16,777,216 addresses)",
        "2001:db8:0:0:0:0:0:0/32: broader than /48 (79,228,162,514,264,337,593,543,950,336 addresses)",
    ]
    assert notes == ["20.0.0.0/8 is the same range as 20.0.0.0/8: listed once"] * 2
    _, trusted_warnings, _ = parse_ranges(["10.1.2.3"], "trusted")
    assert trusted_warnings == [
        "10.1.2.3/32: not a public address (private): Entra sees public egress IPs only, so it never matches"
    ]
    with pytest.raises(RangeError, match="no range given"):
        parse_ranges([], "cipp")


def test_egress_ip_is_one_address():
    assert str(parse_address(" 66.171.40.17 ")) == "66.171.40.17"
    with pytest.raises(RangeError, match="is a range"):
        parse_address("66.171.40.16/29")
    with pytest.raises(RangeError, match="is not a valid IP address"):
        parse_address("my office")


@pytest.mark.parametrize("written", ["::ffff:0:0/96", "0:0:0:0:0:ffff:0:0/96", "::/80"])
def test_the_ipv4_mapped_block_is_refused_as_every_ipv4_address(written):
    with pytest.raises(RangeError, match="allows every IPv4 address"):
        parse_range(written)


def test_an_ipv4_mapped_range_is_written_as_its_ipv4_form_with_a_note():
    ranges, warnings, notes = parse_ranges(["::ffff:203.0.113.0/120", "203.0.113.0/24"], "cipp")
    assert [r.text for r in ranges] == ["203.0.113.0/24"]  # the same range, listed once
    assert notes[0] == (
        "::ffff:203.0.113.0/120 is an IPv4-mapped IPv6 range: it is written as "
        "203.0.113.0/24, the IPv4 range it means"
    )
    _, trusted_warnings, _ = parse_ranges(["::ffff:10.1.0.0/112"], "trusted")
    assert trusted_warnings == [
        "10.1.0.0/16: not a public address (private): Entra sees public egress IPs only, so it never matches"
    ]


def test_egress_coverage_treats_ipv4_mapped_addresses_and_ranges_as_ipv4():
    from posture.ranges import address_covered

    mapped_range, ipv4_range = (
        ipaddress.ip_network("::ffff:66.171.40.16/125"),
        ipaddress.ip_network("66.171.40.16/29"),
    )
    assert address_covered(parse_address("66.171.40.17"), [mapped_range])
    assert address_covered(parse_address("::ffff:66.171.40.17"), [ipv4_range])
    assert not address_covered(parse_address("66.171.40.30"), [mapped_range])
    assert not address_covered(parse_address("2600:1700::1"), [ipv4_range, None])


def test_a_range_copied_from_a_page_with_invisible_word_joiners_is_read_as_shown():
    from fixes.cidr import parse_address, parse_range

    assert parse_range("2001:\u2060db8:\u20600:0:0:0:0:0/32").text == "2001:db8:0:0:0:0:0:0/32"
    assert str(parse_address("\u2060203.0.113.7\u200b")) == "203.0.113.7"
