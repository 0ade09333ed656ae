"""Who may call what: principals (kind, binding, scopes) behind API tokens, and the decision every transport asks."""
