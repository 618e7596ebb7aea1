"""Catalog (信息资源目录): resources with national catalog metadata, items as Frictionless
Table Schema with our extensions, versioned edits, and the lake versions of each resource."""
