//! An emulator of Meta's WhatsApp Cloud API for tests and `--sandbox` mode.
