"""Sending mail: MIME building (`build`), SMTP delivery (`smtp`), SMTP error mapping (`errors`)."""
