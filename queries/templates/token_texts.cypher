// name: token_texts
// description: The stored token texts whose normalised form (leading space, title case) is one of the keys.
// param keys: LIST<STRING>  normalised tokens (n2g.token_keys.normalise_token)
UNWIND $keys AS key
MATCH (k:TokenKey {key: key})<-[:KEYED_AS]-(t:Token)
RETURN key, t.text AS text
