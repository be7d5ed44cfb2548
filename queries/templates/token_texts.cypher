// name: token_texts
// description: The stored token texts whose normalised form (leading space, title case) is one of the keys.
// param keys: LIST<STRING>  normalised tokens (n2g.model.token_keys.normalise_token)
// note: a list filter, not UNWIND into a key lookup: LadybugDB 0.22 plans the latter as a join (18 ms against 1.5 ms).
MATCH (k:TokenKey)<-[:KEYED_AS]-(t:Token)
WHERE k.key IN $keys
RETURN k.key AS key, t.text AS text
