//! The relay: committed events to JetStream, in position order.
