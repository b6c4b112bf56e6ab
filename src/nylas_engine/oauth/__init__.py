"""OAuth 2.0 mail accounts (Gmail, Microsoft 365): provider clients, access tokens, SASL.

`providers` holds the operator's OAuth clients and the providers' endpoints, `tokens` turns
refresh tokens into access tokens (cached until shortly before they expire), `sasl` logs in
to IMAP and SMTP with XOAUTH2 or OAUTHBEARER (RFC 7628), and `login` is the browser side:
the authorization request with PKCE and the code exchange.
"""
