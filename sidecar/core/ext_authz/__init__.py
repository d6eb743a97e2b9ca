"""ext_authz: may this proxied HTTP request reach the app (Envoy's question), rule by rule, check by check."""
