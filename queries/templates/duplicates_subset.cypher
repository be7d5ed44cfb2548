// name: duplicates_subset
// description: Neuron pairs where the graph with fewer activating tokens has its activating and its context token set (>= min_overlap of each) inside the other's; candidates share a token of the smaller set's prefix (prefix filtering), exact overlap confirms.
// param min_overlap: FLOAT  shared / size of the smaller graph's set, for its activating and its context set
// param cross_layer: BOOL  true: only pairs from different layers
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: context_overlap is null when the smaller graph has no context (nothing to compare); `queries.search` then
// note: confirms each pair by the correlation of the two neurons' activation samples.
// note: the prefix tokens are found first, then their other neurons; candidates travel as plain values (not
// note: whole neurons) until distinct, as a whole-store sweep passes millions through common tokens. Filters read
// note: those values, not the pattern's nodes:
// note: LadybugDB 0.22 misread a's properties when filters were pushed into a pattern with the rank predicate.
MATCH (a:Neuron)-[r:ACTIVATES_ON]->(t:Token)
WHERE r.rank < a.n_activating - ceil($min_overlap * a.n_activating - 0.000001) + 1
WITH a.id AS aid, a.n_activating AS na, a.layer AS la, a.sign AS sa, a.model AS ma, coalesce(a.f1, -1.0) AS fa, t
WHERE ($any_model OR ma = $model) AND ($any_layer OR la IN $layers) AND ($any_sign OR sa = $sign) AND fa >= $min_f1
MATCH (t)<-[:ACTIVATES_ON]-(b:Neuron)
WITH aid, na, la, b.id AS bid, b.n_activating AS nb, b.layer AS lb, b.sign AS sb, b.model AS mb, coalesce(b.f1, -1.0) AS fb
WHERE (na < nb OR (na = nb AND aid < bid)) AND (NOT $cross_layer OR la <> lb)
  AND ($any_model OR mb = $model) AND ($any_layer OR lb IN $layers) AND ($any_sign OR sb = $sign) AND fb >= $min_f1
WITH DISTINCT aid, bid
MATCH (a:Neuron {id: aid})
MATCH (b:Neuron {id: bid})
MATCH (a)-[:ACTIVATES_ON]->(t:Token)<-[:ACTIVATES_ON]-(b)
WITH a, b, count(t) AS shared_activating
OPTIONAL MATCH (a)-[:HAS_CONTEXT]->(u:Token)<-[:HAS_CONTEXT]-(b)
WITH a, b, shared_activating, count(u) AS shared_context
WITH a, b, shared_activating, shared_context,
     1.0 * shared_activating / a.n_activating AS activating_overlap,
     CASE WHEN a.n_context = 0 THEN NULL ELSE 1.0 * shared_context / a.n_context END AS context_overlap
WHERE activating_overlap >= $min_overlap AND (context_overlap IS NULL OR context_overlap >= $min_overlap)
RETURN a.id AS id, a.layer AS layer, a.neuron AS neuron, b.id AS other_id, b.layer AS other_layer,
       b.neuron AS other_neuron, activating_overlap, context_overlap, a.signature = b.signature AS exact,
       shared_activating, shared_context, a.activating_tokens AS activating_tokens,
       b.activating_tokens AS other_activating_tokens, a.f1 AS f1, b.f1 AS other_f1
ORDER BY activating_overlap + coalesce(context_overlap, 0.0) DESC, a.id, b.id
LIMIT $limit
