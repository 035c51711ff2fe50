"""The `${{ }}` expression language (expr-lang syntax) and Kargo's expression functions.

- `lang`: `compile(source) -> Program`, `Program.run(env)`. Behind it: `parser` (tokens and a
  Pratt parser into `ast_nodes`), `runtime` (member access, `in`, regexes, calls), `values`
  (typing, arithmetic, Go JSON), `builtins`/`numeric`/`predicates` (expr's functions, sharing
  `support`), `gotime`/`golayout` (Go time values and layouts), `objects` (the only non-JSON
  values, with whitelisted members) and `errors` (located messages).
- `templates`: `evaluate_template(value, env)` for `${{ }}` inside configuration values, with
  Kargo's result-typing rules.
- `functions`: Kargo's functions (`commitFrom`, `imageFrom`, `secret`, `semverParse`...) bound
  to data through the `PromotionData` protocol, `status_functions`, `build_promotion_env`;
  `criteria` for Warehouse `freightCreationCriteria`; `artifacts` for the values they return.
"""
