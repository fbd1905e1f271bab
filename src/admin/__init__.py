"""Piccolo Admin for tenant and agency staff, scoped to their tenants (DESIGN, wall 2)."""
