// name: similar_to
// description: The neurons most similar to one neuron: sharing an activating token, ranked by Jaccard similarity of the activating and context token sets together.
// param id: STRING  the neuron's id (model:layer:neuron)
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
MATCH (x:Neuron {id: $id})-[:ACTIVATES_ON]->(t:Token)<-[:ACTIVATES_ON]-(n:Neuron)
WHERE n.id <> x.id AND ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
WITH x, n, count(t) AS shared_activating
OPTIONAL MATCH (x)-[:HAS_CONTEXT]->(u:Token)<-[:HAS_CONTEXT]-(n)
WITH x, n, shared_activating, count(u) AS shared_context
WITH n, shared_activating, shared_context,
     1.0 * (shared_activating + shared_context)
       / (x.n_activating + x.n_context + n.n_activating + n.n_context - shared_activating - shared_context) AS similarity
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.activating_tokens AS activating_tokens,
       n.example AS example, similarity, shared_activating, shared_context
ORDER BY similarity DESC, n.id
LIMIT $limit
