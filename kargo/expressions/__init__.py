"""The `${{ }}` expression language (expr-lang syntax) and Kargo's expression functions."""
