// name: layers
// description: The layers that hold neurons, with how many neurons each has stored and fitted.
// param any_model: BOOL  true: every model
// param model: STRING  the model, when any_model is false
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
MATCH (n:Neuron)
WHERE ($any_model OR n.model = $model) AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
RETURN n.model AS model, n.layer AS layer, count(n) AS neurons,
       sum(CASE WHEN n.status = 'fitted' THEN 1 ELSE 0 END) AS fitted
ORDER BY model, layer
