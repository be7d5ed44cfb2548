// name: activating_with_context
// description: Neurons that fire on every searched activating token and need every searched context token.
// param tokens: LIST<MAP>  activating {text: STRING, slot: INT}
// param slots: INT  how many searched activating tokens
// param context_tokens: LIST<MAP>  context {text: STRING, slot: INT}
// param context_slots: INT  how many searched context tokens
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
// note: ranked by evidence: hits / predictions of the matched tokens, add-one smoothed
// note: ((1 + hits) / (2 + predictions)) so that 1 of 1 does not outrank 45 of 50; then held-out F1.
UNWIND $tokens AS token
MATCH (t:Token {text: token.text})<-[a:ACTIVATES_ON]-(n:Neuron)
WHERE ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
WITH n.id AS id, n.f1 AS f1, count(DISTINCT token.slot) AS slots, collect(t.text) AS matched, collect(a.root) AS roots,
     collect(coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0)) AS token_hits,
     collect(CASE WHEN a.test_predictions IS NULL THEN -1 ELSE a.test_predictions + coalesce(a.random_predictions, 0) END) AS token_predictions,
     max(a.max_activation) AS activation, sum(coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0)) AS hits,
     sum(coalesce(a.test_predictions, 0) + coalesce(a.random_predictions, 0)) AS predictions
WHERE slots = $slots
UNWIND $context_tokens AS context
MATCH (n:Neuron {id: id})-[c:HAS_CONTEXT]->(u:Token {text: context.text})
WITH id, f1, matched, roots, token_hits, token_predictions, activation, hits, predictions, count(DISTINCT context.slot) AS context_slots,
     collect(DISTINCT u.text) AS context_matched
WHERE context_slots = $context_slots
WITH id, f1, matched, roots, token_hits, token_predictions, activation, hits, predictions, context_matched, (1.0 + hits) / (2.0 + predictions) AS support
RETURN id, matched, roots, token_hits, token_predictions, activation, hits, predictions, context_matched
ORDER BY support DESC, coalesce(f1, -1.0) DESC, id
LIMIT $limit
