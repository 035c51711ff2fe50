"""Discovery of artifact versions: container registries, git repositories, Helm chart repositories."""
