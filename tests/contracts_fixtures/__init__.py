"""Broken (and a few sound) compositions built from the test lane, for the handoff contract checks."""
