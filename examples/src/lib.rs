//! Examples of embedding whatsapi; see `examples/`.
