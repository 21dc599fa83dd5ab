//! Wiring: capture → decode → flow → exchange → format → output.
