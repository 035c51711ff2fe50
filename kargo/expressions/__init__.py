"""The `${{ }}` expression language (expr-lang syntax) and Kargo's expression functions.

- `lang`: `compile(source) -> Program`, `Program.run(env)`; the language itself (with `parser`,
  `ast_nodes`, `values`, `builtins`, `gotime`, `objects`, `errors` behind it).
- `templates`: `evaluate_template(value, env)` for `${{ }}` inside configuration values, with
  Kargo's result-typing rules.
- `functions`: Kargo's functions (`commitFrom`, `imageFrom`, `secret`, `semverParse`...) bound
  to data through the `PromotionData` protocol, and `build_promotion_env`.
"""
