// name: duplicates_similar
// description: Neuron pairs whose activating and context token sets overlap by >= min_overlap of the larger set; candidates share a MinHash band and have set sizes that allow it, exact overlap confirms.
// param min_overlap: FLOAT  shared / size of the larger set, on both the activating and the context sets
// param cross_layer: BOOL  true: only pairs from different layers
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
// note: context_overlap is null when neither graph has context (nothing to compare: such a pair matches on its
// note: activating tokens alone and ranks below pairs whose contexts agree); `queries.search` then confirms each pair
// note: by the correlation of the two neurons' activation samples.
MATCH (a:Neuron)-[:IN_BAND]->(:Band)<-[:IN_BAND]-(b:Neuron)
WHERE a.id < b.id AND (NOT $cross_layer OR a.layer <> b.layer)
  AND a.n_activating >= $min_overlap * b.n_activating AND b.n_activating >= $min_overlap * a.n_activating
  AND a.n_context >= $min_overlap * b.n_context AND b.n_context >= $min_overlap * a.n_context
  AND ($any_model OR a.model = $model) AND ($any_layer OR a.layer IN $layers) AND ($any_sign OR a.sign = $sign) AND coalesce(a.f1, -1.0) >= $min_f1
  AND ($any_model OR b.model = $model) AND ($any_layer OR b.layer IN $layers) AND ($any_sign OR b.sign = $sign) AND coalesce(b.f1, -1.0) >= $min_f1
WITH DISTINCT a, b
MATCH (a)-[:ACTIVATES_ON]->(t:Token)<-[:ACTIVATES_ON]-(b)
WITH a, b, count(t) AS shared_activating
OPTIONAL MATCH (a)-[:HAS_CONTEXT]->(u:Token)<-[:HAS_CONTEXT]-(b)
WITH a, b, shared_activating, count(u) AS shared_context
WITH a, b, shared_activating, shared_context,
     1.0 * shared_activating / CASE WHEN a.n_activating > b.n_activating THEN a.n_activating ELSE b.n_activating END
       AS activating_overlap,
     CASE WHEN a.n_context = 0 AND b.n_context = 0 THEN NULL
          ELSE 1.0 * shared_context / CASE WHEN a.n_context > b.n_context THEN a.n_context ELSE b.n_context END
     END AS context_overlap
WHERE activating_overlap >= $min_overlap AND (context_overlap IS NULL OR context_overlap >= $min_overlap)
RETURN a.id AS id, a.layer AS layer, a.neuron AS neuron, b.id AS other_id, b.layer AS other_layer,
       b.neuron AS other_neuron, activating_overlap, context_overlap, a.signature = b.signature AS exact,
       shared_activating, shared_context, a.activating_tokens AS activating_tokens,
       b.activating_tokens AS other_activating_tokens, a.f1 AS f1, b.f1 AS other_f1
ORDER BY activating_overlap + coalesce(context_overlap, 0.0) DESC, a.id, b.id
LIMIT $limit
