"""Rule sets shipped with zhili (package data, listed by `rules.builtin_rule_sets`)."""
