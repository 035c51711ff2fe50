"""Repository credentials: lookup by repoURL, encryption at rest, redaction."""
