// name: context_tokens
// description: Neurons whose graph needs every one of several searched tokens in its context.
// param tokens: LIST<MAP>  {text: STRING, slot: INT}: a stored token text and which searched token it stands for
// param slots: INT  how many searched tokens (each must be matched)
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: returns the ranked neuron ids with what matched; `neuron_rows` then fetches the columns of those rows only.
UNWIND $tokens AS token
MATCH (t:Token {text: token.text})<-[c:HAS_CONTEXT]-(n:Neuron)
WHERE ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
WITH n.id AS id, n.f1 AS f1, count(DISTINCT token.slot) AS slots, collect(DISTINCT t.text) AS matched, max(c.importance) AS importance, min(c.depth) AS depth
WHERE slots = $slots
RETURN id, matched, importance, depth
ORDER BY coalesce(f1, -1.0) DESC, id
LIMIT $limit
