"""Identity: organizations (a tree), users, roles, login sessions and API tokens."""
