//! SQLite store for whatsapi (see issue: whatsapi-store-sqlite).
