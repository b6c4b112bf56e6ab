"""MIME parsing: raw RFC 822 bytes in, the fields the store keeps out."""

from nylas_engine.mime.html_text import html_to_text
from nylas_engine.mime.parse import (
    ParsedAttachment,
    ParsedMessage,
    make_snippet,
    parse_date,
    parse_message,
    sanitize_filename,
    text_to_html,
)

__all__ = [
    "ParsedAttachment",
    "ParsedMessage",
    "html_to_text",
    "make_snippet",
    "parse_date",
    "parse_message",
    "sanitize_filename",
    "text_to_html",
]
