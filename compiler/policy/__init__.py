"""Risk policies: selection, required approvals, CEL compilation and evaluation contexts."""
