"""The merchant portal's integration pages, one module per page or flow."""
