"""The `git` CLI wrapper shared by discovery and promotion steps: credentials, mirrors, worktrees."""
