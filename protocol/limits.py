"""Every limit of the protocol's messages, in one place: the models, the tray and the docs use these."""

from __future__ import annotations

# --- versions ------------------------------------------------------------------------------
# The device protocol's version: agents send it in the `Wxguard-Protocol` header, the server
# answers its own in every heartbeat. The server accepts every version from OLDEST_PROTOCOL on
# and tells older agents to upgrade (HeartbeatResponse.upgrade).
PROTOCOL_VERSION = 1
OLDEST_PROTOCOL = 1
PROTOCOL_HEADER = "Wxguard-Protocol"

# --- incident reports ----------------------------------------------------------------------
MAX_SUMMARY = 200
MAX_DESCRIPTION = 10_000
MAX_SHORT = 200  # affected account, reporter
# How to reach the reporter (protocol/contact.py). Email: RFC 5321's 254-character path limit.
# Phone: E.164 numbers have at most 15 digits; 5 more allow an extension; 3 an internal line.
MAX_EMAIL = 254
MAX_PHONE = 32
MIN_PHONE_DIGITS = 3
MAX_PHONE_DIGITS = 20
MAX_WECHAT_ID = 64
MAX_CONTACT_ADDRESS = MAX_EMAIL  # the longest of the three
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENT_NAME = 200

# --- password age --------------------------------------------------------------------------
MAX_PASSWORD_ACCOUNTS = 32
MAX_DEFERRALS = 10_000

# --- findings ------------------------------------------------------------------------------
MAX_BATCH_FINDINGS = 1000
MAX_EVIDENCE = 50
MAX_REFERENCES = 20
MAX_TITLE = 500
MAX_TEXT = 4000  # remediation, each language of a bilingual text
MAX_STEPS = 30  # remediation steps per language
MAX_PATH = 4096
MAX_MATCHED = 1000
MAX_DETAIL = 2000
MAX_PACKAGE = 255

# --- devices -------------------------------------------------------------------------------
MAX_HOSTNAME = 255
MAX_OS = 200
MAX_AGENT_VERSION = 64
MAX_USER = 128
MAX_USERS_SEEN = 64
MAX_TOKEN = 256
MAX_MACHINE_ID = 128
MAX_SERIAL_NUMBER = 64  # SMBIOS strings are short; Mac serials are 10-12 characters

# --- times ---------------------------------------------------------------------------------
# The server's default window for times a device reports (server.config: max_past_days,
# max_future_minutes); the agent refuses what falls outside before it says "queued".
MAX_PAST_DAYS = 3650
MAX_FUTURE_MINUTES = 60
