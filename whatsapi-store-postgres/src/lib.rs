//! PostgreSQL store for whatsapi, shared by many server replicas.
