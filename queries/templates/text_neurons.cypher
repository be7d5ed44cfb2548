// name: text_neurons
// description: The stored fitted neurons of one model (within the filters) with their a_max: the neurons `--verify` reads in its forward pass, to find those that fired on a text without being predicted.
// param model: STRING  the model
// param any_layer: BOOL  true: every layer
// param layers: LIST<INT>  the layers, when any_layer is false
// param any_sign: BOOL  true: both directions of a neuron (its positive and its negative graph)
// param sign: INT  1 (positive) or -1 (negative), when any_sign is false
// param min_f1: FLOAT  lowest held-out F1 (-1: no limit; a neuron without F1 counts as -1)
MATCH (n:Neuron)
WHERE n.model = $model AND n.status = 'fitted' AND n.a_max > 0 AND ($any_layer OR n.layer IN $layers) AND ($any_sign OR n.sign = $sign) AND coalesce(n.f1, -1.0) >= $min_f1
RETURN n.id AS id, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.a_max AS a_max, n.precision AS precision
