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
// note: LadybugDB variant. The prefix tokens are found first, then their other neurons; candidates travel as values
// note: (b's token lists among them) and each smaller neuron a is matched by key once: a whole-store sweep passes
// note: millions of candidates through common tokens, and matching both ends again or joining shared tokens per pair
// note: exhausted LadybugDB's buffer pool. Exact overlap is counted on the stored token lists with list_filter (its
// note: dialect has no list comprehensions). Filters read carried values: LadybugDB 0.22 misread a's properties when
// note: they were pushed into a pattern together with the rank predicate. An empty context list is counted as sharing
// note: nothing explicitly: LadybugDB 0.22's list_filter gave 1 for it when other pairs of the batch had context.
MATCH (a:Neuron)-[r:ACTIVATES_ON]->(t:Token)
WHERE r.rank < a.n_activating - ceil($min_overlap * a.n_activating - 0.000001) + 1
WITH a.id AS aid, a.n_activating AS na, a.layer AS la, a.sign AS sa, a.model AS ma, coalesce(a.f1, -1.0) AS fa, t
WHERE ($any_model OR ma = $model) AND ($any_layer OR la IN $layers) AND ($any_sign OR sa = $sign) AND fa >= $min_f1
MATCH (t)<-[:ACTIVATES_ON]-(b:Neuron)
WITH aid, na, la, b.id AS bid, b.n_activating AS nb, b.layer AS lb, b.sign AS sgb, b.model AS mb,
     coalesce(b.f1, -1.0) AS fb,
     b.neuron AS other_neuron, b.signature AS sb, b.f1 AS other_f1,
     b.activating_tokens AS tb, b.context_tokens AS cb
WHERE (na < nb OR (na = nb AND aid < bid)) AND (NOT $cross_layer OR la <> lb)
  AND ($any_model OR mb = $model) AND ($any_layer OR lb IN $layers) AND ($any_sign OR sgb = $sign) AND fb >= $min_f1
WITH aid, bid, lb, other_neuron, sb, other_f1, tb, cb, count(*) AS prefix_hits
MATCH (a:Neuron {id: aid})
WITH a, bid, lb, other_neuron, sb, other_f1, tb,
     size(list_filter(a.activating_tokens, x -> list_contains(tb, x))) AS shared_activating,
     CASE WHEN a.n_context = 0 OR size(cb) = 0 THEN 0
          ELSE size(list_filter(a.context_tokens, x -> list_contains(cb, x))) END AS shared_context
WITH a, bid, lb, other_neuron, sb, other_f1, tb, shared_activating, shared_context,
     1.0 * shared_activating / a.n_activating AS activating_overlap,
     CASE WHEN a.n_context = 0 THEN NULL ELSE 1.0 * shared_context / a.n_context END AS context_overlap
WHERE activating_overlap >= $min_overlap AND (context_overlap IS NULL OR context_overlap >= $min_overlap)
RETURN a.id AS id, a.layer AS layer, a.neuron AS neuron, bid AS other_id, lb AS other_layer,
       other_neuron, activating_overlap, context_overlap, a.signature = sb AS exact,
       shared_activating, shared_context, a.activating_tokens AS activating_tokens,
       tb AS other_activating_tokens, a.f1 AS f1, other_f1
ORDER BY activating_overlap + coalesce(context_overlap, 0.0) DESC, id, other_id
LIMIT $limit
