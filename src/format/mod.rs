//! The format language (SPEC §5): parsed once into a [`Template`], rendered per exchange.
