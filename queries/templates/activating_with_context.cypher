// name: activating_with_context
// description: Neurons that fire on every activating token group and need every context token group.
// param tokens: LIST<MAP>  activating {text: STRING, slot: INT}
// param slots: INT  how many searched activating tokens
// param context_tokens: LIST<MAP>  context {text: STRING, slot: INT}
// param context_slots: INT  how many searched context tokens
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: neurons are grouped by id and matched again by key only for the rows returned: grouping whole neurons
// note: would carry every property (graph JSON included) through the aggregation.
UNWIND $tokens AS token
MATCH (t:Token {text: token.text})<-[a:ACTIVATES_ON]-(n:Neuron)
WHERE ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND coalesce(n.f1, -1.0) >= $min_f1
WITH n.id AS nid, n.f1 AS nf1, count(DISTINCT token.slot) AS slots, collect(DISTINCT t.text) AS matched, max(a.max_activation) AS activation
WHERE slots = $slots
UNWIND $context_tokens AS context
MATCH (n:Neuron {id: nid})-[c:HAS_CONTEXT]->(u:Token {text: context.text})
WITH nid, nf1, matched, activation, count(DISTINCT context.slot) AS context_slots,
     collect(DISTINCT u.text) AS context_matched
WHERE context_slots = $context_slots
WITH nid, nf1, matched, activation, context_matched
ORDER BY coalesce(nf1, -1.0) DESC, nid
LIMIT $limit
MATCH (n:Neuron {id: nid})
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.activating_tokens AS activating_tokens,
       n.example AS example, matched, activation, context_matched
ORDER BY coalesce(n.f1, -1.0) DESC, n.id
