//! The store conformance suite: public async functions every `Store` implementation runs from its tests.
