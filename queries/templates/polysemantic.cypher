// name: polysemantic
// description: Polysemantic neurons: those whose graph falls into at least min_parts parts sharing no token (activating or context), most parts first, then the most evenly balanced (parts computed at ingest: `ingest.graph_facts.graph_parts`).
// param min_parts: INT  fewest parts (2 or more)
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows to return
MATCH (n:Neuron)
WHERE n.n_parts >= $min_parts AND ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.n_parts AS n_parts,
       n.part_balance AS balance, n.parts AS parts
ORDER BY n.n_parts DESC, coalesce(n.part_balance, 0.0) DESC, coalesce(n.f1, -1.0) DESC, n.id
LIMIT $limit
