// name: activating_with_context_token
// description: Neurons that fire on one token and need one other token in their context, each entered by its normalised key (or its one exact text).
// param key: STRING  the activating token's normalised key
// param context_key: STRING  the context token's normalised key
// param exact: BOOL  true: only the stored texts equal to `text` and `context_text`
// param text: STRING  the raw activating token, when exact is true
// param context_text: STRING  the raw context token, when exact is true
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: returns the ranked neuron ids with what matched (per matched text, aligned: its root GraphNode id and its
// note: evidence, -1 predictions where none was measured); `neuron_rows` then fetches the columns of those rows only.
// note: ranked by evidence, add-one smoothed ((1 + hits) / (2 + predictions)), then held-out F1.
// note: the context side goes first: on LadybugDB that measured twice as fast as expanding each activating neuron's
// note: whole context.
MATCH (ck:TokenKey {key: $context_key})<-[:KEYED_AS]-(u:Token)<-[c:HAS_CONTEXT]-(n:Neuron)
WHERE NOT $exact OR u.text = $context_text
WITH n, collect(DISTINCT u.text) AS context_matched
MATCH (n)-[a:ACTIVATES_ON]->(t:Token)-[:KEYED_AS]->(k:TokenKey {key: $key})
WHERE (NOT $exact OR t.text = $text) AND ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
WITH n.id AS id, n.f1 AS f1, collect(t.text) AS matched, collect(a.root) AS roots,
     collect(coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0)) AS token_hits,
     collect(CASE WHEN a.test_predictions IS NULL THEN -1 ELSE a.test_predictions + coalesce(a.random_predictions, 0) END) AS token_predictions, max(a.max_activation) AS activation,
     sum(coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0)) AS hits, sum(coalesce(a.test_predictions, 0) + coalesce(a.random_predictions, 0)) AS predictions,
     context_matched
WITH id, f1, matched, roots, token_hits, token_predictions, activation, hits, predictions, context_matched, (1.0 + hits) / (2.0 + predictions) AS support
RETURN id, matched, roots, token_hits, token_predictions, activation, hits, predictions, context_matched
ORDER BY support DESC, coalesce(f1, -1.0) DESC, id
LIMIT $limit
