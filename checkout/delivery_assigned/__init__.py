"""05 dispatch: a courier is assigned."""
