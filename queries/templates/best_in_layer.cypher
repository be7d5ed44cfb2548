// name: best_in_layer
// description: The fitted neurons of one layer with the best held-out F1.
// param layer: INT  the layer
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
// param limit: INT  rows per layer
MATCH (n:Neuron)
WHERE n.layer = $layer AND n.status = 'fitted' AND ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.activating_tokens AS activating_tokens,
       n.example AS example
ORDER BY coalesce(n.f1, -1.0) DESC, n.id
LIMIT $limit
