"""The SASL messages that carry OAuth 2.0 tokens (oauth/sasl.py), as the specifications
write them: Google's XOAUTH2 and RFC 7628's OAUTHBEARER."""

from __future__ import annotations

from nylas_engine.oauth import sasl


def test_xoauth2_as_google_documents_it() -> None:
    text = sasl.xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    assert text == (
        "user=someuser@example.com\x01auth=Bearer "
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    )


def test_oauthbearer_as_rfc_7628_writes_it() -> None:
    # RFC 7628 §4.1, without the host and port (optional), and with the user escaped as
    # RFC 5801 asks (`,` -> `=2C`, `=` -> `=3D`).
    assert sasl.oauthbearer("user@example.com", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg") == (
        "n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    )
    assert sasl.oauthbearer("a,b=c@example.com", "t").startswith("n,a=a=2Cb=3Dc@example.com,")


def test_the_mechanism_follows_the_server() -> None:
    assert sasl.choose(["PLAIN", "XOAUTH2", "OAUTHBEARER"]) == "XOAUTH2"
    assert sasl.choose(["PLAIN", "oauthbearer"]) == "OAUTHBEARER"
    assert sasl.choose([]) == "XOAUTH2"  # a server that lists none: what Gmail and M365 take
