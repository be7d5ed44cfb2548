// name: context_token
// description: Neurons whose graph needs one token in its context: the stored texts of its normalised key, or the one exact text.
// param key: STRING  the token's normalised key (n2g.model.token_keys.normalise_token)
// param exact: BOOL  true: only the stored text equal to `text`
// param text: STRING  the raw token text, when exact is true
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: returns the ranked neuron ids with what matched; `neuron_rows` then fetches the columns of those rows only,
// note: so the ranking never reads the larger properties of every neuron a common token has.
MATCH (k:TokenKey {key: $key})<-[:KEYED_AS]-(t:Token)<-[c:HAS_CONTEXT]-(n:Neuron)
WHERE (NOT $exact OR t.text = $text) AND ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
WITH n.id AS id, n.f1 AS f1, collect(DISTINCT t.text) AS matched, max(c.importance) AS importance, min(c.depth) AS depth
RETURN id, matched, importance, depth
ORDER BY coalesce(f1, -1.0) DESC, id
LIMIT $limit
