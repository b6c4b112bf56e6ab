"""Fixtures for the IMAP sync tests: a real Dovecot (see dovecot.py)."""

from dovecot import dovecot, mailbox  # noqa: F401  (re-exported as fixtures)
