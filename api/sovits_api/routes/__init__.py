"""Thin HTTP adapters: parse, call the store or a pure function, translate nothing themselves."""
